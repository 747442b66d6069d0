"""Training the tags through a closed-form head (``head_fit="refit"``).

With the paper's joint training (``head_fit="joint"``) the head trains by Adam beside the tags. Started at the
linear probe (LP-FT), that head already fits its training rows (a ridge fit of thousands of features on hundreds
of rows), so the tags' gradient through it asks them to fit rows the head has memorized, and the head's own steps
knock it off its fit. Here the head is never trained by gradient:

- after every epoch the tags' readouts of every training row are read afresh and the head is refitted in closed
  form, as it started (:func:`~biotag.heads.probe.probe_init`, strength chosen by cross-validation on the training
  rows);
- a batch's loss is the squared error of its rows under the ridge fit of every *other* training row
  (:class:`HeldOutRidge`), so a tag is scored as the probe would see rows it has not fit.
"""

from __future__ import annotations

import numpy as np
import torch

from biotag.heads.modules import ClassificationHead, RegressionHead
from biotag.heads.probe import PROBE_STRENGTHS

__all__ = ["HeldOutRidge", "ridge_targets", "leave_one_out_strength"]


def ridge_targets(head: RegressionHead | ClassificationHead, y: torch.Tensor) -> torch.Tensor:
    """What the ridge fit predicts, float64 (N, k): standardized targets, or a classifier's one-hot classes."""
    if isinstance(head, RegressionHead):
        return (y.reshape(len(y), head.n_outputs).to(torch.float64).cpu() - head.y_mean.cpu()) / head.y_std.cpu()
    return torch.nn.functional.one_hot(y.long().reshape(-1).cpu(), head.n_classes).to(torch.float64)


@torch.no_grad()
def leave_one_out_strength(Z: torch.Tensor, T: torch.Tensor, strengths: tuple[float, ...]) -> float:
    """The ridge strength (unpenalized intercept) of ``T`` (N, k) on ``Z`` (N, d) with the lowest exact
    leave-one-out squared error: with the columns centred, ``Zc = U S V'``, each row's fitted value and leverage at
    strength ``a`` are ``U diag(s^2 / (s^2 + a)) U'`` applied to it, and its left-out residual is its residual over
    ``1 - leverage``. One SVD for every strength."""
    Z, T = Z.to(torch.float64), T.to(torch.float64)
    Zc, Tc = Z - Z.mean(0), T - T.mean(0)
    U, s, _ = torch.linalg.svd(Zc, full_matrices=False)
    UT, s2 = U.T @ Tc, s**2
    scores = []
    for a in strengths:
        shrink = s2 / (s2 + a)
        fitted = U @ (shrink[:, None] * UT)
        leverage = 1.0 / len(Z) + (U**2) @ shrink
        residual = (Tc - fitted) / (1.0 - leverage).clamp(min=1e-12)[:, None]
        scores.append((float((residual**2).mean()), a))
    return min(scores)[1]


class HeldOutRidge:
    """The ridge fit a tag trains against, with each batch's own rows left out of it.

    :meth:`refit` takes every training row's readouts (N, d): on the head's standardization ``Z`` (with a column of
    ones for an unpenalized intercept) it keeps ``A = Z'Z + aI`` inverted and ``c = Z'T``, the strength ``a`` the one
    with the lowest leave-one-out squared error on the training rows (exact, from one SVD): validation rows choose
    nothing. :meth:`loss` scores a batch's live readouts under the fit of the other
    N - B rows, ``(A - Zb'Zb)^-1 (c - Zb'Tb)``, one B x B solve away (Woodbury). ``Zb`` are the batch's readouts
    at the refit, so that fit is exact; the gradient reaches the tags through the live readouts alone.
    """

    def __init__(self, head: RegressionHead | ClassificationHead, y_train: torch.Tensor,
                 strengths: tuple[float, ...] = PROBE_STRENGTHS):
        self.head, self.strengths = head, strengths
        self.T = ridge_targets(head, y_train)
        self.Z = self.A_inv = self.c = None
        self.strength: float | None = None

    @torch.no_grad()
    def _design(self, h: torch.Tensor) -> torch.Tensor:
        device = self.head.scaler.h_mean.device
        z = self.head.scaler(h.to(device, torch.float64)).cpu()
        return torch.cat([z, torch.ones(len(z), 1, dtype=torch.float64)], dim=1)

    def _penalty(self, strength: float, width: int) -> torch.Tensor:
        diagonal = torch.full((width,), float(strength), dtype=torch.float64)
        diagonal[-1] = 0.0  # the intercept
        return torch.diag(diagonal)

    @torch.no_grad()
    def refit(self, h_train: torch.Tensor) -> float:
        """Fit on every training row's readouts, at the strength of the lowest leave-one-out error. Returns it."""
        Z = self._design(h_train)
        self.strength = leave_one_out_strength(Z[:, :-1], self.T, self.strengths)
        gram = Z.T @ Z
        self.Z, self.c = Z, Z.T @ self.T
        self.A_inv = torch.linalg.inv(gram + self._penalty(self.strength, gram.shape[0]))
        return self.strength

    @torch.no_grad()
    def held_out_weights(self, idx: np.ndarray) -> torch.Tensor:
        """The ridge weights ((d + 1) x k) fitted on every training row but ``idx``."""
        U, T = self.Z[idx], self.T[idx]
        P = U @ self.A_inv                      # B x (d + 1)
        M = torch.eye(len(idx), dtype=torch.float64) - P @ U.T
        r = self.c - U.T @ T
        return self.A_inv @ r + P.T @ torch.linalg.solve(M, P @ r)

    def loss(self, idx: np.ndarray, h: torch.Tensor, leave_out: np.ndarray | None = None) -> torch.Tensor:
        """The mean squared error of rows ``idx``, whose live readouts are ``h`` (B, d), under the fit of every row
        but ``leave_out`` (default: ``idx``; among data-parallel processes, the whole batch ``idx`` is part of)."""
        if self.A_inv is None:
            raise RuntimeError("HeldOutRidge.loss before refit")
        W = self.held_out_weights(np.asarray(idx if leave_out is None else leave_out)).to(h.device, h.dtype)
        z = self.head.scaler(h)
        prediction = z @ W[:-1] + W[-1]
        return ((prediction - self.T[idx].to(h.device, h.dtype)) ** 2).mean()
