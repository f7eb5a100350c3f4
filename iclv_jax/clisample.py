"""The ``sample`` subcommand: posterior draws of a model file's model on a CSV file.

``iclv-jax sample MODEL.yaml DATA.csv [--formulation integrated|augmented] [--warmup N]
[--samples N] [--chains C] [--prior NAME=normal(0,2) ...] [--out DIR]`` finds the MLE,
runs NUTS (:func:`iclv_jax.sample`), prints the posterior summary and writes
``posterior.npz`` (:func:`iclv_jax.load_posterior` reads it), ``posterior.csv`` (the
table) and ``summary.txt`` to ``DIR``.
"""

from __future__ import annotations

from pathlib import Path

from .bayes import FORMULATIONS, sample
from .bayes.priors import Prior, parse_prior
from .errors import SpecificationError

__all__ = ["SAMPLE_OUTPUTS", "add_sample_command", "prior_arguments", "write_posterior"]

SAMPLE_OUTPUTS = ("posterior.npz", "posterior.csv", "summary.txt")


def add_sample_command(commands, model_and_data_arguments, positive_int):
    """The ``sample`` subcommand's parser."""
    command = commands.add_parser(
        "sample", help="posterior draws by NUTS (after the MLE); write the summary and draws"
    )
    model_and_data_arguments(command)
    command.add_argument("--formulation", choices=FORMULATIONS, default="integrated")
    command.add_argument("--warmup", type=positive_int, default=500, metavar="N")
    command.add_argument("--samples", type=positive_int, default=1000, metavar="N")
    command.add_argument("--chains", type=positive_int, default=4, metavar="C")
    command.add_argument(
        "--prior",
        action="append",
        default=[],
        metavar="NAME=PRIOR",
        help="a parameter's prior, e.g. lambda_q1='normal(1, 0.5)' (repeatable; others: "
        "Normal(0, 100), scales LogNormal(0, 10))",
    )
    command.add_argument(
        "--out",
        type=Path,
        default=Path("iclv-posterior"),
        metavar="DIR",
        help="output folder (default ./iclv-posterior, created if needed)",
    )
    return command


def prior_arguments(given: list[str]) -> dict[str, Prior]:
    """``NAME=PRIOR`` arguments as priors by name; raises ``ValueError`` naming a bad one."""
    priors = {}
    for item in given:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--prior {item!r}: expected NAME=PRIOR, e.g. b_x='normal(0, 2)'")
        priors[name.strip()] = parse_prior(text)
    return priors


def write_posterior(posterior, out: Path) -> list[Path]:
    """The posterior's draws, table and summary text in ``out``."""
    paths = [out / name for name in SAMPLE_OUTPUTS]
    posterior.save(paths[0])
    posterior.table.to_csv(paths[1])
    paths[2].write_text(posterior.summary() + "\n")
    return paths


def run_sample(args, load_inputs, prepare_out, input_error) -> None:
    """Load, check, sample, print and write; a bad prior or output folder raises
    ``input_error``."""
    try:
        priors = prior_arguments(args.prior)
    except ValueError as error:
        raise input_error(str(error)) from None
    model, data, draws = load_inputs(args)
    prepare_out(args.out)
    try:
        posterior = sample(
            model,
            data,
            draws,
            priors=priors,
            formulation=args.formulation,
            num_warmup=args.warmup,
            num_samples=args.samples,
            chains=args.chains,
            seed=args.seed,
        )
    except SpecificationError as error:
        raise input_error(str(error)) from None
    print(posterior.summary())
    for path in write_posterior(posterior, args.out):
        print(f"wrote {path}")
