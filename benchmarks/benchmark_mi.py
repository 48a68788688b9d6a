"""The 40 tasks of the standard MI benchmark (benchmark-mi, Czyż et al. 2023) at N = 10,000:
kellynotes' default estimate beside KSG, CCA and the peer diffusion estimator, on the same samples.

    /tmp/bmi/bin/python benchmarks/benchmark_mi_sample.py     # samples + KSG + CCA (separate venv)
    /tmp/dmi/bin/python benchmarks/benchmark_mi_torch.py      # diffusion-mi's MINDE (optional, torch venv)
    python benchmarks/benchmark_mi.py                         # kellynotes; ~25 min on 2 cores; prints the table

Each task's row is stored as soon as it is measured, in ``results/benchmark-mi.{json,npz}`` (each row
with its own provenance; the MINDE chapter renders the table from it), so a killed run resumes where it
stopped. Rows measured with another configuration are measured again, and with ``--refresh`` so are rows
measured at another commit (a change of code since may have changed them). ``--tasks`` runs some of
the tasks; a configuration other than the default (``--networks one``, ...) is stored in ``results/_scratch/``.
The estimate of every estimator is compared with the task's exact I (nats); the summary gives
the mean and the largest absolute error over the tasks each estimator ran.
"""

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import jax
import numpy as np

import kellynotes
from kellynotes import api, marginals, store
from kellynotes.figures import information

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "results" / "_scratch" / "benchmark-mi"
ARTIFACT = ROOT / "results" / "benchmark-mi.json"
PEERS = tuple(name for name, _, _ in information.BENCHMARK_ESTIMATORS if name != "kellynotes")


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


def measure(task: dict, config: api.VectorInformationConfig, seed: int = 0) -> dict:
    """The row of one task: the estimate from ``jax.random.key(seed)`` (the benchmark's is 0), its
    checks and its cost, beside the peers' estimates on the same pairs."""
    start = time.perf_counter()
    result = kellynotes.estimate_mutual_information(task["x"], task["y"], key=jax.random.key(seed), config=config)
    seconds = time.perf_counter() - start
    return dict(task_id=task["task_id"], name=task["name"], dim_x=int(task["x"].shape[1]),
                dim_y=int(task["y"].shape[1]), truth=task["truth"], value=result.value, stderr=result.stderr,
                held_out_value=result.held_out_estimate.value, train_value=result.train_estimate.value,
                warnings=list(result.warnings),
                kept_steps=[int(t.selected_step) for t in result.training],
                trained_steps=[int(t.loss_steps[-1]) for t in result.training],
                gaussian_baseline=result.settings["gaussian_baseline"],
                seconds=seconds, peers=task["peers"], provenance=store.provenance(seconds))


def same_settings(stored: dict, config: api.VectorInformationConfig) -> bool:
    """Whether rows stored with the settings ``stored`` are those ``config`` would measure
    (:func:`kellynotes.api.same_vector_settings`). Runs stored before whitening existed did not whiten;
    under ``whiten="auto"`` they still count if no sampled task has a flattened variable (then "auto"
    whitens nothing and computes the very same thing)."""
    if api.same_vector_settings(stored, config):
        return True
    if stored.get("whiten", False) is False and config.whiten == "auto" \
            and api.same_vector_settings({**stored, "whiten": "auto"}, config):
        return not any(marginals.is_flattened(marginals.transform(task[name], config.marginals))
                       for task in map(load_task, sorted(SAMPLES.glob("*.npz"))) for name in ("x", "y"))
    return False


