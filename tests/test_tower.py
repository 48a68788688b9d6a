r"""The autoencoder tower against exact answers.

* The finite-cut identity (T1 in kellynotes.tower): R(x; s_min) = F_T(x) - F_{s_min}(x) + D/2 log((1-a_T)/(1-a_min)),
  checked (i) deterministically against Gauss-Legendre quadrature of the closed-form integrand of a
  Gaussian, and (ii) by Monte Carlo on mixtures in 1-D and 2-D, for single points and pairs.
* The cut constant c'(x; s_min) = R + log p_d against its analytic form, and the cut term against its
  first-order expansion -(int_0^s beta) [D/2 + Lap log p + |grad log p|^2 / 2].
* The denoiser's limits x_hat -> x0 (s -> 0) and x_hat -> E X (s -> T), and figure smoke tests.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE, Z_MAX
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kellynotes import gaussian, tower
from kellynotes import mixture as M
from kellynotes.figures import tower as tower_figures

ALPHA_T = float(np.exp(-SDE.beta_min * SDE.T - 0.5 * (SDE.beta_max - SDE.beta_min) * SDE.T**2))  # 4.3e-5

MIX_1D = M.GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [[0.5], [1.0]])
MIX_2D = M.GaussianMixture.isotropic([0.2, 0.5, 0.3], [[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], [0.4, 1.0, 0.7])
POINTS = {
    "1d": (MIX_1D, [[-2.0], [0.0], [1.5], [3.5]]),
    "2d": (MIX_2D, [[-2.0, 0.0], [0.0, 0.0], [2.0, 1.0], [1.0, -3.0]]),
}


def log_p(mixture, x):
    return float(M.log_prob_float64(mixture, np.asarray(x, np.float64)))


def kappa(mixture, x):
    r"""D/2 + Lap log p + |grad log p|^2 / 2 in float64, from the analytic mixture derivatives:
    grad log p = sum_k r_k g_k and Lap log p = sum_k r_k (|g_k|^2 - sum_d 1/v_kd) - |grad log p|^2,
    with g_k = -(x - m_k)/v_k."""
    x = np.asarray(x, np.float64)
    comp = np.log(mixture.weights) - 0.5 * np.sum(np.log(2 * np.pi * mixture.variances)
                                                  + (x - mixture.means) ** 2 / mixture.variances, axis=1)
    r = np.exp(comp - np.logaddexp.reduce(comp))
    g = -(x - mixture.means) / mixture.variances
    grad = r @ g
    laplacian = r @ (np.sum(g**2, axis=1) - np.sum(1 / mixture.variances, axis=1)) - grad @ grad
    return mixture.dimension / 2 + laplacian + 0.5 * grad @ grad


# --------------------------------------------------------------------------- #
# The weight and the exact pieces
# --------------------------------------------------------------------------- #


def test_weight_is_minus_half_the_snr_derivative():
    s = jnp.array([1e-3, 0.01, 0.2, 0.7, 1.0])
    snr_derivative = jax.vmap(jax.grad(lambda t: jnp.exp(SDE.log_snr(t))))(s)
    # float32 autodiff of exp(log SNR) vs the closed form: a few ulps relative.
    np.testing.assert_allclose(tower.reconstruction_weight(SDE, s), -0.5 * snr_derivative, rtol=1e-5)


def test_smoothed_log_density_of_a_gaussian_is_its_closed_form():
    mean, var = np.array([0.5, -1.0]), np.array([0.3, 2.0])
    mix = M.GaussianMixture([1.0], mean[None], var[None])
    x0 = np.array([1.2, 0.4])
    for s in (0.0, 1e-4, 0.3, 1.0):
        alpha = np.exp(-SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2)
        c = alpha * var + 1 - alpha
        exact = np.sum(-0.5 * np.log(2 * np.pi * c) - (alpha * (x0 - mean) ** 2 + 1 - alpha) / (2 * c))
        # Gauss-Hermite integrates the quadratic exactly: only float64 round-off remains.
        assert abs(tower.smoothed_log_density(mix, SDE, x0, s) - exact) < 1e-12


@pytest.mark.parametrize("name", POINTS)
def test_quadrature_has_converged(name):
    mix, points = POINTS[name]
    s = np.array([1e-3, 0.2, 1.0])
    for x in points:
        coarse = tower.smoothed_log_density(mix, SDE, x, s, nodes=32)
        fine = tower.smoothed_log_density(mix, SDE, x, s, nodes=96)
        # log p_s is a smooth log-sum-exp of quadratics: the rule converges fast (observed 1e-8 at 32 nodes).
        assert np.max(np.abs(coarse - fine)) < 1e-7


def test_identity_matches_quadrature_of_the_gaussian_integrand():
    r"""For p_d = N(m, diag v): x_hat - x0 = sigma [sigma (m - x0) + sqrt(a) v z] / c, so
    B(s) E|x_hat - x0|^2 = sum_d beta a [sigma^2 (m - x0)^2 + a v^2] / (2 sigma^2 c^2), integrated in log-SNR."""
    mean, var = np.array([0.5, -1.0]), np.array([0.3, 2.0])
    mix = M.GaussianMixture([1.0], mean[None], var[None])
    x0 = np.array([1.2, 0.4])

    def rate(s):
        beta = SDE.beta_min + s * (SDE.beta_max - SDE.beta_min)
        log_alpha = -SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2
        alpha, sigma2 = np.exp(log_alpha)[:, None], -np.expm1(log_alpha)[:, None]
        c = alpha * var + sigma2
        return np.sum(beta[:, None] * alpha * (sigma2 * (mean - x0) ** 2 + alpha * var**2) / (2 * sigma2 * c**2), 1)

    for s_min in (1e-4, 1e-2, 0.3):
        quadrature = gaussian.integrate_rate(rate, SDE, s_min)
        # Both float64: Gauss-Legendre in log-SNR converges to ~1e-13 relative on this smooth
        # integrand; a wrong B(s) or a missing D/2 log term would be off by O(1).
        assert abs(tower.exact_reconstruction_integral(mix, SDE, x0, s_min=s_min) - quadrature) < 1e-9 * quadrature
    # The Monte Carlo integrand agrees with the closed form level by level.
    s_grid = np.array([1e-3, 0.05, 0.3, 0.9])
    curve = tower.reconstruction_integrand(mix, SDE, x0, s_grid, key=jax.random.key(0), num_draws=20_000)
    assert np.all(np.abs(curve.rate - rate(s_grid)) < Z_MAX * curve.stderr)


# --------------------------------------------------------------------------- #
# Monte Carlo of the tower against the exact identity
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", POINTS)
def test_reconstruction_integral_matches_the_identity(name):
    mix, points = POINTS[name]
    for i, s_min in enumerate((1e-5, 1e-3, 0.05)):
        x = points[i]
        exact = tower.exact_reconstruction_integral(mix, SDE, x, s_min=s_min)
        est = tower.reconstruction_integral(mix, SDE, x, s_min=s_min, key=jax.random.key(i), num_samples=200_000)
        assert est.num_samples == 200_000
        assert abs(est.value - exact) < Z_MAX * est.stderr, (s_min, x, est, exact)


@pytest.mark.parametrize("name", POINTS)
def test_differences_of_tower_integrals_are_log_density_differences(name):
    mix, points = POINTS[name]
    pairs = [(points[0], points[1]), (points[1], points[3]), (points[0], points[2]), (points[3], points[2])]
    for i, (x_a, x_b) in enumerate(pairs):
        identity = tower.tower_identity(mix, SDE, x_a, x_b, s_min=1e-3)
        assert identity.log_density_difference == pytest.approx(log_p(mix, x_b) - log_p(mix, x_a), abs=1e-12)
        est = tower.tower_log_density_difference(mix, SDE, x_a, x_b, s_min=1e-3, key=jax.random.key(10 + i),
                                                 num_samples=200_000)
        assert abs(est.value - identity.total) < Z_MAX * est.stderr, (x_a, x_b, est, identity)
        # The corrections are small at this cut: the cut term is -(int_0^s beta)(kappa_a - kappa_b) to
        # first order (u = int beta = 1.1e-4 here; the u^2 term is below 20 u^2, see the tests below),
        # the prior term O(alpha_T |x|^2) (alpha_T = 4.3e-5).
        u = -float(SDE.log_alpha(1e-3))
        first_order = -u * (kappa(mix, x_a) - kappa(mix, x_b))
        assert abs(identity.cut_correction - first_order) < 0.01 * abs(first_order) + 20 * u**2
        assert abs(identity.prior_correction) < 10 * ALPHA_T * (1 + np.sum(np.square(x_a)) + np.sum(np.square(x_b)))


def test_identity_is_exact_even_at_a_coarse_cut():
    """At s_min = 0.1 the cut correction is far outside the Monte Carlo error, and the estimate
    still lands on the exact identity, not on the bare log-density difference."""
    x_a, x_b = [1.5], [-0.5]
    identity = tower.tower_identity(MIX_1D, SDE, x_a, x_b, s_min=0.1)
    est = tower.tower_log_density_difference(MIX_1D, SDE, x_a, x_b, s_min=0.1, key=jax.random.key(20),
                                             num_samples=400_000)
    assert abs(identity.cut_correction) > 10 * est.stderr
    assert abs(est.value - identity.total) < Z_MAX * est.stderr, (est, identity)


# --------------------------------------------------------------------------- #
# The constant and its dependence on the cut
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", POINTS)
def test_cut_term_follows_its_first_order_expansion(name):
    r"""log p_d - F_{s} = -u kappa(x) + O(u^2), u = int_0^s beta = -log alpha(s): the residual divided by u^2
    must be the same (the second-order coefficient) at two cuts a decade apart."""
    mix, points = POINTS[name]
    for x in points:
        coefficients = []
        for s in (1e-3, 1e-4):
            u = -float(SDE.log_alpha(s))
            cut = log_p(mix, x) - tower.smoothed_log_density(mix, SDE, x, s)
            coefficients.append((cut + u * kappa(mix, x)) / u**2)
        # The next order changes the coefficient by O(u) ~ 1e-4 relative; round-off of the float64
        # quadrature (1e-14 on F ~ 1) is 1e-6 of u^2 at s = 1e-4. 5% (+ 0.05 absolute) rejects a wrong kappa,
        # which leaves a residual ~ u, i.e. a coefficient 10x larger at the smaller cut.
        assert abs(coefficients[0] - coefficients[1]) < 0.05 * abs(coefficients[0]) + 0.05, (x, coefficients)


@pytest.mark.parametrize("name", POINTS)
def test_cut_constant_grows_like_the_analytic_prediction(name):
    mix, points = POINTS[name]
    cuts = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    u = -np.asarray(SDE.log_alpha(cuts), np.float64)
    asymptotic = tower.asymptotic_cut_constant(SDE, mix.dimension, cuts)
    # Growth like D/2 log(1/u), u = int_0^s beta = beta_min s (1 + 99.5 s) (so a decade of s_min adds
    # (D/2) log 10 as s_min -> 0): log(1 - alpha) = log u - u/2 + O(u^2), so each step differs from
    # (D/2) log(u_i / u_{i+1}) by at most (D/2) u_0 / 2; atol = D u_0 / 2 leaves a factor 2.
    np.testing.assert_allclose(np.diff(asymptotic), 0.5 * mix.dimension * np.log(u[:-1] / u[1:]),
                               rtol=0, atol=mix.dimension * u[0] / 2)
    for x in points:
        exact = tower.cut_constant(mix, SDE, x, s_min=cuts)
        # exact - asymptotic = cut term (about -u kappa, with the u^2 term below 20 u^2 for these mixtures)
        # + prior term (O(alpha_T |x|^2)).
        bound = u * abs(kappa(mix, x)) + 20 * u**2 + 10 * ALPHA_T * (1 + np.sum(np.square(x)))
        assert np.all(np.abs(exact - asymptotic) < bound), (x, exact - asymptotic, bound)
    # The Monte Carlo tower integral plus log p_d tracks the same curve, for every point.
    for i, (x, s_min) in enumerate(zip(points, (1e-2, 1e-5))):
        est = tower.reconstruction_integral(mix, SDE, x, s_min=s_min, key=jax.random.key(30 + i), num_samples=200_000)
        exact = float(tower.cut_constant(mix, SDE, x, s_min=s_min))
        assert abs(est.value + log_p(mix, x) - exact) < Z_MAX * est.stderr


# --------------------------------------------------------------------------- #
# The denoiser at the two ends of the tower
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", POINTS)
def test_denoised_means_tend_to_the_point_and_to_the_mixture_mean(name):
    mix, points = POINTS[name]
    x0 = np.asarray(points[0])
    shallow, deep = 1e-4, SDE.T
    x_hat = np.asarray(tower.denoised_means(mix, SDE, x0, [shallow, deep], key=jax.random.key(40), num_draws=4000),
                       np.float64)
    # Shallow: x_hat - x0 = sigma z + O(sigma^2), so the RMS error per coordinate is sqrt(1 - alpha)
    # (4000 draws: the sample RMS is within ~2% of it; 10% also allows the O(sigma) correction).
    sigma = float(SDE.std(shallow))
    rms = np.sqrt(np.mean(np.sum((x_hat[0] - x0) ** 2, axis=1)) / mix.dimension)
    assert abs(rms / sigma - 1) < 0.1, rms / sigma
    # Deep: x_hat = E X + sqrt(alpha_T) Cov(X) x_T + O(alpha_T), with |x_T| <= 7 for all 4000 draws
    # (P(|z| > 7) ~ 1e-10 each), so |x_hat - E X| <= 7 sqrt(alpha_T) ||Cov X||.
    cov = (mix.weights * mix.means.T) @ mix.means + np.diag(mix.weights @ mix.variances) - np.outer(mix.mean, mix.mean)
    bound = 7 * np.sqrt(ALPHA_T) * np.linalg.norm(cov, 2)
    assert np.max(np.linalg.norm(x_hat[1] - mix.mean, axis=1)) < bound
    assert np.linalg.norm(x0 - mix.mean) > 3 * bound  # so the comparison can fail


def test_forward_and_denoised_returns_the_encoder_inputs():
    x_s, x_hat = tower.forward_and_denoised(MIX_2D, SDE, [0.0, 1.0], [0.1, 0.5], key=jax.random.key(41), num_draws=50)
    assert x_s.shape == x_hat.shape == (2, 50, 2)
    expected = M.posterior_mean(MIX_2D, SDE, x_s[1], 0.5)
    np.testing.assert_allclose(x_hat[1], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: tower.reconstruction_integral(MIX_1D, SDE, [0.0], s_min=0.0, key=jax.random.key(0), num_samples=10),
         "s_min must lie in"),
        (lambda: tower.reconstruction_integral(MIX_1D, SDE, [0.0, 1.0], s_min=1e-3, key=jax.random.key(0),
                                               num_samples=10), r"x0 must have shape \(D=1,\)"),
        (lambda: tower.reconstruction_integral(MIX_1D, SDE, [0.0], s_min=1e-3, key=jax.random.key(0), num_samples=1),
         "num_samples must be at least 2"),
        (lambda: tower.reconstruction_integrand(MIX_1D, SDE, [0.0], [0.0, 0.5], key=jax.random.key(0), num_draws=10),
         "s_grid must lie in"),
        (lambda: tower.smoothed_log_density(MIX_2D, SDE, [0.0, 0.0], 0.1, nodes=2000), "Gauss-Hermite"),
        (lambda: tower.cut_constant(MIX_1D, SDE, [0.0], s_min=SDE.T), "s_min must lie in"),
    ],
)
def test_bad_arguments_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- #
# Figures (smoke tests)
# --------------------------------------------------------------------------- #


def _figure():
    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)  # an Agg canvas for this figure only; no global backend change
    return fig


def _drawn(fig):
    fig.canvas.draw()  # layout and rendering errors (e.g. shared axes with equal aspect) surface only on drawing
    return len(fig.axes)


def test_figures_draw():
    key = jax.random.key(50)
    fig = tower_figures.draw_denoised_density_1d(_figure(), MIX_1D, SDE, 1.0, [0.01, 0.2, 1.0], key=key, num_draws=200)
    assert _drawn(fig) == 3
    fig = tower_figures.draw_denoised_scatter_2d(_figure(), MIX_2D, SDE, [1.0, 0.5], [0.05, 0.5], key=key,
                                                 num_draws=100, num_data=200)
    assert _drawn(fig) == 2
    fig = tower_figures.draw_tower_integrands(_figure(), MIX_1D, SDE, [1.5], [-0.5], key=key, num_levels=8,
                                              num_draws=200)
    assert _drawn(fig) == 2
    with pytest.raises(ValueError, match="needs a 2-D mixture"):
        tower_figures.draw_denoised_scatter_2d(_figure(), MIX_1D, SDE, [0.0], [0.1], key=key)
