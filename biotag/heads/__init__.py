"""Heads: the modules that read a tagged model's states (regression, classification), what they read (the readout),
and how they start and refit in closed form (linear probes)."""

from biotag.heads.modules import ClassificationHead, RegressionHead, build_head
from biotag.heads.readout import READOUTS, Readout

__all__ = ["RegressionHead", "ClassificationHead", "build_head", "Readout", "READOUTS"]