def save(rows: list[dict], config: api.VectorInformationConfig, artifact_path: Path,
         stored: dict | None = None) -> None:
    """The artifact pair ``benchmark-mi.{json,npz}`` (the schema of
    :func:`kellynotes.store.load_artifact`): the rows in the json, their numbers as arrays.
    With ``stored`` (an artifact whose peers alone changed) its settings and provenance are kept, and
    the provenance records when the peers were added."""
    rows = sorted(rows, key=lambda row: row["name"])
    if stored is None:
        settings = dict(estimate=asdict(config), num_pairs=10_000, sample_seed=0, peers=list(PEERS))
        provenance = store.provenance(sum(row["seconds"] for row in rows))  # the rows' own wall times
    else:
        settings = stored["config"]
        now = store.provenance(0.0)
        provenance = dict(stored["provenance"], peers_added=dict(git_commit=now["git_commit"], date=now["date"]))
    artifact = dict(name="benchmark-mi", kind="benchmark-mi", config=settings,
                    results=dict(rows=rows), training={}, provenance=provenance)
    arrays = dict(truth=[row["truth"] for row in rows], value=[row["value"] for row in rows],
                  stderr=[row["stderr"] for row in rows], seconds=[row["seconds"] for row in rows],
                  **{name.replace("-", "_"): [row["peers"]["estimates"].get(name, np.nan) for row in rows]
                     for name in PEERS})
    store.save_artifact(artifact_path, artifact, {key: np.asarray(value, np.float64) for key, value in arrays.items()},
                        compressed=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=None, help="task ids (default: every sampled task)")
    parser.add_argument("--table-only", action="store_true", help="print the stored table, measure nothing")
    parser.add_argument("--refresh", action="store_true", help=store.REFRESH_HELP)
    parser.add_argument("--networks", choices=["two", "one"], default=api.VectorInformationConfig().networks,
                        help="a variant other than the default is stored in results/_scratch/, not in the artifact")
    parser.add_argument("--whiten", choices=["auto", "yes", "no"], default="auto",
                        help="whiten x and y after the copula map (VectorInformationConfig.whiten; auto: the flattened ones)")
    parser.add_argument("--learning-rate", type=float, default=api.VectorInformationConfig().train.learning_rate,
                        help="TrainConfig.learning_rate (a value other than the default is a variant)")
    parser.add_argument("--label-dropout", type=float, default=api.VectorInformationConfig().train.label_dropout,
                        help="TrainConfig.label_dropout (a value other than the default is a variant)")
    parser.add_argument("--warmup-steps", type=int, default=api.VectorInformationConfig().train.warmup_steps,
                        help="TrainConfig.warmup_steps (a value other than the default is a variant)")
    parser.add_argument("--residual", choices=["yes", "no"],
                        default="yes" if api.VectorInformationConfig().train.residual else "no",
                        help="TrainConfig.residual, the network's body (a value other than the default is a variant)")
    parser.add_argument("--patience", type=int, default=api.VectorInformationConfig().train.patience or 0,
                        help="TrainConfig.patience in steps, 0 for none (a value other than the default is a variant)")
    parser.add_argument("--baseline", choices=list(api.BASELINES), default=api.VectorInformationConfig().baseline,
                        help="VectorInformationConfig.baseline (a value other than the default is a variant)")
    parser.add_argument("--baseline-margin", type=float, default=api.VectorInformationConfig().baseline_margin,
                        help="VectorInformationConfig.baseline_margin (a value other than the default is a variant)")
    parser.add_argument("--gaussian-patience", type=int, default=api.VectorInformationConfig().gaussian_patience or 0,
                        help="VectorInformationConfig.gaussian_patience in steps, 0 for none "
                             "(a value other than the default is a variant)")
    parser.add_argument("--gaussian-estimate", choices=api.GAUSSIAN_ESTIMATES,
                        default=api.VectorInformationConfig().gaussian_estimate,
                        help="VectorInformationConfig.gaussian_estimate: the value where the Gaussian is kept "
                             "(a value other than the default is a variant)")
    args = parser.parse_args()
    commit = store.code_commit()  # read before the first row is measured, so that every row names the same code
    default = api.VectorInformationConfig()
    config = replace(default, networks=args.networks,
                     train=replace(default.train, learning_rate=args.learning_rate, label_dropout=args.label_dropout,
                                 warmup_steps=args.warmup_steps, residual=args.residual == "yes",
                                 patience=args.patience or None),
                     whiten={"auto": "auto", "yes": True, "no": False}[args.whiten], baseline=args.baseline,
                     baseline_margin=args.baseline_margin, gaussian_patience=args.gaussian_patience or None,
                     gaussian_estimate=args.gaussian_estimate)
    variant = (f"{args.networks}{'' if config.whiten == 'auto' else '-whitened' if config.whiten else '-unwhitened'}"
               f"{'' if args.learning_rate == default.train.learning_rate else f'-lr{args.learning_rate:g}'}"
               f"{'' if args.label_dropout == default.train.label_dropout else f'-dropout{args.label_dropout:g}'}"
               f"{'' if args.warmup_steps == default.train.warmup_steps else f'-warmup{args.warmup_steps}'}"
               f"{'' if config.train.residual == default.train.residual else f'-residual-{args.residual}'}"
               f"{'' if config.train.patience == default.train.patience else f'-patience{args.patience}'}"
               f"{'' if args.baseline == default.baseline else f'-{args.baseline}-baseline'}"
               f"{'' if args.baseline_margin == default.baseline_margin else f'-margin{args.baseline_margin:g}'}"
               f"{'' if config.gaussian_patience == default.gaussian_patience else f'-gaussian-patience{args.gaussian_patience}'}"
               f"{'' if args.gaussian_estimate == default.gaussian_estimate else f'-gaussian-{args.gaussian_estimate}'}")
    artifact_path = ARTIFACT if config == api.VectorInformationConfig() else SAMPLES.parent / f"benchmark-mi-{variant}.json"
    stored = json.loads(artifact_path.read_text()) if artifact_path.exists() else None
    same = stored is not None and same_settings(stored["config"]["estimate"], config)
    rows = {row["task_id"]: row for row in stored["results"]["rows"]} if same else {}
    if not args.table_only:
        paths = sorted(SAMPLES.glob("*.npz")) if args.tasks is None else [SAMPLES / f"{t}.npz" for t in args.tasks]
        missing = [path.name for path in paths if not path.exists()]
        if not paths or missing:
            raise SystemExit(f"no benchmark samples {missing or ''} in {SAMPLES}: run "
                             "benchmarks/benchmark_mi_sample.py in its own venv first (see its docstring)")
        selected = {path.stem for path in paths}  # benchmark_mi_sample.py names each file by its task id
        if kept := store.refresh_rows(rows, selected, commit, refresh=args.refresh):
            print(kept, flush=True)
        for path in paths:
            task = load_task(path)
            if task["task_id"] in rows:
                if rows[task["task_id"]]["peers"] != task["peers"]:  # a peer has been run since
                    rows[task["task_id"]]["peers"] = task["peers"]
                    stored = json.loads(artifact_path.read_text())
                    save(list(rows.values()), config, artifact_path, stored=stored)
                continue
            rows[task["task_id"]] = measure(task, config)
            save(list(rows.values()), config, artifact_path)
            row = rows[task["task_id"]]
            print(f"{row['name']:48s} {row['truth']:6.3f} {row['value']:7.3f} ± {row['stderr']:.3f} "
                  f"({row['value'] - row['truth']:+.3f}) {row['seconds']:4.0f} s", flush=True)
    if not rows:
        raise SystemExit(f"no stored rows in {artifact_path}")
    print(information.benchmark_table(sorted(rows.values(), key=lambda row: row["name"])))


if __name__ == "__main__":
    main()
