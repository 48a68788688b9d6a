"""Sample the 40 tasks of the standard MI benchmark and run its classic estimators on them (issue 17).

Runs in a *separate* virtual environment, because PyPI ``benchmark-mi`` (Czyż et al., "Beyond
normal: on the evaluation of mutual information estimators", NeurIPS 2023) pins an old jax::

    python3.11 -m venv /tmp/bmi
    /tmp/bmi/bin/pip install benchmark-mi==0.1.3 "jax==0.4.23" "jaxlib==0.4.23" "ml_dtypes<0.4" \\
        "scipy==1.11.4" "chex==0.1.85"       # newer jax/scipy break its equinox 0.10 and tfp 0.20
    /tmp/bmi/bin/python benchmarks/benchmark_mi_sample.py       # ~15 min on 2 cores

For every task it writes ``results/_scratch/benchmark-mi/<task id>.npz`` (x, y at N = 10,000 from
seed 0, the exact I in nats, the task's name) and, on those same samples, the estimates and
costs of KSG (k = 5 and 10 averaged, standardised, the package's default) and CCA (exact for
Gaussians). ``benchmarks/benchmark_mi.py`` then runs kellynotes on the same files and prints
the table. This script imports nothing from kellynotes.

``--num-pairs N`` (other than 10,000) writes into ``results/_scratch/benchmark-mi-<N>/`` instead, for
``benchmarks/benchmark_mi_pairs.py``: the same tasks and seed at other sample sizes (bmi draws the
pairs afresh for each N, so the first 10,000 of a larger sample are not the benchmark's pairs).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bmi.benchmark import BENCHMARK_TASKS
from bmi.estimators import CCAMutualInformationEstimator, KSGEnsembleFirstEstimator

SCRATCH = Path(__file__).resolve().parent.parent / "results" / "_scratch"
OUT = SCRATCH / "benchmark-mi"
N = 10_000
SEED = 0


def samples_folder(num_pairs: int) -> Path:
    """Where the samples of ``num_pairs`` pairs per task go: the benchmark's folder for N = 10,000."""
    return OUT if num_pairs == N else SCRATCH / f"benchmark-mi-{num_pairs}"


def peers():
    return {"ksg": KSGEnsembleFirstEstimator(neighborhoods=(5, 10), standardize=True),
            "cca": CCAMutualInformationEstimator()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=None, help="task ids (default: all 40)")
    parser.add_argument("--no-peers", action="store_true", help="only write the samples")
    parser.add_argument("--num-pairs", type=int, default=N,
                        help=f"pairs per task (default {N:,}; others go to results/_scratch/benchmark-mi-<N>/)")
    args = parser.parse_args()
    if args.num_pairs < 1:
        raise SystemExit(f"--num-pairs must be positive, got {args.num_pairs}")
    out = samples_folder(args.num_pairs)
    out.mkdir(parents=True, exist_ok=True)
    ids = args.tasks or list(BENCHMARK_TASKS)
    print(f"{'task':52s} {'truth':>6s} {'KSG':>7s} {'s':>5s} {'CCA':>7s} {'s':>5s}")
    for task_id in ids:
        task = BENCHMARK_TASKS[task_id]
        x, y = (np.asarray(a, np.float64) for a in task.sample(args.num_pairs, SEED))
        estimates, seconds = {}, {}
        for name, estimator in ({} if args.no_peers else peers()).items():
            start = time.perf_counter()
            estimates[name] = float(estimator.estimate(x, y))
            seconds[name] = time.perf_counter() - start
        path = out / f"{task_id}.npz"
        temporary = path.with_suffix(".tmp.npz")
        np.savez(temporary, x=x, y=y, truth=task.mutual_information, name=task.name, task_id=task_id, seed=SEED,
                 peers=json.dumps(dict(estimates=estimates, seconds=seconds)))
        temporary.replace(path)
        row = " ".join(f"{estimates[k]:7.3f} {seconds[k]:5.0f}" for k in estimates)
        print(f"{task_id:52s} {task.mutual_information:6.3f} {row}", flush=True)


if __name__ == "__main__":
    main()
