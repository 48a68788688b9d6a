"""Flattening sweeps of the paper (Figs. 9 and 11): I(X;Y) by estimate_mutual_information, four protocols.

    .venv/bin/python benchmarks/flattening.py                  # both sweeps, 4 protocols, ~55 min on 2 CPU cores
    .venv/bin/python benchmarks/flattening.py --table-only     # print the stored table
    .venv/bin/python benchmarks/flattening.py --sweeps fig11 --lambdas 1e-3 --protocols whitened

The joint Gaussians of `gaussian.flattened` (Eq. 18 / 58), sigma_eps = 1, lambda_delta in
{1e-1, 1e-2, 1e-3, 1e-4}:

* **fig9**: D_X = 25, D_Y = 15, k = 5 (the paper's Fig. 9 gives D_X and D_Y but not k; k = D_X/5
  as in Fig. 11);
* **fig11**: D_X = 50, D_Y = 8, k = 10 (Fig. 11).

For each case N = 100,000 pairs are drawn and handed to `kellynotes.estimate_mutual_information`
(split 70/10/20, weights chosen on the validation pairs, MINDE on the held-out pairs) under
four protocols, i.e. four `VectorInformationConfig`s:

* **paper**: the paper's protocol, two networks (a conditional one trained on the pairs and an
  unconditional one on x), data as given (`networks="two", marginals="none", whiten=False`);
* **one network**: one network with label dropout and the copula map of the marginals
  (`networks="one", marginals="rank_gaussian"`, the default before whitening was measured);
* **whitened**: the same, then x and y each whitened (`whiten=True`, `marginals.whiten`);
* **default**: `VectorInformationConfig()`, which trains the residual body at learning rate 1e-3 (the
  other three a plain MLP at `TrainConfig`'s 3e-3, as their rows were measured), whitens a variable only if it is flattened
  (`whiten="auto"`, `marginals.is_flattened`) and lets a fitted Gaussian compete with the network
  (`baseline="candidate"`); the row records which variables were whitened (``whitened``) and
  whether the Gaussian won (``gaussian_baseline``). The other three fit no Gaussian.

Errors are signed, in % of the exact I(X;Y) (Eq. 55, uncut). "cut" is the exact I of the data
as given, integrated from s_min = 1e-3 (`gaussian.mutual_information(g, sde, s_min)`), which is
what a network trained on the raw pairs can at best return; after whitening the thin directions
have unit variance and the cut costs nothing. Rows are stored in ``results/flattening.{json,npz}``
as they finish, each with its own provenance (a rerun skips those done with the same settings, and
with ``--refresh`` measures again those done at another commit); the MINDE chapter draws them.
The verdict checks the target: |error| <= 2 % at every lambda_delta >= 1e-3, per sweep and protocol.
"""

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import jax
import numpy as np

import kellynotes
from kellynotes import api, entropy, gaussian, store
from kellynotes.figures import information
from kellynotes.sde import VPSDE

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "results" / "flattening.json"
NUM_PAIRS = 100_000
SWEEPS = {"fig9": dict(dim_x=25, dim_y=15, k=5), "fig11": dict(dim_x=50, dim_y=8, k=10)}
LAMBDAS = information.FLATTENING_LAMBDAS
# The three comparison protocols train at TrainConfig's learning rate, 3e-3, as their rows were measured;
# "default" is VectorInformationConfig() itself (learning rate 1e-3 for vectors since commit 1eabbb7).
_QUIET = api.VectorInformationConfig(train=replace(entropy.TrainConfig(), progress=False))
_DEFAULT = api.VectorInformationConfig()
PROTOCOLS = {
    "paper": replace(_QUIET, networks="two", marginals="none", whiten=False, baseline="none"),
    "one network": replace(_QUIET, networks="one", marginals="rank_gaussian", whiten=False, baseline="none"),
    "whitened": replace(_QUIET, networks="one", marginals="rank_gaussian", whiten=True, baseline="none"),
    # whiten="auto": whitens the flattened variables only; the Gaussian candidate
    "default": replace(_DEFAULT, train=replace(_DEFAULT.train, progress=False)),
}


def same_config(row: dict, protocol: str) -> bool:
    """Whether a stored row was measured with today's settings of its protocol
    (:func:`kellynotes.api.same_vector_settings`: settings added since count with the behaviour the row had)."""
    return api.same_vector_settings(row["config"], PROTOCOLS[protocol])


