"""Entropy matching on the joint Gaussian: trained estimators against the exact values.

    .venv/bin/python benchmarks/entropy_gaussian.py                 # both sweeps, ~5-8 min on 2 CPU cores
    .venv/bin/python benchmarks/entropy_gaussian.py --quick         # smoke run, well under a minute
    .venv/bin/python benchmarks/entropy_gaussian.py --only flattening

Two sweeps of Sec. 6 / App. E.1 of the paper:

* *determinism*: ``gaussian.full_rank`` with D_X=25, D_Y=15 and σ_ε in {1.0, 0.6, 0.25}
  (S^X fixed, I(X;Y) grows as σ_ε shrinks; Fig. 10);
* *flattening*: ``gaussian.flattened`` with D_X=50, D_Y=8, k=10, σ_ε=1.0 and λ_δ in
  {1e-1, 1e-2, 1e-3, 1e-4} (S^X blows up, I(X;Y) stays finite; Figs. 9, 11).

For each case ONE conditional network is trained (label dropout makes it unconditional
too) with ``entropy.train`` and the default ``TrainConfig`` on N=100_000 pairs. The same
network gives S_NN^X, S_NN^{X|Y}, I by MINDE (Eq. 14) and I as the entropy difference
(Eq. 52); each is compared with the exact integral cut at the same s_min
(``gaussian.total_entropy_x(g, sde, s_min)`` etc.). Errors are signed, relative, in %.
The table goes to stdout, progress to stderr; a verdict against the targets
(|err| <= 2% for I at every σ_ε, <= 3% for S_NN at full rank) closes each sweep.
"""

import argparse
import sys
import time

import jax

from kellynotes import entropy, gaussian
from kellynotes.sde import VPSDE

N_SAMPLES = 100_000
ESTIMATE_SAMPLES = 200_000
I_TARGET = 2.0  # % relative error allowed on I(X;Y)
S_TARGET = 3.0  # % relative error allowed on S_NN

DETERMINISM = dict(dim_x=25, dim_y=15, noise_stds=(1.0, 0.6, 0.25), seed=0)
FLATTENING = dict(dim_x=50, dim_y=8, k=10, noise_std=1.0, lambda_deltas=(1e-1, 1e-2, 1e-3, 1e-4), seed=1)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def relative_error(estimate: float, exact: float) -> float:
    return 100.0 * (estimate - exact) / exact


def run_case(name: str, g: gaussian.JointGaussian, *, key, config: entropy.TrainConfig, n: int,
             num_samples: int, sde: VPSDE) -> dict:
    key_data, key_train, key_sx, key_sxy, key_minde, key_diff = jax.random.split(key, 6)
    x, y = g.sample(key_data, n)
    log(f"[{name}] training on {n} pairs, {config.steps} steps ...")
    training = entropy.train(key_train, x, y, config=config, sde=sde)
    log(f"[{name}] trained in {training.wall_time_s:.1f} s (final loss {training.loss[-1]:.3f}); estimating ...")
    start = time.perf_counter()
    field = training.model.entropy_field
    options = dict(s_min=config.s_min, num_samples=num_samples)
    s_x = entropy.neural_entropy(field, sde, x, key=key_sx, **options)
    s_xy = entropy.neural_entropy(field, sde, x, key=key_sxy, y=y, **options)
    minde = entropy.mutual_information_minde(field, sde, x, y, key=key_minde, **options)
    diff = entropy.mutual_information_entropy_difference(field, sde, x, y, key=key_diff, **options)
    estimate_s = time.perf_counter() - start
    exact_sx = gaussian.total_entropy_x(g, sde, config.s_min)
    exact_sxy = gaussian.total_entropy_x_given_y(g, sde, config.s_min)
    exact_i = gaussian.mutual_information(g, sde, config.s_min)
    row = dict(
        case=name,
        exact_sx=exact_sx, est_sx=s_x.value, err_sx=relative_error(s_x.value, exact_sx),
        exact_sxy=exact_sxy, est_sxy=s_xy.value, err_sxy=relative_error(s_xy.value, exact_sxy),
        exact_i=exact_i, minde=minde.value, err_minde=relative_error(minde.value, exact_i),
        diff=diff.value, err_diff=relative_error(diff.value, exact_i),
        stderr=dict(sx=s_x.stderr, sxy=s_xy.stderr, minde=minde.stderr, diff=diff.stderr),
        train_s=training.wall_time_s, estimate_s=estimate_s,
    )
    log(f"[{name}] estimated in {estimate_s:.1f} s: S_X {s_x:.3f} (exact {exact_sx:.3f}), "
        f"S_X|Y {s_xy:.3f} (exact {exact_sxy:.3f}), MINDE {minde:.3f}, diff {diff:.3f} (exact I {exact_i:.3f})")
    return row


