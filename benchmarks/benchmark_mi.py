"""The 40 tasks of the standard MI benchmark (benchmark-mi, Czyż et al. 2023) at N = 10,000:
kellynotes' default estimate beside KSG, CCA and the peer diffusion estimator, on the same samples.

    /tmp/bmi/bin/python benchmarks/benchmark_mi_sample.py     # samples + KSG + CCA (separate venv)
    /tmp/dmi/bin/python benchmarks/benchmark_mi_torch.py      # diffusion-mi's MINDE (optional, torch venv)
    python benchmarks/benchmark_mi.py                         # kellynotes; ~25 min on 2 cores; prints the table

Each task's row is stored as soon as it is measured, in ``results/benchmark-mi.{json,npz}`` (with
provenance; the MINDE chapter renders the table from it), so a killed run resumes where it stopped; rows
measured with another configuration are measured again. ``--tasks`` runs some of them.
The estimate of every estimator is compared with the task's exact I (nats); the summary gives
the mean and the largest absolute error over the tasks each estimator ran.
"""

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import jax
import numpy as np

import kellynotes
from kellynotes import api, experiments, training

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "results" / "_scratch" / "benchmark-mi"
ARTIFACT = ROOT / "results" / "benchmark-mi.json"
PEERS = ("ksg", "cca", "diffusion-mi")


def load_task(path: Path) -> dict:
    with np.load(path) as data:
        task = dict(task_id=str(data["task_id"]), name=str(data["name"]), truth=float(data["truth"]),
                    x=data["x"], y=data["y"], peers=json.loads(str(data["peers"])))
    torch_peer = path.with_suffix(".diffusion-mi.json")
    if torch_peer.exists():
        peer = json.loads(torch_peer.read_text())
        task["peers"]["estimates"]["diffusion-mi"] = peer["estimate"]
        task["peers"]["seconds"]["diffusion-mi"] = peer["seconds"]
    return task


def measure(task: dict, config: api.VectorInformationConfig) -> dict:
    start = time.perf_counter()
    result = kellynotes.estimate_mutual_information(task["x"], task["y"], key=jax.random.key(0), config=config)
    return dict(task_id=task["task_id"], name=task["name"], dim_x=int(task["x"].shape[1]),
                dim_y=int(task["y"].shape[1]), truth=task["truth"], value=result.value, stderr=result.stderr,
                train_value=result.train_estimate.value, warnings=list(result.warnings),
                seconds=time.perf_counter() - start, peers=task["peers"])


def errors(rows: list[dict], name: str) -> np.ndarray:
    if name == "kellynotes":
        return np.array([row["value"] - row["truth"] for row in rows])
    return np.array([row["peers"]["estimates"][name] - row["truth"] for row in rows
                     if name in row["peers"]["estimates"]])


def print_table(rows: list[dict]) -> None:
    peers = [name for name in PEERS if any(name in row["peers"]["estimates"] for row in rows)]
    header = f"{'task':48s} {'D':>5s} {'truth':>6s} {'kellynotes':>15s} {'s':>4s}" + "".join(
        f" {name:>15s} {'s':>4s}" for name in peers)
    print(header)
    print("-" * len(header))
    for row in rows:
        line = (f"{row['name'][:48]:48s} {row['dim_x']:>2d}×{row['dim_y']:<2d} {row['truth']:6.3f} "
                f"{row['value']:7.3f} ({row['value'] - row['truth']:+.3f}) {row['seconds']:4.0f}")
        for name in peers:
            estimate = row["peers"]["estimates"].get(name)
            line += (f" {estimate:7.3f} ({estimate - row['truth']:+.3f}) {row['peers']['seconds'][name]:4.0f}"
                     if estimate is not None else " " * 21)
        print(line + ("  !" if row["warnings"] else ""))
    print("-" * len(header))
    for name in ("kellynotes", *peers):
        error = errors(rows, name)
        print(f"{name:12s} tasks {error.size:2d}   mean |error| {np.mean(np.abs(error)):.3f}   "
              f"largest |error| {np.max(np.abs(error)):.3f}   mean error {np.mean(error):+.3f} nats")


def save(rows: list[dict], config: api.VectorInformationConfig, seconds: float) -> None:
    """The artifact pair ``benchmark-mi.{json,npz}`` (the schema of
    :func:`kellynotes.experiments.load_artifact`): the rows in the json, their numbers as arrays."""
    rows = sorted(rows, key=lambda row: row["task_id"])
    artifact = dict(name="benchmark-mi", kind="benchmark-mi", config=dict(estimate=asdict(config), num_pairs=10_000,
                                                                          sample_seed=0, peers=list(PEERS)),
                    results=dict(rows=rows), training={}, provenance=experiments.provenance(seconds))
    arrays = dict(truth=[row["truth"] for row in rows], value=[row["value"] for row in rows],
                  stderr=[row["stderr"] for row in rows], seconds=[row["seconds"] for row in rows],
                  **{name.replace("-", "_"): [row["peers"]["estimates"].get(name, np.nan) for row in rows]
                     for name in PEERS})
    training.atomic_write(ARTIFACT.with_suffix(".npz"), lambda file: np.savez(file, **{
        key: np.asarray(value, np.float64) for key, value in arrays.items()}))
    training.atomic_write(ARTIFACT, lambda file: file.write(json.dumps(artifact, indent=1).encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=None, help="task ids (default: every sampled task)")
    parser.add_argument("--table-only", action="store_true", help="print the stored table, measure nothing")
    args = parser.parse_args()
    config = api.VectorInformationConfig()
    stored = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else None
    same = stored is not None and stored["config"]["estimate"] == json.loads(json.dumps(asdict(config)))
    rows = {row["task_id"]: row for row in stored["results"]["rows"]} if same else {}
    seconds = stored["provenance"]["wall_time_s"] if rows else 0.0
    if not args.table_only:
        paths = sorted(SAMPLES.glob("*.npz")) if args.tasks is None else [SAMPLES / f"{t}.npz" for t in args.tasks]
        missing = [path.name for path in paths if not path.exists()]
        if not paths or missing:
            raise SystemExit(f"no benchmark samples {missing or ''} in {SAMPLES}: run "
                             "benchmarks/benchmark_mi_sample.py in its own venv first (see its docstring)")
        for path in paths:
            task = load_task(path)
            if task["task_id"] in rows:
                rows[task["task_id"]]["peers"] = task["peers"]  # peers may have been run since
                continue
            rows[task["task_id"]] = measure(task, config)
            seconds += rows[task["task_id"]]["seconds"]
            save(list(rows.values()), config, seconds)
            row = rows[task["task_id"]]
            print(f"{row['name']:48s} {row['truth']:6.3f} {row['value']:7.3f} ± {row['stderr']:.3f} "
                  f"({row['value'] - row['truth']:+.3f}) {row['seconds']:4.0f} s", flush=True)
        save(list(rows.values()), config, seconds)
    if not rows:
        raise SystemExit(f"no stored rows in {ARTIFACT}")
    print_table(sorted(rows.values(), key=lambda row: row["task_id"]))


if __name__ == "__main__":
    main()
