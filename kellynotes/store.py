"""Stored artifacts: the one place that writes, stamps and reads them.

An artifact is a pair ``<name>.json`` + ``<name>.npz``. The JSON holds :data:`ARTIFACT_KEYS`
(what was run, its numbers, its training record and its :func:`provenance`); the ``.npz`` holds
the arrays (curves, uint8 image grids). :func:`save_artifact` writes both atomically
(:mod:`kellynotes.atomic`), the arrays first, so a JSON on disk always has its arrays beside it;
:func:`load_artifact` checks the schema and names what is missing.

Importing this module imports neither JAX nor anything that trains: :mod:`kellynotes.results`
(the catalogue the book reads) loads artifacts through it.
"""

import datetime
import functools
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from .atomic import atomic_write, atomic_write_text

__all__ = ["ARTIFACT_KEYS", "PEAK_FLOPS", "PROVENANCE_KEYS", "REFRESH_HELP", "code_commit", "device_report",
           "git_commit", "load_artifact", "measured_elsewhere", "provenance", "refresh_rows", "save_artifact",
           "save_rows", "to_uint8"]

#: The keys of an artifact's JSON.
ARTIFACT_KEYS = ("name", "kind", "config", "results", "training", "provenance")
#: The keys its ``provenance`` must have.
PROVENANCE_KEYS = ("package_version", "git_commit", "device", "wall_time_s", "date")

#: Dense peak FLOP rates (per second) by device kind and compute dtype, from the vendors'
#: data sheets (H100/H200 SXM: 989.4 TFLOP/s bf16 and 494.7 TFLOP/s tf32 tensor-core,
#: without sparsity). float32 training on these GPUs runs matrix work as tf32 by default.
PEAK_FLOPS = {
    "H100": {"bfloat16": 989.4e12, "float32": 494.7e12},
    "H200": {"bfloat16": 989.4e12, "float32": 494.7e12},
}


