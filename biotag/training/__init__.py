"""The three Tag-LLM stages as data, and the one loop that trains them."""

from biotag.training.loop import Example, History, evaluate_loss, get_lr, train_stage
from biotag.training.pretrain import pretrain_domain_tag
from biotag.training.stages import LOSSES, StageSpec, stage1, stage2, stage3

__all__ = ["StageSpec", "stage1", "stage2", "stage3", "LOSSES", "Example", "History", "train_stage", "get_lr",
           "evaluate_loss", "pretrain_domain_tag"]
