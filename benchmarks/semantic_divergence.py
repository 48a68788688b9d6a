"""Error and time of the divergence and semantic-information estimators against exact answers.

    .venv/bin/python benchmarks/semantic_divergence.py            # ~1-2 min on 2 CPU cores
    .venv/bin/python benchmarks/semantic_divergence.py --quick    # smoke run (~30 s)
    .venv/bin/python benchmarks/semantic_divergence.py --only hutchinson   # or production, semantic

Three parts, each against a reference that owes nothing to the estimator it checks:

(a) **Hutchinson divergence** (``divergence.hutchinson_divergence``, Rademacher probes) of
    the exact entropy field of a Gaussian mixture (``mixture.exact_entropy_field``) in
    D ∈ {2, 8, 32}, at s ∈ {0.05, 0.3}, for num_probes ∈ {1, 4, 16}, on N points drawn from
    p_s (N=10_000; the same points for every row of one (D, s)). The mixture has K=4
    components with weights (0.1, 0.2, 0.3, 0.4), means 3/sqrt(D) · N(0, I) (so the
    components are about as far apart in every D) and per-coordinate variances uniform in
    [0.05, 0.5]. The reference is the trace of the field's Jacobian in closed form, in
    float64 NumPy: with r_k the class posterior under p_s, e_k = A_k x + b_k the component
    fields (A_k diagonal) and g_k = -(x - sqrt(α) m_k)/c_k the component scores,
    J = Σ_k r_k A_k + Σ_k r_k e_k (g_k - ḡ)^T, so tr J = Σ_k r_k tr A_k + Σ_k r_k e_k·(g_k - ḡ).
    Columns: "MAE" the mean over points of |estimate - tr J| (nats per unit s are not
    involved: this is a plain trace), "rel" = MAE / mean |tr J|, "rms" the root mean square
    error and "pred rms" the rms predicted by the Hutchinson variance
    Σ_{i<j} (J_ij + J_ji)² / P averaged over the points (from the same closed-form J), and
    "ms/1k" the time per 1000 points of the jitted call (median of 3 calls after
    compilation). "n90" is the number of points (of N) that carry 90 % of the summed
    Hutchinson variance: where it is small the error is a few large outliers and one seed's
    rms scatters widely around the prediction (which holds on average over probe seeds). The
    "exact" row is the package's ``divergence.exact_divergence`` (D forward-mode products,
    float32), its error against the float64 closed form, and its time.

(b) **Entropy production rate** dH(X_s)/ds (``divergence.entropy_production_rate``) on the
    joint Gaussian ``gaussian.full_rank(key(0), 25, 5, 1.0)`` at s ∈ {0.003, 0.05, 0.3, 0.8},
    unconditional and given Y, from 20_000 data pairs, 4096 noised samples per point (the
    default), in both forms: "divergence" -(β/2) E ∇·e (exact trace, and Hutchinson with 1
    and 16 probes) and "score_norm" (β/2)(E‖∇log p_s‖² - D). The closed forms are
    (β/2) Σ_k (1/μ_k - 1) with μ_k = α λ_k + 1 - α (λ_k the eigenvalues of Σ_X), and the
    same with the eigenvalues of Σ_{X|Y} given Y. "z" is the error in standard errors of the
    estimate; the exact-trace divergence form of a Gaussian has none (its field is linear,
    so ∇·e is the same at every point), hence "-". "s/call" is the wall time of one call
    (4 grid points; median of 3 after a first call) and "XLA s" the part of it spent in XLA
    compilation (from ``jax.monitoring``) in a repeated call: ~0 when the compiled loop is
    reused (the field is lifted by ``kellynotes.tracing``, so a call with the same shapes
    finds its compilation).

(c) **Label information** of a 1-D two-class mixture (weights 0.3/0.7, means ±1, variance
    0.05): H(Y|X_s) and the semantic information rate R(s) = dH(Y|X_s)/ds from
    ``semantic.semantic_profile`` at several s, against float64 trapezoid quadrature on
    48_001 points of [-12, 12] (the reference of tests/test_semantic.py, re-implemented
    below as ``quadrature_1d`` because it lives in the tests only), for
    samples_per_class ∈ {1000, 8000, 64000}; then the accumulated MINDE integrand
    ``semantic.accumulated_minde`` with the exact mixture fields, H(Y|X_T) - H(Y|X_s) by
    quadrature as the truth. "z" = error / standard error; times are one call for the whole
    grid (median of 3 after a first call, with the XLA compilation inside a repeated call).

Seeds are fixed. Tables go to stdout, progress to stderr.
"""

