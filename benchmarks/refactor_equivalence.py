"""Issue 14's numerical invariants as a reproducible check of one source tree against another.

Run it in each tree (the tree on ``PYTHONPATH`` is the one measured), save, compare:

    cd /work/wt-pre && PYTHONPATH=$PWD python /path/to/refactor_equivalence.py --save pre.npz
    cd /work/main   && PYTHONPATH=$PWD python /path/to/refactor_equivalence.py --save post.npz
    python /path/to/refactor_equivalence.py --compare pre.npz post.npz   # exit 1 on failure

Two studies, each as the library ships it:

- ``beverage``: the simulated beverage study of ``iclv-jax demo`` (326 people, 10
  situations, seed 0; scrambled Halton draws, R = 100, seed 0), estimated from the
  library's default starts;
- ``drug_choice``: the apollo drug-choice ICLV on ``../shared/data`` (1,000 people,
  37 parameters; ``ApolloHalton(100)``), estimated from its reference starts.

At fixed points ``u`` (free internal parameters) -- the start values, the estimates
rounded to 4 significant digits (so a difference in the last digits of the estimates
does not move the point), and for the beverage study the true values -- it records
``LL = sum_n log L_n``, the per-person ``log L_n``, the autodiff gradient ``dLL/du``, the
per-person scores ``S_ni = d log L_n / du_i``, the exact Hessian ``d^2 LL / du du'``
(``Problem.likelihood.hessian``) and the hand-written (analytic) LL and gradient.  Then
it estimates with default settings and records the estimates, classical and robust
standard errors, the final LL and the iteration count.

Comparison is element by element, ``|a - b| <= tol * scale`` with ``tol = 1e-10`` for
the evaluations and ``1e-8`` for the estimation (issue 14), and ``scale`` the magnitude
at which rounding of that element lives (taken from ``a``):

- values, per-person values, scores, points: ``max(1, |a|)``;
- gradients (autodiff, analytic): ``max(1, |g_i|, sum_n |S_ni|)`` -- a gradient is a sum
  of per-person scores, so summing in another order moves it by a fraction of
  ``sum_n |S_ni|``, not of ``|g_i|`` (which is ~0 at an optimum);
- Hessian: ``max(1, |H_ij|, sqrt(|H_ii H_jj|))`` -- the Cauchy-Schwarz scale of an
  off-diagonal element, which may be a cancellation of large terms;
- estimates: ``max(|theta|, SE)``; standard errors: ``|SE|`` (relative: prices in raw
  units give coefficients of 1e-4 whose SEs are 1e-5).

Parameter axes are matched by name (``free_names``), so a change of the parameter order
is not a difference.  The iteration counts are printed, not tested.

Also printed, not tested: whether the compiled programs of LL+gradient, scores and
Hessian (StableHLO at the start values) hold the same operations in both trees, up to
SSA numbering and order (:func:`program_fingerprint`).  The same operations mean the same
speed, whatever a timing on a shared machine says; after a refactor they may differ
and only ``side_by_side.py`` can tell.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time

import numpy as np

EVAL_TOL = 1e-10
FIT_TOL = 1e-8
DRAWS = 100
ROUND_DIGITS = 4

# quantity -> axes indexed by free parameters
PARAMETER_AXES = {
    "params": (0,),
    "u": (0,),
    "grad": (0,),
    "analytic_grad": (0,),
    "scores": (1,),
    "hessian": (0, 1),
    "estimates": (0,),
    "se": (0,),
    "robust_se": (0,),
}
FIT_QUANTITIES = ("estimates", "se", "robust_se")
INFO_QUANTITIES = ("iterations", "converged")
PROGRAMS = ("loglike_and_grad", "scores", "hessian")


# --- measuring one source tree -------------------------------------------------------


def studies():
    """``name -> (model, data, draws, start, extra points)``: the two studies of issue 14."""
    import iclv_jax as ij
    from iclv_jax import datasets

    df, model, truth = datasets.beverage(n_people=326, seed=0)
    drug_df, drug_model, drug_start = datasets.drug_choice()
    return {
        "beverage": (model, df, ij.Halton(DRAWS, seed=0), None, {"truth": truth}),
        "drug_choice": (drug_model, drug_df, ij.ApolloHalton(DRAWS), drug_start, {}),
    }


def free_names(problem) -> list[str]:
    """Names of the free parameters, in the order of the free internal vector."""
    space = problem.space
    return [space.names[i] for i in np.asarray(space.free_index)]


def rounded(values: dict[str, float], digits: int = ROUND_DIGITS) -> dict[str, float]:
    """Every value rounded to ``digits`` significant digits."""
    return {name: float(f"{value:.{digits - 1}e}") for name, value in values.items()}


def evaluate(problem, params) -> dict[str, np.ndarray]:
    """Every likelihood quantity at reported ``params`` (dict, or None for the defaults)."""
    from iclv_jax import analytic

    lik = problem.likelihood
    u = problem.free_internal(params)
    loglike, grad = lik.loglike_and_grad(u)
    analytic_loglike, analytic_grad = analytic.loglike_and_grad(lik, u)
    reported = problem.reported(u)
    return {
        "params": np.array([reported[n] for n in free_names(problem)]),
        "u": np.asarray(u),
        "loglike": np.asarray(loglike),
        "grad": np.asarray(grad),
        "per_person": np.asarray(lik.per_person(u)),
        "scores": np.asarray(lik.scores(u)),
        "hessian": np.asarray(lik.hessian(u)),
        "analytic_loglike": np.asarray(analytic_loglike),
        "analytic_grad": np.asarray(analytic_grad),
    }


def program_fingerprint(text: str) -> str:
    """SHA-256 of a StableHLO module's lines, stripped, SSA names (``%12``) renamed to
    ``%N`` and sorted: equal for programs that differ only in numbering and the order of
    their operations (and, rarely, for others with the same multiset of lines)."""
    lines = sorted(re.sub(r"%[0-9]+", "%N", line.strip()) for line in text.splitlines())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def programs(problem, params) -> dict[str, np.ndarray]:
    """Fingerprints of the lowered LL+gradient, scores and Hessian programs at ``params``."""
    import jax

    lik, u = problem.likelihood, problem.free_internal(params)
    return {
        name: np.array(
            program_fingerprint(
                jax.jit(lambda v, name=name: getattr(lik, name)(v))
                .lower(u)
                .as_text(debug_info=False)
            )
        )
        for name in PROGRAMS
    }


def fit(model, df, draws, start, names) -> dict[str, np.ndarray]:
    """Estimates, classical and robust SEs (free parameters, in ``names`` order), LL."""
    import iclv_jax as ij

    results = ij.estimate(model, df, draws=draws, start=start, verbose=False)
    table = results.table.loc[names]
    return {
        "estimates": table["estimate"].to_numpy(float),
        "se": table["se"].to_numpy(float),
        "robust_se": table["robust_se"].to_numpy(float),
        "loglike": np.asarray(results.loglike),
        "iterations": np.asarray(results.iterations),
        "converged": np.asarray(results.converged),
    }


def measure() -> dict[str, np.ndarray]:
    """All quantities of both studies, keyed ``study.point.quantity``."""
    import iclv_jax as ij

    out: dict[str, np.ndarray] = {}
    for study, (model, df, draws, start, extra) in studies().items():
        began = time.perf_counter()
        problem = ij.Problem(model, df, draws=draws)
        names = free_names(problem)
        out[f"{study}.free_names"] = np.array(names)
        fitted = fit(model, df, draws, start, names)
        out.update({f"{study}.fit.{k}": v for k, v in fitted.items()})
        estimates = dict(zip(names, fitted["estimates"].tolist(), strict=True))
        points = {"start": start, "estimate_rounded": rounded(estimates), **extra}
        for point, params in points.items():
            out.update({f"{study}.{point}.{k}": v for k, v in evaluate(problem, params).items()})
        out.update({f"{study}.program.{k}": v for k, v in programs(problem, start).items()})
        print(
            f"{study}: {len(names)} parameters, LL at the estimates "
            f"{float(fitted['loglike']):.6f} in {int(fitted['iterations'])} iterations, "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )
    return out


# --- comparing two measurements ------------------------------------------------------


def aligned(value: np.ndarray, quantity: str, order: np.ndarray) -> np.ndarray:
    """``value`` with its parameter axes permuted by ``order``."""
    for axis in PARAMETER_AXES.get(quantity, ()):
        value = np.take(value, order, axis=axis)
    return value


def scale(key: str, a: dict[str, np.ndarray]) -> np.ndarray:
    """The magnitude at which rounding of each element of ``a[key]`` lives (module
    docstring)."""
    study, point, quantity = key.split(".")
    value = np.abs(a[key])
    if quantity in ("grad", "analytic_grad"):
        return np.maximum.reduce(
            [np.ones_like(value), value, np.abs(a[f"{study}.{point}.scores"]).sum(axis=0)]
        )
    if quantity == "hessian":
        diagonal = np.sqrt(np.abs(np.diag(a[key])))
        return np.maximum.reduce([np.ones_like(value), value, np.outer(diagonal, diagonal)])
    if quantity == "estimates":
        return np.fmax(value, np.abs(a[f"{study}.fit.se"]))
    if quantity in ("se", "robust_se"):
        return value
    return np.maximum(1.0, value)


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[dict]:
    """One row per quantity of ``a``: max abs and scaled difference, tolerance, pass."""
    rows = []
    orders = {}
    for study in sorted({k.split(".")[0] for k in a}):
        names_a, names_b = list(a[f"{study}.free_names"]), list(b[f"{study}.free_names"])
        same_set = sorted(names_a) == sorted(names_b)
        rows.append(
            {
                "key": f"{study}.free_names",
                "ok": same_set,
                "note": "same names" + ("" if names_a == names_b else ", reordered")
                if same_set
                else f"differ: {sorted(set(names_a) ^ set(names_b))}",
            }
        )
        if same_set:
            orders[study] = np.array([names_b.index(n) for n in names_a])
    for key in sorted(a):
        study, point, quantity = key.split(".") if key.count(".") == 2 else (key, "", "")
        if not quantity or study not in orders:
            continue
        if key not in b:
            rows.append({"key": key, "ok": False, "note": "missing in B"})
            continue
        if point == "program":
            same = a[key].item() == b[key].item()
            rows.append(
                {
                    "key": key,
                    "ok": True,
                    "note": ("same operations" if same else "operations differ") + " (not tested)",
                }
            )
            continue
        value_b = aligned(b[key], quantity, orders[study])
        if quantity in INFO_QUANTITIES:
            rows.append(
                {
                    "key": key,
                    "ok": True,
                    "note": f"{a[key].item()} vs {value_b.item()} (not tested)",
                }
            )
            continue
        if a[key].shape != value_b.shape:
            rows.append(
                {"key": key, "ok": False, "note": f"shapes {a[key].shape} vs {value_b.shape}"}
            )
            continue
        tol = FIT_TOL if quantity in FIT_QUANTITIES else EVAL_TOL
        diff = np.abs(a[key] - value_b)
        scaled = diff / scale(key, a)
        finite = np.isfinite(a[key]) == np.isfinite(value_b)
        rows.append(
            {
                "key": key,
                "max_abs": float(np.nanmax(diff, initial=0.0)),
                "max_scaled": float(np.nanmax(scaled, initial=0.0)),
                "tol": tol,
                "ok": bool(finite.all() and np.nanmax(scaled, initial=0.0) <= tol),
            }
        )
    return rows


def report(rows: list[dict]) -> str:
    lines = [f"{'quantity':44s} {'max |a-b|':>10s} {'max scaled':>10s} {'tol':>7s}  ok"]
    for row in rows:
        if "max_abs" in row:
            lines.append(
                f"{row['key']:44s} {row['max_abs']:10.2e} {row['max_scaled']:10.2e} "
                f"{row['tol']:7.0e}  {'yes' if row['ok'] else 'NO'}"
            )
        else:
            lines.append(f"{row['key']:44s} {row['note']:>30s}  {'yes' if row['ok'] else 'NO'}")
    failed = [row["key"] for row in rows if not row["ok"]]
    lines.append(
        f"{len(rows) - len(failed)} of {len(rows)} within tolerance"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return "\n".join(lines)


def load(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--save", metavar="PATH.npz", help="measure this tree, write arrays")
    action.add_argument("--compare", nargs=2, metavar=("A.npz", "B.npz"))
    args = parser.parse_args(argv)
    if args.save:
        import iclv_jax

        print(f"iclv_jax {iclv_jax.__version__} from {iclv_jax.__file__}", flush=True)
        np.savez(args.save, **measure())
        print(f"saved {args.save}")
        return 0
    rows = compare(load(args.compare[0]), load(args.compare[1]))
    print(report(rows))
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
