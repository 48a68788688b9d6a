"""The catalogue of cached result artifacts the book reads, and how each is regenerated.

Every artifact is a pair ``results/<name>.json`` + ``results/<name>.npz`` written by
:func:`kellynotes.store.save_artifact` (schema checked by :func:`kellynotes.store.load_artifact`).
An entry is *required* when a chapter cannot render without it (tests fail if it is
missing); the others are full-size GPU runs that a chapter shows when present and
lists as pending otherwise. ``paper`` holds the values reported in *Diffusion Models are
Kelly Gamblers* (Fig. 14 caption), in nats, for side-by-side comparison only.
"""

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from . import store

__all__ = ["CATALOG", "Entry", "RESULTS_DIR", "available", "entry", "load", "measured_at", "model_settings",
           "source_note"]


def _results_dir() -> Path:
    """``results/`` of the source checkout; an installed wheel (e.g. on Colab) carries the
    same files inside the package as ``kellynotes/artifacts`` (see pyproject.toml)."""
    packaged = Path(__file__).resolve().parent / "artifacts"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "results"


RESULTS_DIR = _results_dir()


@dataclass(frozen=True)
class Entry:
    name: str
    title: str
    command: str  # regenerates the artifact into results/ (run from the repository root)
    required: bool = False
    device: str = "CPU"  # where the cached copy is meant to come from
    paper: dict = field(default_factory=dict)


_NE = "python -m kellynotes run neural-entropy"
CATALOG: tuple[Entry, ...] = (
    Entry("neural-entropy-digits", "8x8 digits, small U-Net (CPU)", f"{_NE} --dataset digits", required=True),
    Entry("neural-entropy-mnist", "MNIST, U-Net (one GPU)", f"{_NE} --dataset mnist --checkpoints checkpoints/mnist",
          device="GPU", paper=dict(neural_entropy_x=2017.9, mutual_information_minde=4.1)),
    Entry("neural-entropy-fashion_mnist", "Fashion-MNIST, U-Net (one GPU)",
          f"{_NE} --dataset fashion_mnist --checkpoints checkpoints/fashion_mnist", device="GPU"),
    Entry("neural-entropy-cifar10", "CIFAR-10, U-Net with attention (one GPU)",
          f"{_NE} --dataset cifar10 --steps 8000 --checkpoints checkpoints/cifar10", device="GPU",
          paper=dict(neural_entropy_x=7776.2, mutual_information_minde=7.5404)),
    Entry("autoencoders-mnist", "MNIST autoencoders: VAE vs DAE, split DAE, tau scan (one GPU)",
          "python -m kellynotes run autoencoders --dataset mnist --checkpoints checkpoints/autoencoders-mnist",
          device="GPU"),
    Entry("benchmark-mi", "the 40 tasks of benchmark-mi at N = 10,000: kellynotes beside KSG, CCA and diffusion-mi",
          "python benchmarks/benchmark_mi.py", required=True),
    Entry("benchmark-mi-pairs", "spiral 25 x 25 of benchmark-mi at 10,000 to 300,000 pairs, 10,000 to 100,000 "
          "training steps and several keys", "python benchmarks/benchmark_mi_pairs.py", required=True),
    Entry("flattening", "the flattening sweeps of Figs. 9 and 11 (lambda_delta 1e-1 to 1e-4), four protocols",
          "python benchmarks/flattening.py", required=True),
    Entry("spectra-digits", "power spectrum and Gaussian model, digits",
          "python -m kellynotes run spectra --dataset digits", required=True),
    Entry("spectra-mnist", "power spectrum and Gaussian model, MNIST",
          "python -m kellynotes run spectra --dataset mnist", required=True),
    Entry("spectra-fashion_mnist", "power spectrum and Gaussian model, Fashion-MNIST",
          "python -m kellynotes run spectra --dataset fashion_mnist", required=True),
    Entry("spectra-cifar10", "power spectrum and Gaussian model, CIFAR-10",
          "python -m kellynotes run spectra --dataset cifar10", required=True),
)


def entry(name: str) -> Entry:
    for item in CATALOG:
        if item.name == name:
            return item
    raise KeyError(f"no artifact {name!r} in the catalogue; known: {[item.name for item in CATALOG]}")


def available(name: str, results_dir=None) -> bool:
    """True if ``<name>.json`` and ``<name>.npz`` exist in the results folder."""
    entry(name)
    folder = Path(results_dir) if results_dir is not None else RESULTS_DIR
    return (folder / f"{name}.json").exists() and (folder / f"{name}.npz").exists()


def load(name: str, results_dir=None) -> tuple[dict, dict]:
    """``(meta, arrays)`` of a catalogued artifact (see :func:`kellynotes.store.load_artifact`)."""
    entry(name)
    folder = Path(results_dir) if results_dir is not None else RESULTS_DIR
    return store.load_artifact(folder / f"{name}.json")


def measured_at(meta: dict) -> str:
    """Where the numbers of a row-by-row artifact (``meta["results"]["rows"]``) come from, for a
    chapter to print: the commit and date of every row, from the row's own ``provenance`` (rows
    stored without one take the artifact's). E.g. ``"commit 1a2b3c4, 2026-12-07"``; "(uncommitted
    changes)" follows a ``-dirty`` commit; rows measured at several commits give one entry per
    commit with its number of rows, and rows of one commit measured on several days a range of dates."""
    groups: dict[str, list[str]] = {}
    for row in meta["results"]["rows"]:
        stamp = row.get("provenance", meta["provenance"])
        commit = stamp["git_commit"]
        label = commit[:7] + (" (uncommitted changes)" if commit.endswith("-dirty") else "")
        groups.setdefault(label, []).append(stamp["date"][:10])
    entries = {label: f"{label}, {min(dates)}" + (f" to {max(dates)}" if max(dates) != min(dates) else "")
               for label, dates in groups.items()}
    if len(entries) == 1:
        return f"commit {next(iter(entries.values()))}"
    return "commits " + "; ".join(f"{entries[label]} ({len(dates)} row{'s' * (len(dates) > 1)})"
                                   for label, dates in groups.items())


def source_note(meta: dict, name: str, width: int = 88) -> str:
    """The lines a chapter prints under a row-by-row artifact's table: the device and
    :func:`measured_at`, wrapped to ``width`` characters (a book's output box is about 90 wide and
    scrolls past that), then ``regenerate:`` and the catalogue's command for ``name``, unbroken."""
    where = textwrap.fill(f"run on {meta['provenance']['device']}, {measured_at(meta)}", width,
                          break_long_words=False, break_on_hyphens=False)
    return f"{where}\nregenerate: {entry(name).command}"


def model_settings(meta: dict) -> dict:
    """The U-Net and training settings of a ``neural-entropy`` artifact, as a dict of
    :class:`kellynotes.images.ImageModelConfig` (``channels``, ``fit``, ``label_dropout``, ``s_min``, ...).
    Its ``config`` holds them under ``model``; artifacts written before that nesting (commit 7b9b130 and
    earlier) hold the same fields at the top of ``config``."""
    config = meta["config"]
    return config["model"] if "model" in config else config
