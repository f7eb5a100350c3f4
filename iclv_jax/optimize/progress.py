"""Per-iteration bookkeeping of the optimisers: progress line, history, checkpoint.

The progress display is one line per iteration on stderr (:func:`progress_line`): the
iteration number (counted across a resumed run), the log-likelihood, the gradient norm,
the step and the time elapsed.  No total and no time to go are shown: the number of
iterations a fit needs is not known in advance (an iteration limit of 2000 against a
fit that converges in 12 would make any such estimate fiction).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .. import checkpoint as checkpoints

__all__ = ["Tracker", "format_elapsed", "progress_line"]


def format_elapsed(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` from an hour on (whole seconds, rounded down)."""
    whole = int(max(seconds, 0.0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(
    stage: str, iteration: int, loglike: float, gradient_norm: float, step: float, elapsed: float
) -> str:
    """``iclv_jax <stage> iteration <k>  LL <ll>  |grad| <g>  step <s>  elapsed <m:ss>``."""
    return (
        f"iclv_jax {stage} iteration {iteration}  LL {loglike:.6f}  "
        f"|grad| {gradient_norm:.3e}  step {step:.3e}  elapsed {format_elapsed(elapsed)}"
    )


@dataclass
class Tracker:
    """Per-iteration bookkeeping: progress line, history and atomic checkpoint.

    ``blocks`` labels each free parameter (``structural``, ``measurement``,
    ``choice_lv``, ``choice``); the history keeps the mean |gradient| per block.
    ``began``: the :func:`time.perf_counter` the elapsed time counts from.
    """

    blocks: tuple[str, ...]
    scales: np.ndarray
    fingerprint: dict = field(default_factory=dict)  # see iclv_jax.checkpoint.fingerprint
    checkpoint: str | os.PathLike | None = None
    verbose: bool = False
    iteration: int = 0
    history: list = field(default_factory=list)
    optimizer_state: dict = field(default_factory=dict)
    stage: str = "simultaneous"
    began: float = field(default_factory=time.perf_counter)
    _last_u: np.ndarray | None = None

    def say(self, line: str) -> None:
        """Write ``line`` to stderr when verbose."""
        if self.verbose:
            print(line, file=sys.stderr, flush=True)

    def resumed(self, path: str | os.PathLike, u: np.ndarray, loglike: float) -> None:
        """Continue from a checkpoint's point ``u`` (the next step is measured from it)
        and announce it: the checkpoint, its iteration and its LL."""
        self._last_u = np.asarray(u)
        self.say(
            f"iclv_jax: resumed from checkpoint {os.fspath(path)!r} at iteration "
            f"{self.iteration}, LL {loglike:.6f}"
        )

    def record(self, u: np.ndarray, loglike: float, gradient: np.ndarray, scaled=None):
        """One iteration done at ``u`` (``scaled``: the optimiser's own ``v = u / s``,
        kept so a resumed run continues bit for bit).  The checkpoint is written before
        the progress line, so a line on screen means its iterate is on disk."""
        u = np.asarray(u)
        self.iteration += 1
        step = 0.0 if self._last_u is None else float(np.linalg.norm(u - self._last_u))
        gradient_norm = float(np.linalg.norm(gradient))
        self._last_u = u
        labels = np.array(self.blocks)
        entry = {
            "iteration": self.iteration,
            "stage": self.stage,
            "loglike": loglike,
            "gradient_norm": gradient_norm,
            "step_norm": step,
        }
        for block in dict.fromkeys(self.blocks):
            entry[f"mean_abs_gradient_{block}"] = float(np.mean(np.abs(gradient[labels == block])))
        self.history.append(entry)
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
        self.say(
            progress_line(
                self.stage,
                self.iteration,
                loglike,
                gradient_norm,
                step,
                time.perf_counter() - self.began,
            )
        )