def measure(sweep: str, lambda_delta: float, protocol: str) -> dict:
    sde = VPSDE()
    config = PROTOCOLS[protocol]
    g = gaussian.flattened(jax.random.key(1), noise_std=1.0, lambda_delta=lambda_delta, **SWEEPS[sweep])
    x, y = g.sample(jax.random.key(2), NUM_PAIRS)
    start = time.perf_counter()
    result = kellynotes.estimate_mutual_information(np.asarray(x), np.asarray(y), key=jax.random.key(0), config=config)
    seconds = time.perf_counter() - start
    return dict(sweep=sweep, lambda_delta=lambda_delta, protocol=protocol, **SWEEPS[sweep],
                truth=gaussian.mutual_information(g), cut_truth=gaussian.mutual_information(g, sde, config.train.s_min),
                total_entropy_x=gaussian.total_entropy_x(g), value=result.value, stderr=result.stderr,
                train_value=result.train_estimate.value, entropy_difference=result.entropy_difference.value,
                kept_steps=[int(t.selected_step) for t in result.training], warnings=list(result.warnings),
                whitened=result.settings["whitened"], gaussian_baseline=result.settings["gaussian_baseline"],
                seconds=seconds, config=json.loads(json.dumps(asdict(config))), provenance=store.provenance(seconds))


def row_key(row: dict) -> tuple:
    return row["sweep"], row["lambda_delta"], row["protocol"]


def save(rows: list[dict]) -> None:
    """``results/flattening.{json,npz}`` in the schema of :func:`kellynotes.store.load_artifact`."""
    rows = sorted(rows, key=lambda row: (row["sweep"], list(PROTOCOLS).index(row["protocol"]), -row["lambda_delta"]))
    config = dict(num_pairs=NUM_PAIRS, sweeps=SWEEPS, noise_std=1.0, gaussian_seed=1, sample_seed=2,
                  protocols={name: json.loads(json.dumps(asdict(c))) for name, c in PROTOCOLS.items()})
    store.save_rows(ARTIFACT, rows, config, ("lambda_delta", "truth", "cut_truth", "value", "stderr", "seconds"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", nargs="*", choices=list(SWEEPS), default=list(SWEEPS))
    parser.add_argument("--lambdas", nargs="*", type=float, default=list(LAMBDAS))
    parser.add_argument("--protocols", nargs="*", choices=list(PROTOCOLS), default=list(PROTOCOLS))
    parser.add_argument("--table-only", action="store_true", help="print the stored table, measure nothing")
    parser.add_argument("--refresh", action="store_true", help=store.REFRESH_HELP)
    args = parser.parse_args()
    commit = store.code_commit()  # read before the first row is measured, so that every row names the same code
    stored = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else None
    rows = {}
    if stored is not None and stored["config"]["num_pairs"] == NUM_PAIRS:
        for row in stored["results"]["rows"]:  # kept if measured with the settings of today
            same_law = row["sweep"] in SWEEPS and all(row[key] == value for key, value in SWEEPS[row["sweep"]].items())
            if same_law and row["protocol"] in PROTOCOLS and same_config(row, row["protocol"]):
                rows[row_key(row)] = row
    if not args.table_only:
        selected = {(sweep, lambda_delta, protocol)
                    for sweep in args.sweeps for lambda_delta in args.lambdas for protocol in args.protocols}
        if kept := store.refresh_rows(rows, selected, commit, refresh=args.refresh):
            print(kept, file=sys.stderr, flush=True)
        for sweep in args.sweeps:
            for protocol in args.protocols:
                for lambda_delta in args.lambdas:
                    if (sweep, lambda_delta, protocol) in rows:
                        continue
                    print(f"{sweep} lambda_delta={lambda_delta:g} {protocol} ...", file=sys.stderr, flush=True)
                    row = measure(sweep, lambda_delta, protocol)
                    rows[row_key(row)] = row
                    save(list(rows.values()))
                    print(f"  {row['value']:.3f} ± {row['stderr']:.3f} against {row['truth']:.3f} "
                          f"({information.flattening_error_percent(row):+.1f} %), {row['seconds']:.0f} s",
                          file=sys.stderr, flush=True)
    if not rows:
        raise SystemExit(f"no stored rows in {ARTIFACT}")
    print(information.flattening_table(list(rows.values())))
    print()
    for line in information.flattening_verdicts(list(rows.values())):
        print(line)


if __name__ == "__main__":
    main()