import argparse
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from kellynotes import divergence, gaussian, semantic
from kellynotes import mixture as mx
from kellynotes.sde import VPSDE

SDE = VPSDE()
FULL = dict(dims=(2, 8, 32), probes=(1, 4, 16), hutchinson_s=(0.05, 0.3), n_points=10_000,
            production_probes=(1, 16), production_samples=4096,
            semantic_s=(0.01, 0.02, 0.05, 0.1, 0.14, 0.2, 0.3, 0.45, 0.8), per_class=(1000, 8000, 64000),
            detail_per_class=(8000, 64000), minde_samples=50_000)
QUICK = dict(dims=(2, 8), probes=(1, 4), hutchinson_s=(0.3,), n_points=2000,
             production_probes=(1,), production_samples=1024,
             semantic_s=(0.05, 0.2, 0.45), per_class=(1000,), detail_per_class=(1000,), minde_samples=10_000)
REPEATS = 3


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def schedule64(s):
    """(β, α, 1 - α) of the VP schedule in float64."""
    s = np.asarray(s, np.float64)
    log_alpha = -SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2
    return SDE.beta_min + s * (SDE.beta_max - SDE.beta_min), np.exp(log_alpha), -np.expm1(log_alpha)


def timed(function, *args):
    """(result of the first call, compile s = first call - median, median s of REPEATS compiled calls)."""
    start = time.perf_counter()
    result = jax.block_until_ready(function(*args))
    first = time.perf_counter() - start
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    run = float(np.median(times))
    return result, first - run, run


_XLA_COMPILE_S = [0.0]  # running total of XLA compilation time, from jax.monitoring


