"""Probability-flow ODE solvers for guided sampling: error against steps and wall time.

    .venv/bin/python benchmarks/guidance_solvers.py            # ~2-3 min on 2 CPU cores
    .venv/bin/python benchmarks/guidance_solvers.py --quick    # smoke run (N=500, fewer solvers)

``sampling.probability_flow`` on the full-rank joint Gaussian (``gaussian.full_rank(key(0),
25, 5, 1.0)``) with the exact guided field (``guidance.guided_field`` of
``gaussian.exact_entropy_field``) at w=0 and w=4, from s=T down to s_end=1e-3, for N=5000
samples started from the exact p_T(x|y) (so w=0 must return p_d up to solver error).
Solvers: adaptive Tsit5 at rtol=atol in {1e-3, 1e-4, 1e-5, 1e-6}, fixed-step Tsit5, Heun
and Euler at several step counts.

Errors are measured against the exact law of guided samples (``guidance.guided_gaussian``,
float64 Radau): the flow is affine, x = Φ x_T + Ψ y, so a float64 least-squares fit of the
outputs on (x_T, y) recovers the solver's Φ̂, Ψ̂ (fit residual ~1e-6: the numerical map is
affine too) and gives the guided gain Ĝ = Φ̂ sqrt(α_T) K + Ψ̂ and conditional covariance
Σ̂ = Φ̂ C_T Φ̂ᵀ, compared with the exact G and Σ_CFG (max abs error / max abs entry), and
"KL nats" = E_y KL(N(Ĝy, Σ̂) || N(Gy, Σ_CFG)), which weighs every direction by its exact
spread (the relative errors hardly see the narrow directions that the flow squeezes).
"sample err" is the max abs difference of the samples from adaptive Tsit5 at rtol=atol=1e-8
(float32, so its floor is ~1e-6).

Timing: "run s" is the median of three calls with the compiled code reused, "compile s" the
first call (trace + compile + run) minus that. Adaptive Tsit5 compiles once per field (rtol
and atol are runtime arguments), so only its first row per w shows a compilation; the
fixed-step solvers compile once per step count. "evals" counts calls of the guided field on
the whole batch (each is two exact-field evaluations). The table goes to stdout, progress
to stderr.
"""

import argparse
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from kellynotes import gaussian, guidance, sampling
from kellynotes.sde import VPSDE

DIM_X, DIM_Y, NOISE_STD = 25, 5, 1.0
S_END = 1e-3
WEIGHTS = (0.0, 4.0)
REPEATS = 3
REFERENCE_TOL = 1e-8
FULL = dict(
    n=5000,
    configs=[("tsit5", None, tol) for tol in (1e-3, 1e-4, 1e-5, 1e-6)]
    + [("tsit5", n, None) for n in (12, 25, 50)]
    + [("heun", n, None) for n in (25, 50, 100, 200, 400)]
    + [("euler", n, None) for n in (25, 50, 100, 200, 400)],
)
QUICK = dict(n=500, configs=[("tsit5", None, 1e-3), ("tsit5", None, 1e-5), ("heun", 50, None), ("euler", 50, None)])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def exact_starts(g: gaussian.JointGaussian, sde: VPSDE, key, n: int):
    """(x_T, y) with y from the data and x_T from the exact p_T(x|y) = N(sqrt(α_T) K y, C_T), float64."""
    key_y, key_z = jax.random.split(key)
    _, y = g.sample(key_y, n)
    y = np.asarray(y, np.float64)
    alpha_T, var_T = float(sde.alpha(sde.T)), float(sde.variance(sde.T))
    cov_T = alpha_T * g.cov_x_given_y + var_T * np.eye(g.dim_x)
    z = np.asarray(jax.random.normal(key_z, (n, g.dim_x)), np.float64)
    x_T = y @ (np.sqrt(alpha_T) * g.gain).T + z @ np.linalg.cholesky(cov_T).T
    return x_T, y, alpha_T, cov_T


def law_errors(out, x_T, y, g, alpha_T, cov_T, exact: guidance.GuidedGaussian):
    """Relative max errors of Ĝ and Σ̂ from the affine fit, their conditional KL (nats) and the
    fit's max residual."""
    design = np.concatenate([x_T, y], axis=1)
    out = np.asarray(out, np.float64)
    coef, *_ = np.linalg.lstsq(design, out, rcond=None)
    phi, psi = coef[: g.dim_x].T, coef[g.dim_x:].T
    gain = phi @ (np.sqrt(alpha_T) * g.gain) + psi
    cov = phi @ cov_T @ phi.T
    residual = float(np.abs(out - design @ coef).max())
    err_gain = float(np.abs(gain - exact.gain).max() / np.abs(exact.gain).max())
    err_cov = float(np.abs(cov - exact.cov_x_given_y).max() / np.abs(exact.cov_x_given_y).max())
    return err_gain, err_cov, conditional_kl(gain, cov, exact), residual