HEADER = (f"{'case':18s} {'S_X':>8s} {'est':>8s} {'err%':>6s} {'S_X|Y':>8s} {'est':>8s} {'err%':>6s} "
          f"{'I':>7s} {'MINDE':>7s} {'err%':>6s} {'diff':>7s} {'err%':>6s} {'train s':>8s}")


def format_row(r: dict) -> str:
    return (f"{r['case']:18s} {r['exact_sx']:8.3f} {r['est_sx']:8.3f} {r['err_sx']:+6.2f} "
            f"{r['exact_sxy']:8.3f} {r['est_sxy']:8.3f} {r['err_sxy']:+6.2f} "
            f"{r['exact_i']:7.3f} {r['minde']:7.3f} {r['err_minde']:+6.2f} {r['diff']:7.3f} {r['err_diff']:+6.2f} "
            f"{r['train_s']:8.1f}")


def stderr_line(rows: list[dict]) -> str:
    """The largest Monte Carlo standard error of each estimate, relative to the exact value, in %."""
    pairs = (("S_X", "sx", "exact_sx"), ("S_X|Y", "sxy", "exact_sxy"), ("MINDE", "minde", "exact_i"),
             ("diff", "diff", "exact_i"))
    parts = [f"{label} {max(100 * r['stderr'][k] / r[exact] for r in rows):.2f}%" for label, k, exact in pairs]
    return "   (largest Monte Carlo s.e. of the estimates: " + ", ".join(parts) + ")"


def passes(value: float, target: float) -> str:
    return "ok" if abs(value) <= target else "FAIL"


def determinism_verdict(rows: list[dict]) -> list[str]:
    worst_i = max(rows, key=lambda r: abs(r["err_minde"]))
    worst_d = max(rows, key=lambda r: abs(r["err_diff"]))
    worst_s = max((abs(r["err_sx"]), r["case"], "S_X") for r in rows)
    worst_sy = max((abs(r["err_sxy"]), r["case"], "S_X|Y") for r in rows)
    worst_s = max(worst_s, worst_sy)
    return [
        f"determinism: I by MINDE |err| <= {I_TARGET:g}% at every sigma_eps: "
        f"{passes(worst_i['err_minde'], I_TARGET)} (worst {worst_i['err_minde']:+.2f}% at {worst_i['case']}); "
        f"entropy difference: {passes(worst_d['err_diff'], I_TARGET)} "
        f"(worst {worst_d['err_diff']:+.2f}% at {worst_d['case']})",
        f"determinism: S_NN |err| <= {S_TARGET:g}% at full rank: {passes(worst_s[0], S_TARGET)} "
        f"(worst {worst_s[2]} {worst_s[0]:.2f}% at {worst_s[1]})",
    ]


