"""The tables of ``peer_biogeme.py``: ratios, the per-case markdown and the summary
table that the README carries (between ``<!-- peer-table -->`` markers)."""

from __future__ import annotations

import re
from pathlib import Path

TIMED = {"loglike": "LL alone", "loglike_and_grad": "LL+gradient", "hessian": "exact Hessian"}
COLD = {
    "iclv_jax_first": "iclv_jax, empty compilation cache",
    "iclv_jax_cached": "iclv_jax, cache filled",
}
COLD_SHORT = {"iclv_jax_first": "empty cache", "iclv_jax_cached": "cache filled"}
README_MARKERS = ("<!-- peer-table -->", "<!-- /peer-table -->")


def ratios(case: dict) -> dict[str, float]:
    """Biogeme time / iclv_jax time per timed quantity and draws (> 1: iclv_jax
    faster); for cold fits, Biogeme's fresh process over each iclv_jax process."""
    found = {}
    for draws, block in case["draws"].items():
        timing = block["timing"]
        for what in TIMED:
            if what in timing["biogeme"]:
                found[f"{TIMED[what]} {draws}"] = (
                    timing["biogeme"][what]["median_s"] / timing["iclv_jax"][what]["median_s"]
                )
        cold = block.get("cold_fit")
        if cold:
            for key, short in COLD_SHORT.items():
                found[f"cold fit {draws} ({short})"] = (
                    cold["biogeme"]["cold_s"] / cold[key]["cold_s"]
                )
    return found


def _agreement_rows(draws: str, agreement: dict) -> list[str]:
    lines = []
    for label, agree in agreement.items():
        gradient = (
            f"; gradient diff {agree['gradient_max_abs_difference']:.1e} of max "
            f"{agree['gradient_max_abs']:.1e}"
            if "gradient_max_abs" in agree
            else ""
        )
        lines.append(
            f"| LL at {label} ({draws}) | {agree['iclv_jax']:.6f} | {agree['biogeme']:.6f} "
            f"| diff {agree['abs_difference']:.1e}{gradient} |"
        )
    return lines


def _timing_rows(draws: str, timing: dict) -> list[str]:
    lines = []
    for what, label in TIMED.items():
        if what in timing["biogeme"]:
            mine = timing["iclv_jax"][what]["median_s"]
            theirs = timing["biogeme"][what]["median_s"]
            lines.append(
                f"| {label} ({draws}), ms | {1e3 * mine:.1f} | {1e3 * theirs:.1f} "
                f"| {theirs / mine:.1f}x |"
            )
    lines.append(
        f"| first LL+grad call incl. compile ({draws}), s | "
        f"{timing['iclv_jax']['first_call_s']:.1f} | {timing['biogeme']['first_call_s']:.1f} | |"
    )
    return lines


def _cold_rows(draws: str, cold: dict) -> list[str]:
    theirs = cold["biogeme"]
    check = cold["verification"]
    lines = [
        f"| cold fit ({draws}): {label}, s / Biogeme fresh process, s "
        f"| {cold[key]['cold_s']:.1f} | {theirs['cold_s']:.1f} "
        f"| {theirs['cold_s'] / cold[key]['cold_s']:.1f}x |"
        for key, label in COLD.items()
    ]
    first = cold["iclv_jax_first"]
    lines += [
        f"| cold fit ({draws}): iterations | {first['iterations']} | {theirs['iterations']} | |",
        f"| cold fit ({draws}): final LL | {first['loglike']:.6f} | {theirs['loglike']:.6f} "
        f"| rel. diff {cold['loglike_relative_difference']:.1e} |",
        f"| cold fit ({draws}): relative gradient max_i \\|g_i\\| max(\\|x_i\\|, 1) / \\|LL\\| "
        f"| {check['iclv_jax']['relative_gradient']:.1e} | "
        f"{check['biogeme']['relative_gradient']:.1e} | |",
        f"| cold fit ({draws}): Newton step's predicted LL gain g'(-H)^-1 g / 2 "
        f"| {check['iclv_jax']['newton_gain']:.1e} | {check['biogeme']['newton_gain']:.1e} | |",
        f"| cold fit ({draws}): own stopping test met | {first['converged']} "
        f"| {theirs['algorithm_converged']} | |",
        f"| cold fit ({draws}): verified optimum (Newton gain < 1e-6, Hessian neg. def.) | "
        f"{check['iclv_jax']['verified']} | {check['biogeme']['verified']} | |",
    ]
    return lines