def conditional_kl(gain, cov, exact: guidance.GuidedGaussian) -> float:
    """E_y KL(N(Ĝy, Σ̂) || N(Gy, Σ_CFG)) in nats: every direction weighed by its exact spread."""
    chol = np.linalg.cholesky(exact.cov_x_given_y)
    whitened = np.linalg.solve(chol, np.linalg.solve(chol, cov).T)
    shift = np.linalg.eigvalsh(whitened - np.eye(len(whitened)))
    mean_error = np.linalg.solve(chol, gain - exact.gain)
    return float(0.5 * np.sum(shift - np.log1p(shift)) + 0.5 * np.trace(mean_error @ exact.cov_y @ mean_error.T))


def timed(run):
    start = time.perf_counter()
    result = run()
    result.x.block_until_ready()
    first = time.perf_counter() - start
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run().x.block_until_ready()
        times.append(time.perf_counter() - start)
    return result, first, float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: N=500 and four solvers")
    args = parser.parse_args()
    setup = QUICK if args.quick else FULL
    sde = VPSDE()
    g = gaussian.full_rank(jax.random.key(0), DIM_X, DIM_Y, NOISE_STD)
    x_T, y, alpha_T, cov_T = exact_starts(g, sde, jax.random.key(1), setup["n"])
    x_T32, y32 = jnp.asarray(x_T, jnp.float32), jnp.asarray(y, jnp.float32)
    exact_field = partial(gaussian.exact_entropy_field, g, sde)
    total = time.perf_counter()

    print(f"Guided probability-flow ODE, full-rank Gaussian D_X={DIM_X}, D_Y={DIM_Y}, sigma_eps={NOISE_STD}, "
          f"N={setup['n']}, s: {sde.T} -> {S_END}, float32; errors relative to guidance.guided_gaussian")
    header = (f"{'solver':7s} {'setting':>11s} {'steps':>6s} {'rej':>4s} {'evals':>6s} {'compile s':>9s} "
              f"{'run s':>7s} {'err G':>8s} {'err Sigma':>9s} {'KL nats':>8s} {'sample err':>10s}")
    for w in WEIGHTS:
        start = time.perf_counter()
        exact = guidance.guided_gaussian(g, w, sde, s_end=S_END)
        log(f"[w={w:g}] exact guided law in {time.perf_counter() - start:.1f} s")
        field = guidance.guided_field(exact_field, w)
        flow = partial(sampling.probability_flow, field, sde, x_T32, y=y32, s_end=S_END)
        rows = []
        for solver, num_steps, tol in setup["configs"]:
            options = dict(solver=solver, num_steps=num_steps)
            if tol is not None:
                options.update(rtol=tol, atol=tol)
            result, first, run = timed(partial(flow, **options))
            setting = f"tol={tol:g}" if tol is not None else f"{num_steps} fixed"
            rows.append((solver, setting, result, first, run))
            log(f"[w={w:g}] {solver} {setting}: {result.num_steps} steps, first call {first:.2f} s, run {run:.3f} s")
        # The reference runs last, so that the first adaptive row above carries the compilation.
        reference = flow(rtol=REFERENCE_TOL, atol=REFERENCE_TOL)
        ref_gain, ref_cov, ref_kl, ref_residual = law_errors(reference.x, x_T, y, g, alpha_T, cov_T, exact)
        print(f"-- w={w:g}: I(X_CFG;Y) = {exact.mutual_information():.3f} nats; reference Tsit5 "
              f"rtol=atol={REFERENCE_TOL:g}: {reference.num_steps} steps, err G {ref_gain:.1e}, "
              f"err Sigma {ref_cov:.1e}, KL {ref_kl:.1e} nats, affine-fit residual {ref_residual:.1e}")
        print(header)
        for solver, setting, result, first, run in rows:
            err_gain, err_cov, kl, _ = law_errors(result.x, x_T, y, g, alpha_T, cov_T, exact)
            sample_err = float(jnp.abs(result.x - reference.x).max())
            print(f"{solver:7s} {setting:>11s} {result.num_steps:6d} {result.num_rejected_steps:4d} "
                  f"{result.num_field_evaluations:6d} {max(first - run, 0.0):9.2f} {run:7.3f} {err_gain:8.1e} "
                  f"{err_cov:9.1e} {kl:8.1e} {sample_err:10.1e}", flush=True)
    print(f"total wall time {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