def flattening_verdict(rows: list[dict], lambda_deltas) -> list[str]:
    lines = []
    s_break = next((ld for ld, r in zip(lambda_deltas, rows)
                    if max(abs(r["err_sx"]), abs(r["err_sxy"])) > S_TARGET), None)
    i_break = next((ld for ld, r in zip(lambda_deltas, rows) if abs(r["err_minde"]) > I_TARGET), None)
    d_break = next((ld for ld, r in zip(lambda_deltas, rows) if abs(r["err_diff"]) > I_TARGET), None)
    if s_break is None:
        lines.append(f"flattening: S_NN stays within {S_TARGET:g}% down to lambda_delta={lambda_deltas[-1]:g}")
    else:
        r = rows[list(lambda_deltas).index(s_break)]
        lines.append(f"flattening: S_NN breaks (|err| > {S_TARGET:g}%) at lambda_delta={s_break:g} "
                     f"(S_X {r['err_sx']:+.2f}%, S_X|Y {r['err_sxy']:+.2f}%)")
    for label, brk, key in (("MINDE", i_break, "err_minde"), ("entropy difference", d_break, "err_diff")):
        if brk is None:
            worst = max(rows, key=lambda r: abs(r[key]))
            lines.append(f"flattening: I by {label} holds (|err| <= {I_TARGET:g}%) at every lambda_delta "
                         f"(worst {worst[key]:+.2f}% at {worst['case']})")
        else:
            r = rows[list(lambda_deltas).index(brk)]
            lines.append(f"flattening: I by {label} breaks (|err| > {I_TARGET:g}%) at lambda_delta={brk:g} "
                         f"({r[key]:+.2f}%)")
    if s_break is not None:
        # the sweep runs from large to small lambda_delta: I holds at the S_NN break if it breaks later or never
        holds = i_break is None or list(lambda_deltas).index(i_break) > list(lambda_deltas).index(s_break)
        lines.append(f"flattening: at lambda_delta={s_break:g} S_NN has broken and I by MINDE "
                     f"{'still holds' if holds else f'has broken too (first at lambda_delta={i_break:g})'}")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one case per sweep, 1000 steps, N=20_000")
    parser.add_argument("--only", choices=("determinism", "flattening"), help="run one sweep only")
    args = parser.parse_args(argv)

    sde = VPSDE()
    if args.quick:
        config = entropy.TrainConfig(steps=1_000, warmup_steps=100, progress=False)
        n, num_samples = 20_000, 50_000
        noise_stds, lambda_deltas = DETERMINISM["noise_stds"][:1], FLATTENING["lambda_deltas"][:1]
    else:
        config = entropy.TrainConfig(progress=False)
        n, num_samples = N_SAMPLES, ESTIMATE_SAMPLES
        noise_stds, lambda_deltas = DETERMINISM["noise_stds"], FLATTENING["lambda_deltas"]

    log(f"jax {jax.__version__} on {jax.devices()[0].platform}; steps={config.steps}, batch={config.batch_size}, "
        f"lr={config.learning_rate}, label_dropout={config.label_dropout}, s_min={config.s_min}, N={n}, "
        f"estimate samples={num_samples}")
    start = time.perf_counter()
    print("Relative errors (signed, %) of the trained estimators against the exact values cut at "
          f"s_min={config.s_min:g}, nats; N={n}, {config.steps} steps")
    print(HEADER)
    verdicts = []

    if args.only in (None, "determinism"):
        print(f"-- determinism: full rank, D_X={DETERMINISM['dim_x']}, D_Y={DETERMINISM['dim_y']}")
        rows = []
        for i, sigma in enumerate(noise_stds):
            g = gaussian.full_rank(jax.random.key(DETERMINISM["seed"]), DETERMINISM["dim_x"],
                                   DETERMINISM["dim_y"], noise_std=sigma)
            rows.append(run_case(f"sigma_eps={sigma:g}", g, key=jax.random.key(100 + i), config=config,
                                 n=n, num_samples=num_samples, sde=sde))
            print(format_row(rows[-1]), flush=True)
        print(stderr_line(rows))
        verdicts += determinism_verdict(rows)

    if args.only in (None, "flattening"):
        f = FLATTENING
        print(f"-- flattening: D_X={f['dim_x']}, D_Y={f['dim_y']}, k={f['k']}, sigma_eps={f['noise_std']:g}")
        rows = []
        for i, ld in enumerate(lambda_deltas):
            g = gaussian.flattened(jax.random.key(f["seed"]), f["dim_x"], f["dim_y"], f["k"], ld, f["noise_std"])
            rows.append(run_case(f"lambda_delta={ld:g}", g, key=jax.random.key(200 + i), config=config,
                                 n=n, num_samples=num_samples, sde=sde))
            print(format_row(rows[-1]), flush=True)
        print(stderr_line(rows))
        verdicts += flattening_verdict(rows, lambda_deltas)

    print()
    for line in verdicts:
        print(line)
    print(f"total wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
