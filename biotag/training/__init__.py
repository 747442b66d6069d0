"""The three Tag-LLM stages as data, and the one loop that trains them."""

from biotag.heads.probe import initialize_head, probe_init
from biotag.training.loop import Example, evaluate_loss, train_stage
from biotag.training.optimize import History, epoch_batches, optimize
from biotag.training.pretrain import pretrain_domain_tag, pretrain_library, stage1_corpus
from biotag.training.schedule import Schedule, get_lr
from biotag.training.stages import LOSSES, StageSpec, stage1, stage2, stage3

__all__ = ["Schedule", "StageSpec", "stage1", "stage2", "stage3", "LOSSES", "Example", "History", "train_stage",
           "optimize", "epoch_batches", "get_lr", "evaluate_loss", "initialize_head", "probe_init",
           "pretrain_domain_tag", "pretrain_library", "stage1_corpus"]
