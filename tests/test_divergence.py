"""kellynotes.divergence: exact and Hutchinson traces against exact Jacobians, and the
entropy production / generative bandwidth of the VP process against the closed forms
of a joint Gaussian (whose fields are linear, so the divergence form is exact)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE, Z_MAX

from kellynotes import divergence, gaussian
from kellynotes import mixture as mx

S_GRID = np.array([0.003, 0.05, 0.3, 0.8])
# Float32 fields on D <= 8 with well-conditioned matrices: relative rounding ~1e-6;
# 1e-4 leaves room for the D-term sums and still catches any wrong term (>= 1e-2).
RTOL_FLOAT32 = 1e-4


@pytest.fixture(scope="module")
def joint():
    g = gaussian.full_rank(jax.random.key(0), dim_x=5, dim_y=3, noise_std=0.6)
    x, y = g.sample(jax.random.key(1), 20_000)
    return g, partial(gaussian.exact_entropy_field, g, SDE), x, y


def schedule64(s):
    """(β, α, 1 − α) in float64."""
    log_alpha = -SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2
    return SDE.beta_min + s * (SDE.beta_max - SDE.beta_min), np.exp(log_alpha), -np.expm1(log_alpha)


def marginal_eigenvalues(g, s):
    """μ_k(s) = α λ_k + 1 − α, the eigenvalues of Σ_s, shape (len(s), D)."""
    _, alpha, var = schedule64(np.asarray(s, dtype=np.float64))
    return alpha[:, None] * np.linalg.eigvalsh(g.cov_x) + var[:, None]


# --------------------------------------------------------------------------- #
# Traces
# --------------------------------------------------------------------------- #


def test_exact_divergence_of_a_linear_field_is_the_trace_of_its_matrix():
    matrix = jax.random.normal(jax.random.key(2), (6, 6))
    field = lambda x, s, y=None: (x @ matrix.T) * (1.0 + s)[:, None]  # noqa: E731
    x = jax.random.normal(jax.random.key(3), (7, 6))
    s = jnp.linspace(0.0, 1.0, 7)
    expected = np.trace(np.asarray(matrix, np.float64)) * (1.0 + np.asarray(s, np.float64))
    np.testing.assert_allclose(divergence.exact_divergence(field, x, s), expected, rtol=RTOL_FLOAT32, atol=1e-5)


def test_rademacher_hutchinson_is_exact_for_a_diagonal_jacobian():
    scale = jnp.arange(1.0, 5.0)
    field = lambda x, s, y=None: jnp.tanh(x) * scale  # noqa: E731  Jacobian diag(scale · (1 − tanh²))
    x = 2.0 * jax.random.normal(jax.random.key(4), (9, 4))
    s = jnp.zeros(9)
    expected = np.sum(np.asarray(scale) * (1.0 - np.tanh(np.asarray(x, np.float64)) ** 2), axis=-1)
    single_probe = divergence.hutchinson_divergence(field, x, s, key=jax.random.key(5), num_probes=1)
    np.testing.assert_allclose(single_probe, expected, rtol=RTOL_FLOAT32, atol=1e-6)
    np.testing.assert_allclose(divergence.exact_divergence(field, x, s), expected, rtol=RTOL_FLOAT32, atol=1e-6)


def test_hutchinson_is_unbiased_with_the_predicted_variance():
    """A coupled, non-symmetric Jacobian: probe values v^T J v must average to tr J with
    variance Σ_{i<j} (J_ij + J_ji)^2 (Rademacher probes)."""
    weights = jax.random.normal(jax.random.key(6), (5, 5))
    field = lambda x, s, y=None: jnp.tanh(x @ weights.T) * (1.0 + s)[:, None]  # noqa: E731
    x = jax.random.normal(jax.random.key(7), (3, 5))
    s = jnp.array([0.0, 0.5, 1.0])
    jacobians = np.asarray(jax.vmap(jax.jacfwd(lambda xi, si: field(xi[None], si[None])[0]))(x, s), np.float64)
    trace = np.trace(jacobians, axis1=-2, axis2=-1)
    symmetric = jacobians + np.swapaxes(jacobians, -1, -2)
    off_diagonal = symmetric * (1.0 - np.eye(5))
    predicted_variance = 0.5 * np.sum(off_diagonal**2, axis=(-2, -1))  # Σ_{i<j} (J_ij + J_ji)²
    np.testing.assert_allclose(divergence.exact_divergence(field, x, s), trace, rtol=RTOL_FLOAT32, atol=1e-5)

    num_probes = 4000
    keys = jax.random.split(jax.random.key(8), num_probes)
    one_probe = jax.jit(jax.vmap(lambda k: divergence.hutchinson_divergence(field, x, s, key=k, num_probes=1)))
    probe_values = np.asarray(one_probe(keys), np.float64)  # (P, N): one probe each
    assert np.all(predicted_variance > 0.1)  # the test is about real off-diagonal noise
    assert np.all(np.abs(probe_values.mean(0) - trace) < Z_MAX * np.sqrt(predicted_variance / num_probes))
    # The sample variance of 4000 draws has relative standard error sqrt((κ - 1)/P) <= ~3 %
    # for these bounded values (kurtosis κ <= 3); 15 % is beyond 4 of them.
    np.testing.assert_allclose(probe_values.var(0, ddof=1), predicted_variance, rtol=0.15)
    # Many probes in one call: the mean of P probes, within the same bound.
    many = divergence.hutchinson_divergence(field, x, s, key=jax.random.key(9), num_probes=num_probes)
    assert np.all(np.abs(np.asarray(many) - trace) < Z_MAX * np.sqrt(predicted_variance / num_probes))


def test_divergences_reject_bad_input():
    field = lambda x, s, y=None: x  # noqa: E731
    with pytest.raises(ValueError, match="x must have shape"):
        divergence.exact_divergence(field, jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match="s must have shape"):
        divergence.exact_divergence(field, jnp.ones((3, 2)), jnp.ones(2))
    with pytest.raises(ValueError, match="num_probes"):
        divergence.hutchinson_divergence(field, jnp.ones((3, 2)), jnp.ones(3), key=jax.random.key(0), num_probes=0)


# --------------------------------------------------------------------------- #
# Entropy production and bandwidth on the joint Gaussian
# --------------------------------------------------------------------------- #


def test_entropy_production_matches_the_gaussian_closed_forms(joint):
    g, field, x, _ = joint
    curve = divergence.entropy_production_rate(field, SDE, x, S_GRID, key=jax.random.key(10))
    beta, _, _ = schedule64(S_GRID)
    mu = marginal_eigenvalues(g, S_GRID)
    closed = 0.5 * beta * np.sum(1.0 / mu - 1.0, axis=-1)  # (β/2)(tr Σ_s^{-1} − D)
    # The exact field is linear, so its divergence is the same at every x: no Monte Carlo error.
    np.testing.assert_allclose(curve.rate, closed, rtol=RTOL_FLOAT32)
    np.testing.assert_allclose(curve.stderr, 0.0, atol=1e-6 * np.abs(closed).max())
    # The derivation itself: d/ds of H(X_s) = ½ log det(2πe Σ_s), by float64 central differences
    # (step 1e-6 s: truncation ~1e-12 relative, rounding ~1e-10).
    step = 1e-6 * S_GRID
    half_logdet = lambda s: 0.5 * np.sum(np.log(marginal_eigenvalues(g, s)), axis=-1)  # noqa: E731
    np.testing.assert_allclose(closed, (half_logdet(S_GRID + step) - half_logdet(S_GRID - step)) / (2 * step),
                               rtol=1e-6)
    # And its link to the package's neural-entropy rate: dH/ds = (β/2)E‖e‖² − (β/2) tr(Σ_s − I).
    np.testing.assert_allclose(closed, gaussian.entropy_rate_x(g, SDE, S_GRID) - 0.5 * beta * np.sum(mu - 1.0, -1),
                               rtol=1e-9)


def test_conditional_minus_unconditional_production_is_the_minde_rate(joint):
    """dH(X_s|Y)/ds − dH(X_s)/ds = −dI(X_s;Y)/ds, the MINDE integrand (Eq. 13)."""
    g, field, x, y = joint
    key = jax.random.key(11)
    conditional = divergence.entropy_production_rate(field, SDE, x, S_GRID, key=key, y=y)
    unconditional = divergence.entropy_production_rate(field, SDE, x, S_GRID, key=key)
    np.testing.assert_allclose(conditional.rate - unconditional.rate, gaussian.mutual_information_rate(g, SDE, S_GRID),
                               rtol=RTOL_FLOAT32)


def test_score_norm_form_agrees_with_the_divergence_form(joint):
    """Integration by parts: (β/2)(E‖∇log p‖² − D) = −(β/2)(D + E ∇·∇log p), up to Monte Carlo error."""
    g, field, x, y = joint
    s_grid = np.array([0.003, 0.05, 0.3])
    for condition in (None, y):
        exact = divergence.entropy_production_rate(field, SDE, x, s_grid, key=jax.random.key(12), y=condition)
        by_parts = divergence.entropy_production_rate(field, SDE, x, s_grid, key=jax.random.key(13), y=condition,
                                                      form="score_norm", samples_per_point=16_384)
        assert np.all(by_parts.stderr < 0.1 * np.abs(exact.rate))  # resolved well enough to fail if wrong
        assert np.all(np.abs(by_parts.rate - exact.rate) < Z_MAX * by_parts.stderr)


def test_hutchinson_rate_agrees_with_the_exact_trace(joint):
    g, field, x, _ = joint
    exact = divergence.entropy_production_rate(field, SDE, x, S_GRID, key=jax.random.key(14))
    probed = divergence.entropy_production_rate(field, SDE, x, S_GRID, key=jax.random.key(15), num_probes=2)
    assert np.all(probed.stderr > 0)  # off-diagonal Jacobian entries: the probes do add noise
    assert np.all(np.abs(probed.rate - exact.rate) < Z_MAX * probed.stderr)


def test_generative_bandwidth_is_minus_the_rate_of_clean_noisy_information(joint):
    """B(s) = −d/ds I(X_0;X_s), with I(X_0;X_s) = ½ Σ_k log(μ_k/(1−α)) for Gaussian data."""
    g, field, x, y = joint
    bandwidth = divergence.generative_bandwidth(field, SDE, x, S_GRID, key=jax.random.key(16))
    beta, alpha, var = schedule64(S_GRID)
    lam = np.linalg.eigvalsh(g.cov_x)
    mu = marginal_eigenvalues(g, S_GRID)
    closed = 0.5 * beta * np.sum(alpha[:, None] * lam / (var[:, None] * mu), axis=-1)
    np.testing.assert_allclose(bandwidth.rate, closed, rtol=RTOL_FLOAT32)

    def information(s):
        _, _, v = schedule64(s)
        return 0.5 * np.sum(np.log(marginal_eigenvalues(g, s) / v[:, None]), axis=-1)

    step = 1e-6 * S_GRID
    np.testing.assert_allclose(closed, -(information(S_GRID + step) - information(S_GRID - step)) / (2 * step),
                               rtol=1e-6)
    # Given the label: the gap B(s) − B(s | y) is −dI(X_s;Y)/ds (X_s|X_0 does not depend on Y).
    given_y = divergence.generative_bandwidth(field, SDE, x, S_GRID, key=jax.random.key(16), y=y)
    # The difference cancels two values of size B: float32 rounding of each is ~1e-7 B (measured
    # <= 2.2e-7 B), so allow 1e-5 B on top of the relative tolerance.
    gap = bandwidth.rate - given_y.rate
    minde_rate = gaussian.mutual_information_rate(g, SDE, S_GRID)
    assert np.all(np.abs(gap - minde_rate) <= RTOL_FLOAT32 * minde_rate + 1e-5 * bandwidth.rate)


def test_rates_reject_bad_input(joint):
    _, field, x, _ = joint
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="form must be one of"):
        divergence.entropy_production_rate(field, SDE, x, S_GRID, key=key, form="trace")
    with pytest.raises(ValueError, match="num_probes applies only"):
        divergence.entropy_production_rate(field, SDE, x, S_GRID, key=key, form="score_norm", num_probes=2)
    with pytest.raises(ValueError, match="s_grid must lie in"):
        divergence.generative_bandwidth(field, SDE, x, np.array([0.0, 0.5]), key=key)
    with pytest.raises(ValueError, match="samples_per_point"):
        divergence.generative_bandwidth(field, SDE, x, S_GRID, key=key, samples_per_point=1)


# --------------------------------------------------------------------------- #
# A non-Gaussian check: a 1-D mixture, exact by quadrature
# --------------------------------------------------------------------------- #


def mixture_quadrature(mixture, s):
    r"""float64 quadrature of dH(X_s)/ds = −(β/2)(1 + E ∂_x score) and B(s) = (β/2)(1/(1−α) + E ∂_x score)
    for a 1-D mixture, with ∂_x score = −Σ_k r_k/c_k + Var_r(score_k) (differentiating Σ_k r_k score_k,
    ∂_x r_k = r_k (score_k − score)). 40k points on [−12, 12]: > 100 per standard deviation."""
    d = mixture.diffuse(SDE, s)
    w, m, c = d.weights, d.means[:, 0], d.variances[:, 0]
    x = np.linspace(-12.0, 12.0, 40_001)
    log_joint = np.log(w)[:, None] - 0.5 * np.log(2 * np.pi * c)[:, None] - 0.5 * (x - m[:, None]) ** 2 / c[:, None]
    log_p = np.logaddexp.reduce(log_joint, axis=0)
    r = np.exp(log_joint - log_p)
    scores = -(x - m[:, None]) / c[:, None]
    mean_score = np.sum(r * scores, axis=0)
    derivative = -np.sum(r / c[:, None], axis=0) + np.sum(r * (scores - mean_score) ** 2, axis=0)
    expected = np.trapezoid(np.exp(log_p) * derivative, x)
    beta, _, var = schedule64(np.float64(s))
    return -0.5 * beta * (1.0 + expected), 0.5 * beta * (1.0 / var + expected)


def test_both_forms_and_the_bandwidth_on_a_mixture():
    """Where the score is not linear its divergence varies with x: the divergence form, the
    score-norm form (integration by parts) and the bandwidth must all match quadrature."""
    mixture = mx.GaussianMixture.isotropic([0.3, 0.7], [[-1.0], [1.5]], [0.05, 0.2])
    x, _ = mixture.sample(jax.random.key(20), 100_000)
    field = partial(mx.exact_entropy_field, mixture, SDE)
    s_grid = np.array([0.005, 0.02, 0.05, 0.1])  # dH/ds crosses zero near s = 0.25: avoid it
    options = dict(key=jax.random.key(21), samples_per_point=16_384)
    by_divergence = divergence.entropy_production_rate(field, SDE, x, s_grid, **options)
    by_norm = divergence.entropy_production_rate(field, SDE, x, s_grid, form="score_norm", **options)
    bandwidth = divergence.generative_bandwidth(field, SDE, x, s_grid, **options)
    exact = np.array([mixture_quadrature(mixture, s) for s in s_grid])
    for curve, truth in ((by_divergence, exact[:, 0]), (by_norm, exact[:, 0]), (bandwidth, exact[:, 1])):
        assert np.all(curve.stderr > 0) and np.all(curve.stderr < 0.05 * np.abs(truth))
        assert np.all(np.abs(curve.rate - truth) < Z_MAX * curve.stderr), (curve.rate, truth)