def _on_duration(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _XLA_COMPILE_S[0] += duration


jax.monitoring.register_event_duration_secs_listener(_on_duration)


def timed_host(function):
    """(result of a first call, its extra time over the median, median wall time of REPEATS
    further calls, median XLA compilation time inside those calls) of ``function()``."""
    start = time.perf_counter()
    result = function()
    first = time.perf_counter() - start
    times, compiles = [], []
    for _ in range(REPEATS):
        compiled_before = _XLA_COMPILE_S[0]
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
        compiles.append(_XLA_COMPILE_S[0] - compiled_before)
    run = float(np.median(times))
    return result, first - run, run, float(np.median(compiles))


# --------------------------------------------------------------------------- #
# (a) Hutchinson against the closed-form Jacobian trace of a mixture field
# --------------------------------------------------------------------------- #


def test_mixture(dim: int) -> mx.GaussianMixture:
    rng = np.random.default_rng(dim)
    means = 3.0 / np.sqrt(dim) * rng.standard_normal((4, dim))
    variances = rng.uniform(0.05, 0.5, size=(4, dim))
    return mx.GaussianMixture([0.1, 0.2, 0.3, 0.4], means, variances)


def mixture_jacobians(mixture: mx.GaussianMixture, s: float, x: np.ndarray):
    """float64 trace of the Jacobian of ``mixture.exact_entropy_field`` at (x, s), and the
    Hutchinson variance per probe Σ_{i<j} (J_ij + J_ji)², both (N,); closed form (see the
    module docstring)."""
    _, alpha, one_minus_alpha = schedule64(s)
    x = np.asarray(x, np.float64)
    weights, means, variances = (np.asarray(a, np.float64) for a in (mixture.weights, mixture.means,
                                                                      mixture.variances))
    mu = np.sqrt(alpha) * means  # (K, D) diffused means
    c = alpha * variances + one_minus_alpha  # (K, D) diffused variances
    diff = x[:, None, :] - mu  # (N, K, D)
    log_joint = np.log(weights) - 0.5 * np.sum(np.log(2 * np.pi * c) + diff**2 / c, axis=-1)
    log_joint -= log_joint.max(axis=1, keepdims=True)
    r = np.exp(log_joint)
    r /= r.sum(axis=1, keepdims=True)  # (N, K)
    a = alpha * (variances - 1.0) / c  # (K, D): diagonal of each component field's Jacobian
    e = a * x[:, None, :] + mu / c  # (N, K, D): e_k = (α(v_k - 1) x + sqrt(α) m_k) / c_k
    g = -diff / c  # (N, K, D) component scores
    g_bar = np.einsum("nk,nkd->nd", r, g)
    centred = g - g_bar[:, None, :]  # ∇_x r_k = r_k (g_k - ḡ)
    trace = r @ a.sum(axis=1) + np.einsum("nk,nkd,nkd->n", r, e, centred)
    jac = np.einsum("nk,kd,de->nde", r, a, np.eye(x.shape[1])) + np.einsum("nk,nki,nkj->nij", r, e, centred)
    sym = jac + np.swapaxes(jac, 1, 2)
    off = sym * (1.0 - np.eye(x.shape[1]))
    variance = 0.5 * np.sum(off**2, axis=(1, 2))  # ½ Σ_{i≠j} S_ij² = Σ_{i<j} (J_ij + J_ji)², S = J + J^T
    return trace, variance


def points_for_90_percent(variance: np.ndarray) -> int:
    """How many points carry 90 % of the summed per-point variance."""
    ordered = np.sort(variance)[::-1]
    return int(np.searchsorted(np.cumsum(ordered), 0.9 * ordered.sum()) + 1)


def part_hutchinson(settings: dict) -> None:
    print("\n(a) Hutchinson divergence of mixture.exact_entropy_field vs the closed-form float64 Jacobian trace; "
          f"K=4 mixture, N={settings['n_points']} points from p_s per (D, s), float32 estimates")
    print(f"{'D':>3s} {'s':>5s} {'estimator':>10s} {'mean|trJ|':>9s} {'MAE':>9s} {'rel':>8s} {'rms':>9s} "
          f"{'pred rms':>9s} {'n90':>6s} {'ms/1k':>8s} {'compile s':>9s}")
    for dim in settings["dims"]:
        mixture = test_mixture(dim)
        for s in settings["hutchinson_s"]:
            log(f"(a) D={dim}, s={s}")
            x, _ = mixture.diffuse(SDE, s).sample(jax.random.key(100 + dim), settings["n_points"])
            s_vec = jnp.full((x.shape[0],), s, jnp.float32)
            trace, variance = mixture_jacobians(mixture, s, np.asarray(x))
            scale = np.mean(np.abs(trace))
            n90 = points_for_90_percent(variance)
            per_1k = 1000.0 / x.shape[0]

            exact_fn = jax.jit(lambda m, x, s: divergence.exact_divergence(partial(mx.exact_entropy_field, m, SDE),
                                                                          x, s))
            estimate, compile_s, run_s = timed(exact_fn, mixture, x, s_vec)
            err = np.asarray(estimate, np.float64) - trace
            print(f"{dim:3d} {s:5g} {'exact':>10s} {scale:9.3f} {np.mean(np.abs(err)):9.2e} "
                  f"{np.mean(np.abs(err)) / scale:8.1e} {np.sqrt(np.mean(err**2)):9.2e} {'-':>9s} {'-':>6s} "
                  f"{1000 * run_s * per_1k:8.2f} {compile_s:9.2f}")
            for probes in settings["probes"]:
                hutch_fn = jax.jit(lambda m, x, s, key, probes=probes: divergence.hutchinson_divergence(
                    partial(mx.exact_entropy_field, m, SDE), x, s, key=key, num_probes=probes))
                estimate, compile_s, run_s = timed(hutch_fn, mixture, x, s_vec, jax.random.key(7))
                err = np.asarray(estimate, np.float64) - trace
                predicted = np.sqrt(np.mean(variance) / probes)
                print(f"{dim:3d} {s:5g} {f'P={probes}':>10s} {scale:9.3f} {np.mean(np.abs(err)):9.2e} "
                      f"{np.mean(np.abs(err)) / scale:8.1e} {np.sqrt(np.mean(err**2)):9.2e} {predicted:9.2e} {n90:6d} "
                      f"{1000 * run_s * per_1k:8.2f} {compile_s:9.2f}")


# --------------------------------------------------------------------------- #
# (b) Entropy production on the joint Gaussian against the closed form
# --------------------------------------------------------------------------- #


def part_production(settings: dict) -> None:
    g = gaussian.full_rank(jax.random.key(0), dim_x=25, dim_y=5, noise_std=1.0)
    x, y = g.sample(jax.random.key(1), 20_000)
    field = partial(gaussian.exact_entropy_field, g, SDE)
    s_grid = np.array([0.003, 0.05, 0.3, 0.8])
    beta, alpha, var = schedule64(s_grid)
    closed = {}
    for condition, cov in (("none", g.cov_x), ("Y", g.cov_x_given_y)):
        eig = np.linalg.eigvalsh(np.asarray(cov, np.float64))
        mu = alpha[:, None] * eig + var[:, None]
        closed[condition] = 0.5 * beta * np.sum(1.0 / mu - 1.0, axis=-1)
    # Consistency of the two closed forms with the package's MINDE rate (an independent formula).
    gap = closed["Y"] - closed["none"]
    minde_rate = gaussian.mutual_information_rate(g, SDE, s_grid)
    assert np.allclose(gap, minde_rate, rtol=1e-9, atol=1e-9 * np.abs(closed["Y"]).max()), (gap, minde_rate)
    samples = settings["production_samples"]
    forms = [("divergence", None, "div exact")]
    forms += [("divergence", p, f"div P={p}") for p in settings["production_probes"]]
    forms += [("score_norm", None, "score_norm")]
    print(f"\n(b) Entropy production dH(X_s)/ds (nats per unit s) on gaussian.full_rank(key(0), 25, 5, 1.0) vs the "
          f"closed form; {samples} samples per point, 20000 data pairs")
    print(f"{'given':>5s} {'form':>11s} {'s':>6s} {'closed':>10s} {'estimate':>10s} {'s.e.':>8s} {'error':>9s} "
          f"{'rel err':>9s} {'z':>6s} {'s/call':>7s} {'XLA s':>6s}")
    for condition in ("none", "Y"):
        y_arg = None if condition == "none" else y
        for form, probes, label in forms:
            log(f"(b) given {condition}: {label}")

            def call(form=form, probes=probes, y_arg=y_arg):
                return divergence.entropy_production_rate(field, SDE, x, s_grid, key=jax.random.key(11), y=y_arg,
                                                          samples_per_point=samples, form=form, num_probes=probes)

            curve, _, run_s, compile_s = timed_host(call)
            for i, s in enumerate(s_grid):
                err = curve.rate[i] - closed[condition][i]
                exact_form = form == "divergence" and probes is None
                z = "-" if exact_form else f"{err / curve.stderr[i]:+6.2f}"
                timing = f"{run_s:7.3f} {compile_s:6.3f}" if i == 0 else ""
                print(f"{condition:>5s} {label:>11s} {s:6g} {closed[condition][i]:10.4f} {curve.rate[i]:10.4f} "
                      f"{curve.stderr[i]:8.2e} {err:+9.2e} {err / abs(closed[condition][i]):+9.1e} {z:>6s} "
                      f"{timing}".rstrip())


# --------------------------------------------------------------------------- #
# (c) Label information of a 1-D mixture against quadrature
# --------------------------------------------------------------------------- #


def quadrature_1d(mixture: mx.GaussianMixture, s: float, num_points: int = 48_001):
    """Exact (float64 trapezoid quadrature) H(Y|X_s) and R(s) of a 1-D mixture, nats and nats per unit s.

    Re-implemented from ``quadrature_1d`` in tests/test_semantic.py (the reference lives in the
    tests only): on [-12, 12] with 48k points, >= 200 per standard deviation for variances
    >= 0.05; the rule's error on Gaussians is far below 1e-10. R(s) = (β/2) E‖∂_x log p_s(Y|x)‖²,
    with ∂_x log p(k|x) = score_k - Σ_j r_j score_j."""
    d = mixture.diffuse(SDE, s)
    w, m, c = d.weights, d.means[:, 0], d.variances[:, 0]
    x = np.linspace(-12.0, 12.0, num_points)
    log_joint = np.log(w)[:, None] - 0.5 * np.log(2 * np.pi * c)[:, None] - 0.5 * (x - m[:, None]) ** 2 / c[:, None]
    log_p = np.logaddexp.reduce(log_joint, axis=0)
    log_r, joint = log_joint - log_p, np.exp(log_joint)
    component_scores = -(x - m[:, None]) / c[:, None]
    gradient = component_scores - np.sum(np.exp(log_r) * component_scores, axis=0)
    half_beta = 0.5 * (SDE.beta_min + s * (SDE.beta_max - SDE.beta_min))
    class_entropy = -np.trapezoid(joint * log_r, x, axis=1) / w
    class_rate = half_beta * np.trapezoid(joint * gradient**2, x, axis=1) / w
    return float(w @ class_entropy), float(w @ class_rate)


def part_semantic(settings: dict) -> None:
    mixture = mx.GaussianMixture.isotropic([0.3, 0.7], [[-1.0], [1.0]], 0.05)
    s_grid = np.array(settings["semantic_s"])
    exact = np.array([quadrature_1d(mixture, s) for s in s_grid])  # (G, 2): H(Y|X_s), R(s)
    print("\n(c) semantic.semantic_profile on the 1-D two-class mixture (w = 0.3/0.7, means ±1, variance 0.05) "
          "vs float64 quadrature")
    summary = []
    for per_class in settings["per_class"]:
        log(f"(c) semantic_profile, {per_class} samples per class")
        profile, compile_s, run_s, _ = timed_host(lambda per_class=per_class: semantic.semantic_profile(
            mixture, SDE, s_grid, key=jax.random.key(0), samples_per_class=per_class))
        h, r = profile.label_entropy, profile.rate
        z_h = (h.value - exact[:, 0]) / h.stderr
        z_r = (r.rate - exact[:, 1]) / r.stderr
        summary.append((per_class, np.max(np.abs(z_h)), np.max(np.abs(z_r)),
                        np.median(np.abs(h.value - exact[:, 0]) / exact[:, 0]),
                        np.median(np.abs(r.rate - exact[:, 1]) / exact[:, 1]), run_s, compile_s))
        if per_class not in settings["detail_per_class"]:
            continue
        print(f"-- {per_class} samples per class ({2 * per_class} draws), {len(s_grid)} times: one call "
              f"{run_s:.3f} s compiled (+{compile_s:.2f} s compile)")
        print(f"{'s':>6s} {'H(Y|X_s)':>9s} {'estimate':>9s} {'s.e.':>8s} {'error':>9s} {'z':>6s}   "
              f"{'R(s)':>9s} {'estimate':>9s} {'s.e.':>8s} {'rel err':>8s} {'z':>6s}")
        for i, s in enumerate(s_grid):
            print(f"{s:6g} {exact[i, 0]:9.5f} {h.value[i]:9.5f} {h.stderr[i]:8.1e} {h.value[i] - exact[i, 0]:+9.1e} "
                  f"{z_h[i]:+6.2f}   {exact[i, 1]:9.4f} {r.rate[i]:9.4f} {r.stderr[i]:8.1e} "
                  f"{(r.rate[i] - exact[i, 1]) / exact[i, 1]:+8.1e} {z_r[i]:+6.2f}")
    print(f"-- by sample size (all {len(s_grid)} times)")
    print(f"{'per class':>9s} {'max|z| H':>8s} {'max|z| R':>8s} {'med rel err H':>13s} {'med rel err R':>13s} "
          f"{'run s':>7s} {'compile s':>9s}")
    for per_class, zh, zr, eh, er, run_s, compile_s in summary:
        print(f"{per_class:9d} {zh:8.2f} {zr:8.2f} {eh:13.1e} {er:13.1e} {run_s:7.3f} {compile_s:9.2f}")

    # The bridge to MINDE: the integrand of the exact fields accumulated from T down to s.
    log("(c) accumulated_minde")
    x, y = mixture.sample(jax.random.key(5), 200_000)
    grid = np.concatenate([s_grid[s_grid < SDE.T], [SDE.T]])
    truth_h = np.array([quadrature_1d(mixture, s)[0] for s in grid])
    truth = truth_h[-1] - truth_h
    field = partial(mx.exact_entropy_field, mixture, SDE)
    samples = settings["minde_samples"]
    curve, _, run_s, compile_s = timed_host(lambda: semantic.accumulated_minde(field, SDE, x, y, grid,
                                                                            key=jax.random.key(6),
                                                                            num_samples=samples))
    print(f"-- semantic.accumulated_minde with the exact fields, {samples} samples, vs H(Y|X_T) - H(Y|X_s) by "
          f"quadrature: one call {run_s:.3f} s, of which {compile_s:.2f} s XLA compilation")
    print(f"{'s':>6s} {'exact':>9s} {'estimate':>9s} {'s.e.':>8s} {'rel err':>8s} {'z':>6s}")
    for i, s in enumerate(grid[:-1]):
        err = curve.value[i] - truth[i]
        print(f"{s:6g} {truth[i]:9.5f} {curve.value[i]:9.5f} {curve.stderr[i]:8.1e} {err / truth[i]:+8.1e} "
              f"{err / curve.stderr[i]:+6.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer cases (smoke run)")
    parser.add_argument("--only", choices=("hutchinson", "production", "semantic"), default=None)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    global REPEATS
    REPEATS = 1 if args.quick else REPEATS
    start = time.perf_counter()
    device = jax.devices()[0]
    print(f"device: {device.platform}: {device.device_kind} x{jax.device_count()}, jax {jax.__version__}")
    if args.only in (None, "hutchinson"):
        part_hutchinson(settings)
    if args.only in (None, "production"):
        part_production(settings)
    if args.only in (None, "semantic"):
        part_semantic(settings)
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