def git_commit(folder) -> str | None:
    """The commit of the git checkout that holds ``folder``, with ``-dirty`` if a tracked file outside
    ``results/`` differs from it; ``None`` if ``folder`` is in no checkout (or git is missing).

    ``results/`` does not count: it holds the artifacts the runs write (and a benchmark rewrites its
    own artifact after every row), not the code that computes them.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=folder).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":(top)", ":(top,exclude)results"],
                               capture_output=True, text=True, check=True, cwd=folder).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


@functools.cache
def code_commit() -> str:
    """The package checkout's :func:`git_commit`; ``$KELLYNOTES_GIT_COMMIT`` where the code was copied
    without its git folder (e.g. to a remote GPU machine); else "unknown".

    Read once per process, at the first call: an experiment module calls it when it is imported,
    so that a long run records the commit of the code that runs even if the checkout changes meanwhile.
    """
    return git_commit(Path(__file__).parent) or os.environ.get("KELLYNOTES_GIT_COMMIT", "unknown")


def measured_elsewhere(rows, commit: str | None = None) -> list[dict]:
    """The rows of a resumable benchmark (each a dict with its own ``provenance``, see
    :func:`provenance`) that were not measured at ``commit`` (default: :func:`code_commit`), rows
    without a provenance of their own included. A rerun keeps stored rows whose settings match; these
    are the ones that a change of code since may have made stale."""
    commit = code_commit() if commit is None else commit
    return [row for row in rows if not _measured_at_commit(row, commit)]


def _measured_at_commit(row: dict, commit: str) -> bool:
    return row.get("provenance", {}).get("git_commit") == commit


#: The help of a resumable benchmark's ``--refresh`` (see :func:`refresh_rows`).
REFRESH_HELP = ("measure again the stored rows measured at another commit than the checkout's "
                "(a killed --refresh run resumes: rows measured at this commit are kept)")


def refresh_rows(rows: dict, selected, commit: str, *, refresh: bool) -> str:
    """Resuming a row-by-row benchmark: of ``rows`` (the stored rows by key), those whose key is in
    ``selected`` and that were measured at another commit than ``commit`` (:func:`measured_elsewhere`)
    are deleted from ``rows`` with ``refresh``, so that they are measured again; else they are kept.
    Returns a sentence saying that some were kept, or "" when none was."""
    elsewhere = [key for key, row in rows.items() if key in selected and not _measured_at_commit(row, commit)]
    if refresh:
        for key in elsewhere:
            del rows[key]
        return ""
    if not elsewhere:
        return ""
    one = len(elsewhere) == 1
    return (f"{len(elsewhere)} stored {'row was' if one else 'rows were'} measured at another commit than this "
            f"checkout's ({commit[:7]}) and {'is' if one else 'are'} kept; --refresh measures "
            f"{'it' if one else 'them'} again")


def provenance(wall_time_s: float) -> dict:
    """Package version, git commit, device, JAX and Python versions, wall time (s) and UTC date of a run."""
    import jax

    from .version import __version__

    device = jax.devices()[0]
    return dict(package_version=__version__, git_commit=code_commit(),
                device=f"{device.platform}: {device.device_kind}",
                device_count=jax.device_count(), jax_version=jax.__version__, python=platform.python_version(),
                wall_time_s=round(wall_time_s, 1),
                date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))


def device_report(fitted, compute_dtype: str) -> dict:
    """Throughput, achieved FLOP rate (and its fraction of the device's peak where the device is in
    :data:`PEAK_FLOPS`) and peak device memory of a :class:`kellynotes.training.FitResult`. Throughput
    and FLOP rate are those of the last job that trained; ``jobs`` lists every job of a run split over
    several (resumed) jobs and ``training_wall_time_s`` is their sum."""
    import jax

    device = jax.devices()[0]
    peak = next((rates[compute_dtype] for kind, rates in PEAK_FLOPS.items() if kind in device.device_kind), None)
    stats = device.memory_stats() or {}
    achieved = fitted.flops_per_s
    return dict(examples_per_s=fitted.examples_per_s, steady_examples_per_s=fitted.steady_examples_per_s,
                training_wall_time_s=fitted.total_wall_time_s, jobs=list(fitted.jobs), first_call_s=fitted.first_call_s,
                flops_per_step=fitted.flops_per_step, achieved_flops_per_s=achieved,
                peak_flops_per_s=peak,
                peak_flop_fraction=None if (achieved is None or peak is None) else achieved / peak,
                peak_memory_bytes=stats.get("peak_bytes_in_use"), compute_dtype=compute_dtype)


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] as uint8 in 0..255 (how image grids are stored)."""
    return np.clip(np.round((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def save_artifact(path, meta: dict, arrays: dict, *, compressed: bool = True) -> Path:
    """Write ``meta`` to ``path`` (``<name>.json``) and ``arrays`` to ``<name>.npz`` beside it, each atomically,
    the arrays first. ``meta`` must have :data:`ARTIFACT_KEYS` and a provenance with :data:`PROVENANCE_KEYS`
    (a ``ValueError`` names what is missing). Returns ``path``."""
    path = Path(path)
    _check_meta(meta, path)
    write_arrays = np.savez_compressed if compressed else np.savez
    atomic_write(path.with_suffix(".npz"), lambda file: write_arrays(file, **arrays))
    atomic_write_text(path, json.dumps(meta, indent=1))
    return path


def save_rows(path, rows: list[dict], config: dict, columns) -> Path:
    """The artifact of a row-by-row benchmark (its name and kind: the file's stem): ``rows`` in the json
    with ``config``, the rows' ``columns`` as float64 arrays in the npz (uncompressed), and a provenance
    whose wall time is the sum of the rows' ``seconds`` (each row was measured in its own time, perhaps
    in an earlier run)."""
    path = Path(path)
    meta = dict(name=path.stem, kind=path.stem, config=config, results=dict(rows=rows), training={},
                provenance=provenance(sum(row["seconds"] for row in rows)))
    arrays = {name: np.asarray([row[name] for row in rows], np.float64) for name in columns}
    return save_artifact(path, meta, arrays, compressed=False)


def _check_meta(meta: dict, path: Path) -> None:
    missing = [key for key in ARTIFACT_KEYS if key not in meta]
    if missing:
        raise ValueError(f"artifact {path} lacks {missing}")
    for key in PROVENANCE_KEYS:
        if key not in meta["provenance"]:
            raise ValueError(f"artifact {path} lacks provenance field {key!r}")


def load_artifact(path) -> tuple[dict, dict]:
    """``(meta, arrays)`` from ``<name>.json`` and its ``.npz``; checks the schema and raises a
    ``ValueError`` naming what is missing."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"artifact {path} does not exist")
    meta = json.loads(path.read_text())
    _check_meta(meta, path)
    arrays_path = path.with_suffix(".npz")
    if not arrays_path.exists():
        raise ValueError(f"artifact {path} has no array file {arrays_path.name}")
    with np.load(arrays_path) as arrays:
        return meta, {name: arrays[name] for name in arrays.files}
