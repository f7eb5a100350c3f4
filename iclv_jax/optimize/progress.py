"""Per-iteration bookkeeping of the optimisers: progress line, history, checkpoint."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .. import checkpoint as checkpoints

__all__ = ["Tracker"]


@dataclass
class Tracker:
    """Per-iteration bookkeeping: progress line, history and atomic checkpoint.

    ``blocks`` labels each free parameter (``structural``, ``measurement``,
    ``choice_lv``, ``choice``); the history keeps the mean |gradient| per block.
    """

    blocks: tuple[str, ...]
    scales: np.ndarray
    fingerprint: dict = field(default_factory=dict)  # see iclv_jax.checkpoint.fingerprint
    checkpoint: str | None = None
    verbose: bool = False
    iteration: int = 0
    history: list = field(default_factory=list)
    optimizer_state: dict = field(default_factory=dict)
    stage: str = "simultaneous"
    _last_u: np.ndarray | None = None
    _bar: tqdm | None = None

    def start(self, stage: str, max_iterations: int):
        self.stage = stage
        self.close()
        self._bar = tqdm(
            total=max_iterations,
            desc=f"iclv_jax {stage}",
            file=sys.stderr,
            disable=not self.verbose,
            leave=True,
            dynamic_ncols=True,
        )

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def record(self, u: np.ndarray, loglike: float, gradient: np.ndarray, scaled=None):
        """One iteration done at ``u`` (``scaled``: the optimiser's own ``v = u / s``,
        kept so a resumed run continues bit for bit)."""
        u = np.asarray(u)
        self.iteration += 1
        step = 0.0 if self._last_u is None else float(np.linalg.norm(u - self._last_u))
        self._last_u = u
        labels = np.array(self.blocks)
        entry = {
            "iteration": self.iteration,
            "stage": self.stage,
            "loglike": loglike,
            "gradient_norm": float(np.linalg.norm(gradient)),
            "step_norm": step,
        }
        for block in dict.fromkeys(self.blocks):
            entry[f"mean_abs_gradient_{block}"] = float(np.mean(np.abs(gradient[labels == block])))
        self.history.append(entry)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(
                LL=f"{loglike:.4f}",
                grad=f"{entry['gradient_norm']:.2e}",
                step=f"{step:.2e}",
                refresh=False,
            )
        if self.checkpoint is not None and self.stage == "simultaneous":
            checkpoints.write_atomic(
                self.checkpoint,
                {
                    "fingerprint": self.fingerprint,
                    "internal": u.tolist(),
                    "scales": np.asarray(self.scales).tolist(),
                    "iteration": self.iteration,
                    "loglike": loglike,
                    "history": self.history,
                    "optimizer_state": self.optimizer_state,
                    "scaled": None if scaled is None else np.asarray(scaled).tolist(),
                },
            )
