"""The command line of the experiments: ``python -m kellynotes run <experiment> [options]``.

Every experiment is one row of :data:`EXPERIMENTS`: its help line and the function that runs it
from the parsed options and prints a summary. All of them take the options of
:func:`add_run_arguments`. The experiment modules are imported only when their command runs, so
``--help`` is quick.
"""

import argparse
import importlib
import sys

from . import data

__all__ = ["EXPERIMENTS", "add_run_arguments", "handler", "main", "parse_arguments"]

#: command -> (help, "module:function"); the function takes the parsed options and returns the exit status
EXPERIMENTS = {
    "neural-entropy": ("train a class-conditional U-Net; neural entropy, MINDE and the label information",
                       "kellynotes.experiments:run_neural_entropy_from_arguments"),
    "spectra": ("the power spectrum and Gaussian model of a dataset (no training)",
                "kellynotes.experiments:run_spectra_from_arguments"),
    "autoencoders": ("VAE vs DAE, split DAE latents and the tau scan (App. F)",
                     "kellynotes.autoencoders:run_from_arguments"),
}


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by every experiment command."""
    parser.add_argument("--dataset", default="digits", choices=sorted(data.LOADERS))
    parser.add_argument("--data-root", default=None, help="folder with the dataset's files")
    parser.add_argument("--download", action="store_true",
                        help="download missing dataset files (needs internet; checksums are verified)")
    parser.add_argument("--steps", type=int, default=None, help="override the number of training steps")
    parser.add_argument("--quick", action="store_true", help="a few steps only: checks the pipeline, not the numbers")
    parser.add_argument("--results", default="results", help="where the artifact is written (default: results/)")
    parser.add_argument("--checkpoints", default=None, help="checkpoint folder (resume by running again)")


def parse_arguments(argv=None) -> argparse.Namespace:
    """The parsed command line (``argv``: the arguments after the program name)."""
    parser = argparse.ArgumentParser(prog="python -m kellynotes", description="Run a kellynotes experiment.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an experiment and write its artifact")
    experiments = run.add_subparsers(dest="experiment", required=True, metavar="experiment")
    for name, (help_line, _) in EXPERIMENTS.items():
        add_run_arguments(experiments.add_parser(name, help=help_line))
    return parser.parse_args(argv)


def handler(experiment: str):
    """The function that runs ``experiment`` (a key of :data:`EXPERIMENTS`) from parsed options."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; choose from {sorted(EXPERIMENTS)}")
    module, function = EXPERIMENTS[experiment][1].split(":")
    return getattr(importlib.import_module(module), function)


def main(argv=None) -> int:
    """Parse ``argv``, run the experiment, return its exit status."""
    args = parse_arguments(argv)
    return handler(args.experiment)(args)


if __name__ == "__main__":
    sys.exit(main())