def _estimate_rows(cold: dict) -> list[str]:
    mine, theirs = cold["iclv_jax_first"], cold["biogeme"]
    lines = [
        "| parameter | iclv_jax | Biogeme | SE iclv_jax | SE Biogeme "
        "| robust SE iclv_jax | robust SE Biogeme |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p, value in mine["estimates"].items():
        lines.append(
            f"| {p} | {value:.5f} | {theirs['estimates'][p]:.5f} | "
            f"{mine['std_errors'][p]:.5f} | {theirs['std_errors'][p]:.5f} | "
            f"{mine['robust_std_errors'][p]:.5f} | {theirs['robust_std_errors'][p]:.5f} |"
        )
    return lines


def optimum_agreement(case: dict) -> dict[str, str]:
    """Per draws with cold fits: ``|LL_iclv_jax - LL_Biogeme| / |LL|`` at the two
    optima and which of them pass the common verification."""
    found = {}
    for draws, block in case["draws"].items():
        cold = block.get("cold_fit")
        if cold:
            verified = [k for k, v in cold["verification"].items() if v["verified"]]
            found[f"cold fit {draws}: LL rel. diff; verified optimum"] = (
                f"{cold['loglike_relative_difference']:.0e}; {', '.join(verified) or 'neither'}"
            )
    return found


def summary(report: dict) -> str:
    """Ratio per quantity (rows) and case (columns), Biogeme / iclv_jax, then whether
    the cold fits reached the same optimum."""
    names = list(report["cases"])
    found = {
        name: {k: f"{v:.1f}x" for k, v in report["cases"][name]["ratios"].items()}
        | optimum_agreement(report["cases"][name])
        for name in names
    }
    keys = list(dict.fromkeys(k for name in names for k in found[name]))
    lines = [
        "| Biogeme time / iclv_jax time | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(found[n].get(key, "") for n in names) + " |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    machine = report["machine"]
    versions = report["biogeme_versions"]
    lines = [
        "# iclv_jax vs Biogeme: same model, data and draws",
        "",
        f"Machine: {machine['platform']}, {machine['cpu_count']} CPUs ({machine['device']}), "
        "times are medians after a compiling first call.  Versions: iclv_jax "
        f"{machine['versions']['iclv_jax']} (jax {machine['versions']['jax']}); Biogeme "
        f"{versions['biogeme']} (jax {versions['jax']}, Python {versions['python']}).  "
        f"Whole run: {report.get('seconds', float('nan')):.0f} s.",
        "",
        "Both compute with JAX on the same draws (exported by iclv_jax, passed to Biogeme "
        "as user-defined draws), so the LLs agree to rounding; gradients are compared in "
        "iclv_jax's internal parameters.  LL alone: iclv_jax `likelihood.loglike`, "
        "Biogeme `function_evaluator.evaluate(gradient=False)`.  Biogeme's Hessian is one "
        "`jax.jacfwd` over all rows (its default `full` mode), iclv_jax's is chunked over "
        "people; above the first R, Biogeme refuses its `full` Hessian (memory estimate "
        "above its budget), so only LL and LL+gradient are timed there "
        "(`calculating_second_derivatives='never'`).",
        "",
        "Cold fit: a fresh process per library, timed from just before it starts to the "
        "standard errors (interpreter start, imports, data, model, compilation, the fit, "
        "both kinds of SEs), each library's default optimiser from the same start values "
        "(iclv_jax `estimate()`: hybrid BHHH/Newton, then exact-Hessian verification; "
        "Biogeme `estimate()`: `automatic`, i.e. BFGS trust region for a simulated "
        "likelihood, stopping at relative gradient eps^(1/3) = 6.1e-6, then its "
        "analytical Hessian for SEs, with `analytical_hessian_mode='automatic'` so that "
        "it does not refuse at R=500; `'chunked'` where a case says so, for its cold fit "
        "and Hessian timing: the cross-sectional case, where `automatic` picked `full` "
        "and was killed for memory).  iclv_jax twice: a first process with an empty "
        "persistent compilation cache (`ICLV_JAX_CACHE` a fresh folder), a second with "
        "that cache filled.  Both optima are checked with the same test (iclv_jax's "
        "gradient in the reported parameters and exact Hessian, equal to Biogeme's to "
        "rounding): verified where the Hessian is negative definite and a Newton step "
        "would gain less than 1e-6 in LL (a units-free test; Biogeme's relative gradient "
        "is shown too).  The LLs the two fits reach are compared (relative difference).",
        "",
        "## Summary",
        "",
        summary(report),
        "",
    ]
    for name, case in report["cases"].items():
        lines += [f"## {name}", "", case["label"], "", "| | iclv_jax | Biogeme | ratio |"]
        lines.append("|---|---:|---:|---:|")
        for draws, block in case["draws"].items():
            lines += _agreement_rows(draws, block["agreement"])
            lines += _timing_rows(draws, block["timing"])
            if block.get("cold_fit"):
                lines += _cold_rows(draws, block["cold_fit"])
        first = next(iter(case["draws"].values())).get("cold_fit")
        if first:
            lines += ["", f"Estimates at {next(iter(case['draws']))} (cold fits):", ""]
            lines += _estimate_rows(first)
        lines.append("")
    return "\n".join(lines)


def update_readme(readme: Path, report: dict) -> bool:
    """Replace the text between :data:`README_MARKERS` in ``readme`` by the summary
    table; ``False`` (nothing written) where the markers are absent."""
    text = readme.read_text()
    start, end = (re.escape(m) for m in README_MARKERS)
    pattern = re.compile(f"{start}\n.*?{end}", re.DOTALL)
    if not pattern.search(text):
        return False
    quick = report["settings"]["quick"]
    caption = (
        f"{'Smoke run (`--quick`, R=10)' if quick else 'Full run'} on "
        f"{report['machine']['cpu_count']} CPU cores, {report['seconds'] / 60:.0f} min "
        f"([full table](benchmarks/results/peer_biogeme{'-quick' if quick else ''}.md)):"
    )
    table = f"{README_MARKERS[0]}\n{caption}\n\n{summary(report)}\n{README_MARKERS[1]}"
    readme.write_text(pattern.sub(lambda _: table, text))
    return True
