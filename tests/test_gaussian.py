"""The joint Gaussian: closed forms vs quadrature vs Monte Carlo with the analytic fields.

Three independent routes to the same numbers: (1) determinant formulas (KL / log-det
differences, float64), (2) Gauss-Legendre quadrature of the rates in log-SNR (float64),
(3) Monte Carlo of beta/2 E||e*||^2 with the JAX fields on forward-process samples
(float32). Tolerances are stated where they are used.
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE, Z_MAX

from kellynotes import gaussian as G

# Closed forms and quadrature are both float64. Gauss-Legendre with 200 nodes on an
# integrand analytic in log-SNR converges to round-off (observed ~1e-14 relative for
# these models); 1e-10 leaves 4 orders of margin for BLAS/platform differences, while a
# wrong formula (a missing factor, alpha vs sqrt(alpha), ...) would be off by >1e-3.
QUADRATURE_RTOL = 1e-10
# Identities between float64 closed forms (Eq. 11, Sylvester, push-through): sums of
# O(10) terms of size O(10), so round-off is ~1e-14; 1e-11 is a safe bound.
EXACT = 1e-11


def models():
    return {
        "full_rank": G.full_rank(jax.random.PRNGKey(0), 6, 3, noise_std=0.5),
        "flattened": G.flattened(jax.random.PRNGKey(1), 8, 3, k=3, lambda_delta=1e-3, noise_std=1.0),
        "linear_1d": G.linear_1d(2.0, var_x=1.5, noise_var=0.5),
    }


MODELS = models()
RATE_AND_TOTAL = [
    (G.entropy_rate_x, G.total_entropy_x),
    (G.entropy_rate_x_given_y, G.total_entropy_x_given_y),
    (G.mutual_information_rate, G.mutual_information),
]


# --------------------------------------------------------------------------- #
# Model construction and second moments
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", MODELS)
def test_derived_moments_match_textbook_formulas(name):
    g = MODELS[name]
    cov_y = g.A @ g.cov_x @ g.A.T + g.noise_std**2 * np.eye(g.dim_y)
    gain = g.cov_x @ g.A.T @ np.linalg.inv(cov_y)
    cov_x_given_y = g.cov_x - gain @ g.A @ g.cov_x
    # Direct formulas invert Sigma_Y (condition number <~1e3 here): agreement to
    # 1e-10 relative to the largest entry is round-off, not a formula difference.
    assert np.allclose(g.cov_y, cov_y, rtol=0, atol=1e-10 * np.abs(cov_y).max())
    assert np.allclose(g.cov_xy, g.cov_x @ g.A.T, rtol=0, atol=1e-12 * np.abs(g.cov_xy).max())
    assert np.allclose(g.gain, gain, rtol=0, atol=1e-10 * np.abs(gain).max())
    assert np.allclose(g.cov_x_given_y, cov_x_given_y, rtol=0, atol=1e-10 * np.abs(g.cov_x).max())
    assert np.allclose(g.explained_cov, g.cov_x - g.cov_x_given_y, rtol=0, atol=1e-10 * np.abs(g.cov_x).max())
    assert np.linalg.eigvalsh(g.cov_x_given_y).min() > 0
    assert (g.dim_x, g.dim_y) == (g.cov_x.shape[0], g.A.shape[0])


def test_sample_has_the_joint_covariance_of_eq_54():
    g = MODELS["full_rank"]
    n = 200_000
    x, y = g.sample(jax.random.PRNGKey(3), n)
    assert x.shape == (n, g.dim_x) and y.shape == (n, g.dim_y)
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32
    r = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)], axis=1)
    cov_r = np.block([[g.cov_x, g.cov_xy], [g.cov_xy.T, g.cov_y]])
    empirical = r.T @ r / n  # the mean is known to be zero
    # Var of the product estimator of Sigma_ij is (Sigma_ii Sigma_jj + Sigma_ij^2)/n for a
    # Gaussian; 45 distinct entries are compared, so use 5 SE (family-wise ~3e-5).
    se = np.sqrt((np.outer(np.diag(cov_r), np.diag(cov_r)) + cov_r**2) / n)
    assert np.all(np.abs(empirical - cov_r) < 5 * se)
    assert np.all(np.abs(r.mean(axis=0)) < 5 * np.sqrt(np.diag(cov_r) / n))


def test_constructors_are_deterministic_and_follow_eqs_57_and_58():
    key = jax.random.PRNGKey(7)
    a, b = G.full_rank(key, 5, 2, 0.3), G.full_rank(key, 5, 2, 0.3)
    assert np.array_equal(a.cov_x, b.cov_x) and np.array_equal(a.A, b.A)
    assert a.A.shape == (2, 5) and a.noise_std == 0.3
    # Eq. 57: Sigma_X = H H^T + jitter I, so every eigenvalue is at least the jitter.
    assert np.linalg.eigvalsh(a.cov_x).min() >= 1e-3 * (1 - 1e-9)

    # Eq. 18/58 with sigma_delta = 0: the D_X - k smallest eigenvalues all equal
    # lambda_delta + jitter (to eigh round-off ~1e-16 * largest eigenvalue).
    f = G.flattened(key, 12, 4, k=4, lambda_delta=1e-4, noise_std=1.0, jitter=1e-6)
    eig = np.linalg.eigvalsh(f.cov_x)
    assert np.allclose(eig[:8], 1e-4 + 1e-6, rtol=1e-8)
    assert np.all(eig[8:] > 0)
    # A spread sigma_delta > 0 keeps the small eigenvalues positive but unequal.
    spread = np.linalg.eigvalsh(G.flattened(key, 12, 4, 4, 1e-4, 1.0, sigma_delta=0.5).cov_x)[:8]
    assert spread.min() > 0 and spread.max() / spread.min() > 1.5


def test_joint_gaussian_is_immutable():
    g = MODELS["full_rank"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.noise_std = 2.0
    with pytest.raises(ValueError):
        g.cov_x[0, 0] = 5.0  # read-only array


# --------------------------------------------------------------------------- #
# Closed forms at s = 0
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", MODELS)
def test_mutual_information_is_the_entropy_difference_eq_11(name):
    g = MODELS[name]
    difference = G.total_entropy_x_given_y(g) - G.total_entropy_x(g)
    assert difference == pytest.approx(G.mutual_information(g), rel=EXACT, abs=EXACT)
    # 1/2 log(|Sigma_X| / |Sigma_X|Y|) is the same number (Eq. 21 for Gaussians).
    log_ratio = 0.5 * (np.linalg.slogdet(g.cov_x)[1] - np.linalg.slogdet(g.cov_x_given_y)[1])
    assert log_ratio == pytest.approx(G.mutual_information(g), rel=EXACT, abs=EXACT)
    # And with a cut: I(X_s;Y) - I(X_T;Y) is the difference of the cut totals.
    for s_min in [0.0, 1e-3, 0.2]:
        cut_difference = G.total_entropy_x_given_y(g, SDE, s_min) - G.total_entropy_x(g, SDE, s_min)
        assert cut_difference == pytest.approx(G.mutual_information(g, SDE, s_min), rel=EXACT, abs=EXACT)


@pytest.mark.parametrize("a, var_x, noise_var", [(2.0, 1.0, 1.0), (0.3, 2.5, 0.1), (-1.5, 0.4, 3.0), (0.0, 1.0, 1.0)])
def test_linear_1d_matches_eqs_23_and_25(a, var_x, noise_var):
    g = G.linear_1d(a, var_x=var_x, noise_var=noise_var)
    assert G.mutual_information(g) == pytest.approx(0.5 * np.log1p(a**2 * var_x / noise_var), rel=EXACT, abs=EXACT)
    denominator = a**2 * var_x + noise_var
    assert g.gain[0, 0] == pytest.approx(a * var_x / denominator, rel=EXACT, abs=EXACT)  # Eq. 23c mean
    assert g.cov_x_given_y[0, 0] == pytest.approx(var_x * noise_var / denominator, rel=EXACT)  # Eq. 23c var
    assert G.total_entropy_x(g) == pytest.approx(0.5 * (var_x - np.log(var_x) - 1), abs=EXACT)  # Eq. 56, D=1


def test_total_correlation_of_known_covariances():
    assert G.total_correlation(np.diag([0.5, 2.0, 7.0])) == pytest.approx(0.0, abs=1e-15)
    for rho in [0.0, 0.3, -0.8, 0.999]:
        cov = np.array([[2.0, rho * np.sqrt(2.0 * 0.5)], [rho * np.sqrt(2.0 * 0.5), 0.5]])
        # Scale-invariant: only the correlation coefficient matters.
        assert G.total_correlation(cov) == pytest.approx(-0.5 * np.log1p(-(rho**2)), rel=1e-10, abs=1e-15)


@pytest.mark.parametrize("name", ["full_rank", "flattened"])
def test_total_entropy_splits_into_marginals_plus_total_correlation_eq_8(name):
    g = MODELS[name]
    d = np.diag(g.cov_x)
    marginals = 0.5 * np.sum(d - 1 - np.log(d))  # sum_k KL(N(0, S_kk) || N(0, 1))
    tc = G.total_correlation(g.cov_x)
    assert tc > 0
    assert marginals + tc == pytest.approx(G.total_entropy_x(g), rel=EXACT)


def test_determinism_and_flattening_behave_as_in_sec_6():
    key = jax.random.PRNGKey(11)
    # Determinism (Eq. 57): lowering noise_std raises I(X;Y) without touching S_tot^X.
    noisy = [G.full_rank(key, 10, 5, sigma) for sigma in (1.0, 0.3, 0.05)]
    assert len({G.total_entropy_x(g) for g in noisy}) == 1
    information = [G.mutual_information(g) for g in noisy]
    assert information[0] < information[1] < information[2]
    # Flattening (Eq. 18): lowering lambda_delta blows up S_tot^X, I(X;Y) stays bounded.
    # Each factor 100 in lambda_delta adds ~ (D_X - k)/2 log 100 = 16 nats to S_tot^X
    # (a little less at 1e-6, where the 1e-6 jitter starts to matter); I(X;Y) moves by
    # ~0.1 nats and converges to that of the k informative directions.
    flat = [G.flattened(key, 10, 5, 3, ld, 1.0) for ld in (1e-2, 1e-4, 1e-6)]
    totals = [G.total_entropy_x(g) for g in flat]
    assert totals[1] - totals[0] > 10 and totals[2] - totals[1] > 10
    mi = [G.mutual_information(g) for g in flat]
    assert max(mi) - min(mi) < 0.2 and abs(mi[2] - mi[1]) < abs(mi[1] - mi[0])


# --------------------------------------------------------------------------- #
# Time-resolved: rates, cut totals, quadrature
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("s_min", [1e-4, 1e-2, 0.3])
def test_closed_form_totals_equal_quadrature_of_the_rates(name, s_min):
    g = MODELS[name]
    for rate, total in RATE_AND_TOTAL:
        quadrature = G.integrate_rate(partial(rate, g, SDE), SDE, s_min)
        assert quadrature == pytest.approx(total(g, SDE, s_min), rel=QUADRATURE_RTOL), rate.__name__


def test_quadrature_with_an_upper_cut_is_a_difference_of_totals():
    g = MODELS["flattened"]
    for rate, total in RATE_AND_TOTAL:
        piece = G.integrate_rate(partial(rate, g, SDE), SDE, 0.01, 0.4)
        assert piece == pytest.approx(total(g, SDE, 0.01) - total(g, SDE, 0.4), rel=QUADRATURE_RTOL)


def test_integrate_rate_on_a_known_integral():
    # int_{a}^{b} beta(s) ds = log alpha(a) - log alpha(b) exactly.
    beta = lambda s: SDE.beta_min + s * (SDE.beta_max - SDE.beta_min)  # noqa: E731
    log_alpha = lambda s: -SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2  # noqa: E731
    for a, b in [(1e-5, 1.0), (0.2, 0.7)]:
        value = G.integrate_rate(beta, SDE, a, b)
        assert value == pytest.approx(log_alpha(a) - log_alpha(b), rel=QUADRATURE_RTOL)


@pytest.mark.parametrize("name", ["full_rank", "flattened"])
def test_mutual_information_rate_is_the_rate_difference_and_the_matrix_formula(name):
    g = MODELS[name]
    s = np.array([0.0, 1e-4, 0.01, 0.1, 0.5, 1.0])
    mi_rate = G.mutual_information_rate(g, SDE, s)
    # Eq. 11 per unit time. Absolute tolerance: both entropy rates are O(100)
    # near s=0 (flattened), so their difference carries ~1e-13 absolute round-off.
    difference = G.entropy_rate_x_given_y(g, SDE, s) - G.entropy_rate_x(g, SDE, s)
    assert np.allclose(mi_rate, difference, rtol=1e-10, atol=1e-10)
    # The explicit form tr(P M P) + tr((P - Q) C (P - Q)), P = Sigma_s^-1, Q = C_s^-1,
    # M = alpha (Sigma_X - Sigma_X|Y), with dense float64 inverses (condition number
    # <= 1e3 here, so ~1e-12 relative accuracy).
    alpha = np.exp(-SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2)
    beta = SDE.beta_min + s * (SDE.beta_max - SDE.beta_min)
    for i, (sigma_s, c_s) in enumerate(zip(G.marginal_covariance(g, SDE, s), G.conditional_covariance(g, SDE, s))):
        p, q = np.linalg.inv(sigma_s), np.linalg.inv(c_s)
        m = alpha[i] * (g.cov_x - g.cov_x_given_y)
        assert np.allclose(sigma_s, c_s + m, atol=1e-12)
        explicit = np.trace(p @ m @ p) + np.trace((p - q) @ c_s @ (p - q))
        assert 0.5 * beta[i] * explicit == pytest.approx(mi_rate[i], rel=1e-9, abs=1e-12)
        # Entropy rates from the trace formulas with dense matrices.
        eye = np.eye(g.dim_x)
        rate_x = 0.5 * beta[i] * np.trace(sigma_s - 2 * eye + p)
        rate_xy = 0.5 * beta[i] * (np.trace(c_s - 2 * eye + q) + np.trace(m))
        assert G.entropy_rate_x(g, SDE, s[i]) == pytest.approx(rate_x, rel=1e-9, abs=1e-12)
        assert G.entropy_rate_x_given_y(g, SDE, s[i]) == pytest.approx(rate_xy, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_rates_are_positive_and_keep_the_shape_of_s(name):
    g = MODELS[name]
    s = np.linspace(0.0, SDE.T, 101)
    for rate, _ in RATE_AND_TOTAL:
        values = rate(g, SDE, s)
        assert values.shape == s.shape and values.dtype == np.float64
        assert np.all(values > 0), rate.__name__
        assert rate(g, SDE, s.reshape(1, 101, 1)).shape == (1, 101, 1)
        assert np.ndim(rate(g, SDE, 0.5)) == 0


@pytest.mark.parametrize("name", ["full_rank", "flattened"])
def test_cut_totals_converge_to_the_uncut_closed_forms(name):
    g = MODELS[name]
    eye = np.eye(g.dim_x)
    alpha_T = np.exp(-SDE.beta_min * SDE.T - 0.5 * (SDE.beta_max - SDE.beta_min) * SDE.T**2)

    def kl(cov):  # KL(N(0, cov) || N(0, I)), dense float64
        return 0.5 * (np.trace(cov) - np.linalg.slogdet(cov)[1] - g.dim_x)

    sigma_T = alpha_T * g.cov_x + (1 - alpha_T) * eye
    c_T = alpha_T * g.cov_x_given_y + (1 - alpha_T) * eye
    tails = {
        G.total_entropy_x: kl(sigma_T),
        G.total_entropy_x_given_y: kl(c_T) + 0.5 * alpha_T * np.trace(g.cov_x - g.cov_x_given_y),
        G.mutual_information: 0.5 * (np.linalg.slogdet(sigma_T)[1] - np.linalg.slogdet(c_T)[1]),
    }
    for rate, total in RATE_AND_TOTAL:
        uncut = total(g)
        # s_min = 0 is exact: the uncut value minus what is still left at T (~1e-5 nats).
        assert total(g, SDE, 0.0) == pytest.approx(uncut - tails[total], rel=EXACT)
        # The missing piece int_0^{s_min} rate ~ rate(0) s_min: the gap closes linearly,
        # with relative corrections O(s_min * rate'(0)/rate(0)) <~ 1e-3 at s_min <= 1e-5.
        gaps = [total(g, SDE, 0.0) - total(g, SDE, s_min) for s_min in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)]
        assert all(later < earlier for earlier, later in zip(gaps, gaps[1:]))
        assert gaps[-1] / 1e-6 == pytest.approx(rate(g, SDE, 0.0), rel=1e-3)


def test_cumulative_curve_matches_cut_totals():
    g = MODELS["flattened"]
    grid = np.array([1e-4, 1e-2, 0.1, 0.5, 0.9, 1.0])
    for rate, total in RATE_AND_TOTAL:
        curve = G.cumulative_curve(partial(rate, g, SDE), SDE, grid)
        assert curve.shape == grid.shape
        assert curve[-1] == 0.0
        assert np.all(np.diff(curve) < 0)  # information left to supply shrinks with s
        expected = np.array([total(g, SDE, s) for s in grid])
        assert np.allclose(curve, expected, rtol=QUADRATURE_RTOL, atol=1e-15)


# --------------------------------------------------------------------------- #
# Analytic fields (JAX) against autodiff and Monte Carlo
# --------------------------------------------------------------------------- #


def test_exact_score_is_the_gradient_of_the_log_density_eq_64():
    g = MODELS["full_rank"]
    n = 16
    x, y = g.sample(jax.random.PRNGKey(5), n)
    s = jnp.linspace(0.01, 0.9, n)
    x_s, _ = SDE.perturb(jax.random.PRNGKey(6), x, s)
    sigma_s = jnp.asarray(G.marginal_covariance(g, SDE, np.asarray(s, np.float64)), jnp.float32)
    c_s = jnp.asarray(G.conditional_covariance(g, SDE, np.asarray(s, np.float64)), jnp.float32)
    mean = jnp.sqrt(SDE.alpha(s))[:, None] * (y @ jnp.asarray(g.gain.T, jnp.float32))
    logpdf = jax.scipy.stats.multivariate_normal.logpdf
    marginal = jax.vmap(jax.grad(lambda xi, cov: logpdf(xi, jnp.zeros(g.dim_x), cov)))(x_s, sigma_s)
    conditional = jax.vmap(jax.grad(logpdf))(x_s, mean, c_s)
    # float32 throughout, condition numbers <~1e2: agreement to ~1e-5 relative; 1e-3 is safe.
    score = G.exact_score(g, SDE, x_s, s)
    score_y = G.exact_score(g, SDE, x_s, s, y)
    assert np.allclose(score, marginal, rtol=1e-3, atol=1e-3)
    assert np.allclose(score_y, conditional, rtol=1e-3, atol=1e-3)
    # e* = score - score_eq = score + x (Eq. 9).
    assert np.allclose(G.exact_entropy_field(g, SDE, x_s, s), score + x_s, rtol=1e-4, atol=1e-4)
    assert np.allclose(G.exact_entropy_field(g, SDE, x_s, s, y), score_y + x_s, rtol=1e-4, atol=1e-4)
    # jit-able with the model closed over, and a scalar s broadcasts.
    jitted = jax.jit(lambda x, s, y: G.exact_entropy_field(g, SDE, x, s, y))
    assert np.allclose(jitted(x_s, s, y), G.exact_entropy_field(g, SDE, x_s, s, y), rtol=1e-5, atol=1e-5)
    scalar = G.exact_entropy_field(g, SDE, x_s, 0.3)
    assert np.allclose(scalar, G.exact_entropy_field(g, SDE, x_s, jnp.full(n, 0.3)))


@pytest.mark.parametrize("name", ["full_rank", "flattened"])
@pytest.mark.parametrize("s", [0.02, 0.2, 0.6])
def test_monte_carlo_rates_with_the_exact_fields(name, s):
    g = MODELS[name]
    n = 20_000
    key_data, key_noise = jax.random.split(jax.random.PRNGKey(int(1000 * s) + len(name)))
    x, y = g.sample(key_data, n)
    times = jnp.full(n, s, dtype=jnp.float32)
    x_s, _ = SDE.perturb(key_noise, x, times)
    e_x = G.exact_entropy_field(g, SDE, x_s, times)
    e_xy = G.exact_entropy_field(g, SDE, x_s, times, y)
    half_beta = 0.5 * (SDE.beta_min + s * (SDE.beta_max - SDE.beta_min))
    samples = {
        G.entropy_rate_x: half_beta * jnp.sum(e_x**2, axis=-1),
        G.entropy_rate_x_given_y: half_beta * jnp.sum(e_xy**2, axis=-1),
        # Eq. 13 integrand: the equilibrium scores cancel in e*(x|y) - e*(x).
        G.mutual_information_rate: half_beta * jnp.sum((e_xy - e_x) ** 2, axis=-1),
    }
    for rate, values in samples.items():
        values = np.asarray(values, np.float64)
        mean, se = values.mean(), values.std(ddof=1) / np.sqrt(n)
        exact = float(rate(g, SDE, s))
        assert abs(mean - exact) < Z_MAX * se, f"{rate.__name__}: MC {mean:.5g} +- {se:.2g} vs exact {exact:.5g}"


# --------------------------------------------------------------------------- #
# Bad inputs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(cov_x=[[1.0, 2.0], [2.0, 1.0]], A=[[1.0, 0.0]], noise_std=1.0), "cov_x"),  # indefinite
        (dict(cov_x=[[1.0, 0.5], [0.0, 1.0]], A=[[1.0, 0.0]], noise_std=1.0), "cov_x"),  # not symmetric
        (dict(cov_x=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], A=[[1.0, 0.0]], noise_std=1.0), "cov_x"),  # not square
        (dict(cov_x=[[np.nan, 0.0], [0.0, 1.0]], A=[[1.0, 0.0]], noise_std=1.0), "cov_x"),
        (dict(cov_x=np.eye(2), A=[[1.0, 0.0, 0.0]], noise_std=1.0), "A"),  # wrong D_X
        (dict(cov_x=np.eye(2), A=[1.0, 0.0], noise_std=1.0), "A"),  # not 2-D
        (dict(cov_x=np.eye(2), A=[[1.0, 0.0]], noise_std=0.0), "noise_std"),
        (dict(cov_x=np.eye(2), A=[[1.0, 0.0]], noise_std=-1.0), "noise_std"),
        (dict(cov_x=np.eye(2), A=[[1.0, 0.0]], noise_std=float("nan")), "noise_std"),
        (dict(cov_x=np.eye(2), A=[[1.0, 0.0]], noise_std=float("inf")), "noise_std"),
    ],
)
def test_bad_models_raise_value_errors_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        G.JointGaussian(**kwargs)


def test_bad_arguments_elsewhere_raise_value_errors_naming_them():
    g = MODELS["full_rank"]
    key = jax.random.PRNGKey(0)
    cases = [
        (lambda: G.linear_1d(1.0, var_x=0.0), "var_x"),
        (lambda: G.linear_1d(1.0, noise_var=float("nan")), "noise_var"),
        (lambda: G.linear_1d(float("inf")), "a"),
        (lambda: G.full_rank(key, 0, 2, 1.0), "dim_x"),
        (lambda: G.full_rank(key, 3, 2, 1.0, jitter=0.0), "jitter"),
        (lambda: G.flattened(key, 4, 2, 5, 1e-3, 1.0), "k"),
        (lambda: G.flattened(key, 4, 2, 2, 0.0, 1.0), "lambda_delta"),
        (lambda: G.flattened(key, 4, 2, 2, 1e-3, 1.0, sigma_delta=-1.0), "sigma_delta"),
        (lambda: G.total_correlation([[1.0, 1.0], [1.0, 1.0]]), "cov"),
        (lambda: G.entropy_rate_x(g, SDE, np.array([0.5, 1.5])), "s"),
        (lambda: G.mutual_information_rate(g, SDE, np.nan), "s"),
        (lambda: G.total_entropy_x(g, SDE, s_min=-0.1), "s_min"),
        (lambda: G.mutual_information(g, s_min=0.1), "s_min"),
        (lambda: G.integrate_rate(np.ones_like, SDE, 0.0), "s_min"),
        (lambda: G.integrate_rate(np.ones_like, SDE, 0.5, 0.2), "s_max"),
        (lambda: G.integrate_rate(np.ones_like, SDE, 0.1, nodes=0), "nodes"),
        (lambda: G.cumulative_curve(np.ones_like, SDE, np.array([0.0, 0.5])), "s_grid"),
        (lambda: g.sample(key, 0), "n"),
        (lambda: G.exact_entropy_field(g, SDE, jnp.zeros((4, g.dim_x + 1)), jnp.ones(4)), "x"),
        (lambda: G.exact_entropy_field(g, SDE, jnp.zeros((4, g.dim_x)), jnp.ones(3)), "s"),
        (lambda: G.exact_entropy_field(g, SDE, jnp.zeros((4, g.dim_x)), jnp.ones(4), jnp.zeros((4, 1))), "y"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=rf"\b{name}\b"):
            call()


def test_eq8_marginals_plus_total_correlation_is_the_total_entropy():
    g = G.flattened(jax.random.key(3), 12, 4, 3, 1e-4, 1.0)
    # Eq. 8 is an identity: both sides are float64 closed forms, equal to round-off.
    total = G.marginal_divergence(g.cov_x) + G.total_correlation(g.cov_x)
    assert total == pytest.approx(G.total_entropy_x(g), rel=1e-9)
