"""kellynotes.semantic: label information along the diffusion of Gaussian mixtures.

In one dimension every quantity is an integral over x that float64 quadrature computes
to ~1e-10, so the Monte Carlo curves are checked against exact values, and the identities
behind them (R = dH(Y|X_s)/ds, R_k = dh_k/ds) are checked by finite differences of the
quadrature itself. In higher dimensions, and for the bridge to MINDE, two independent
estimators must agree within their standard errors."""

from functools import partial

import jax
import numpy as np
import pytest
from helpers import SDE, Z_MAX, new_figure, within

from kellynotes import entropy, gaussian, interactive, semantic
from kellynotes import mixture as mx
from kellynotes.entropy import RateCurve
from kellynotes.figures import semantic as figures

# Times in the bulk of the decision window of two_class(2.0) (peak near s = 0.2). Earlier,
# the per-sample rates are dominated by rare draws near the decision boundary (relative
# standard error ~50 % at s = 0.05 with 8000 draws), too heavy-tailed for a z-test.
S_BULK = np.array([0.14, 0.2, 0.3, 0.45])


def two_class(separation, variance=0.05, weights=(0.5, 0.5)):
    return mx.GaussianMixture.isotropic(list(weights), [[-separation / 2], [separation / 2]], variance)


def quadrature_1d(mixture, s, num_points=48_001):
    r"""Exact (float64 quadrature) H(Y|X_s), h_k(s), R(s) and R_k(s) of a 1-D mixture.

    Trapezoid rule on [-12, 12]: with the default 48k points, >= 200 per standard deviation
    for component variances >= 0.05 (the error of the rule on Gaussians decays like
    exp(-2π²σ²/h²), far below 1e-10); every mixture here has |means| + 6σ < 12."""
    d = mixture.diffuse(SDE, s)
    w, m, c = d.weights, d.means[:, 0], d.variances[:, 0]
    x = np.linspace(-12.0, 12.0, num_points)
    log_joint = np.log(w)[:, None] - 0.5 * np.log(2 * np.pi * c)[:, None] - 0.5 * (x - m[:, None]) ** 2 / c[:, None]
    log_p = np.logaddexp.reduce(log_joint, axis=0)
    log_r, joint = log_joint - log_p, np.exp(log_joint)  # log p(k|x) and w_k p_s(x|k)
    component_scores = -(x - m[:, None]) / c[:, None]
    gradient = component_scores - np.sum(np.exp(log_r) * component_scores, axis=0)  # ∂_x log p(k|x)
    half_beta = 0.5 * (SDE.beta_min + s * (SDE.beta_max - SDE.beta_min))
    class_entropy = -np.trapezoid(joint * log_r, x, axis=1) / w
    class_rate = half_beta * np.trapezoid(joint * gradient**2, x, axis=1) / w
    return w @ class_entropy, class_entropy, w @ class_rate, class_rate


def exact_curves(mixture, s_grid):
    values = [quadrature_1d(mixture, s) for s in s_grid]
    return tuple(np.array([v[i] for v in values]) for i in range(4))


# --------------------------------------------------------------------------- #
# The identities, exactly (1-D quadrature)
# --------------------------------------------------------------------------- #


def test_rates_are_time_derivatives_of_the_label_entropies():
    """R = dH(Y|X_s)/ds (the MINDE integrand at each time) and R_k = dh_k/ds, by central
    differences of float64 quadrature (step 1e-5 s: truncation and rounding both < 1e-7)."""
    mixture = two_class(2.0, weights=(0.3, 0.7))
    for s in S_BULK:
        step = 1e-5 * s
        plus, minus = quadrature_1d(mixture, s + step), quadrature_1d(mixture, s - step)
        _, _, rate, class_rate = quadrature_1d(mixture, s)
        np.testing.assert_allclose((plus[0] - minus[0]) / (2 * step), rate, rtol=1e-5)
        np.testing.assert_allclose((plus[1] - minus[1]) / (2 * step), class_rate, rtol=1e-5)


# --------------------------------------------------------------------------- #
# Monte Carlo curves against the exact values
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def unequal_profile():
    mixture = two_class(2.0, weights=(0.3, 0.7))
    grid = np.concatenate([S_BULK, [SDE.T]])
    return mixture, semantic.semantic_profile(mixture, SDE, grid, key=jax.random.key(0), samples_per_class=8000)


def test_profile_matches_quadrature(unequal_profile):
    mixture, profile = unequal_profile
    entropy_exact, class_entropy_exact, rate_exact, class_rate_exact = exact_curves(mixture, S_BULK)
    bulk = slice(0, len(S_BULK))
    assert within(profile.label_entropy.value[bulk], profile.label_entropy.stderr[bulk], entropy_exact)
    assert within(profile.rate.rate[bulk], profile.rate.stderr[bulk], rate_exact)
    for k in range(2):
        curve, rates = profile.class_label_entropy[k], profile.class_rates[k]
        assert within(curve.value[bulk], curve.stderr[bulk], class_entropy_exact[:, k])
        assert within(rates.rate[bulk], rates.stderr[bulk], class_rate_exact[:, k])
    # The errors are small enough for these checks to bite (a wrong factor 2 would fail).
    assert np.all(profile.rate.stderr[bulk] < 0.1 * rate_exact)
    # The classes decide at different rates: the rarer class carries more surprisal.
    assert np.all(profile.class_label_entropy[0].value[bulk] > profile.class_label_entropy[1].value[bulk])


def test_noise_erases_the_label(unequal_profile):
    """At s = T, α ≈ 4e-5: I(X_T;Y) <= α·Var(means)/2 ≈ 2e-5, so H(Y|X_T) = H(Y) and
    h_k(T) = −log w_k to 1e-4; with every draw's entropy in [0, log 2] the stderr is tiny too."""
    mixture, profile = unequal_profile
    assert abs(profile.label_entropy.value[-1] - mixture.label_entropy) < 1e-4
    for k, w in enumerate(mixture.weights):
        assert abs(profile.class_label_entropy[k].value[-1] + np.log(w)) < 1e-3
    np.testing.assert_allclose(profile.mutual_information.value, mixture.label_entropy - profile.label_entropy.value)


def test_thin_wrappers_and_the_mixture_module_agree(unequal_profile):
    mixture, profile = unequal_profile
    key = jax.random.key(0)
    curve = semantic.label_entropy_curve(mixture, SDE, profile.rate.s, key=key, num_samples=16_000)
    np.testing.assert_allclose(curve.value, profile.label_entropy.value)  # same draws
    rate = semantic.semantic_information_rate(mixture, SDE, profile.rate.s, key=key, num_samples=16_000)
    np.testing.assert_allclose(rate.rate, profile.rate.rate)
    # An independent estimator (the mixture module's own draws from p_s) agrees within errors.
    for i, s in enumerate(S_BULK):
        other = mx.label_posterior_entropy(mixture, SDE, float(s), key=jax.random.key(1), num_samples=16_000)
        error = np.hypot(other.stderr, profile.label_entropy.stderr[i])
        assert abs(other.value - profile.label_entropy.value[i]) < Z_MAX * error


def test_higher_dimensional_classes_sum_to_the_total():
    """Σ_k w_k h_k = H(Y|X_s) (E[−log r_Y] = E[H(r)]) and Σ_k w_k R_k = R, in D = 3 with K = 4."""
    means = 1.5 * jax.random.normal(jax.random.key(2), (4, 3))
    mixture = mx.GaussianMixture.isotropic([0.1, 0.2, 0.3, 0.4], np.asarray(means), [0.05, 0.1, 0.2, 0.3])
    profile = semantic.semantic_profile(mixture, SDE, S_BULK, key=jax.random.key(3), samples_per_class=4000)
    w = mixture.weights
    surprisal = w @ np.array([c.value for c in profile.class_label_entropy])
    surprisal_error = np.sqrt((w**2) @ np.array([c.stderr for c in profile.class_label_entropy]) ** 2)
    assert within(surprisal, np.hypot(surprisal_error, profile.label_entropy.stderr), profile.label_entropy.value)
    np.testing.assert_allclose(w @ np.array([r.rate for r in profile.class_rates]), profile.rate.rate, rtol=1e-12)


# --------------------------------------------------------------------------- #
# Closer classes decide later
# --------------------------------------------------------------------------- #


def test_peak_times_refine_a_parabola_exactly():
    s = np.geomspace(1e-3, 1.0, 25)
    curve = RateCurve(s, 5.0 - (np.log(s) - np.log(0.0731)) ** 2, np.zeros_like(s))
    assert abs(semantic.peak_times(curve) - 0.0731) < 1e-9  # a parabola in ln s is fitted exactly
    edge = RateCurve(s, -s, np.zeros_like(s))
    np.testing.assert_array_equal(semantic.peak_times([curve, edge])[1], s[0])
    with pytest.raises(ValueError, match="increasing positive times"):
        semantic.peak_times(RateCurve(s[::-1], s, s))


def test_closer_classes_decide_later():
    """Two classes at ±d/2 (variance 0.01): the peak of R(s) moves toward s = 0 as d shrinks,
    and each Monte Carlo peak lies within one grid step (in ln s) of the quadrature peak."""
    s_grid = np.geomspace(2e-3, 1.0, 48)
    step = np.log(s_grid[1] / s_grid[0])
    peaks = []
    for separation in (4.0, 2.0, 1.0, 0.5):
        mixture = two_class(separation, variance=0.01)
        rate = semantic.semantic_information_rate(mixture, SDE, s_grid, key=jax.random.key(4), num_samples=8000)
        peaks.append(semantic.peak_times(rate))
        fine = np.geomspace(2e-3, 1.0, 200)  # 5x finer than s_grid; 12k points: >= 50 per σ = 0.1
        exact_peak = fine[np.argmax([quadrature_1d(mixture, s, num_points=12_001)[2] for s in fine])]
        assert abs(np.log(peaks[-1] / exact_peak)) < step, (separation, peaks[-1], exact_peak)
    assert np.all(np.diff(peaks) < 0), peaks
    assert peaks[0] / peaks[-1] > 4  # not a marginal shift: halving d three times moves the peak a lot


# --------------------------------------------------------------------------- #
# The bridge to MINDE
# --------------------------------------------------------------------------- #


def test_accumulated_minde_of_exact_fields_is_the_label_information():
    """∫_s^T of the MINDE integrand with the exact mixture fields = H(Y|X_T) − H(Y|X_s), exact by
    quadrature in 1-D. Tolerance: 4 standard errors of the accumulated estimate; the 2e5 data
    points it resamples (with replacement) add a spread below half of that (50k draws)."""
    mixture = two_class(2.0, weights=(0.3, 0.7))
    x, y = mixture.sample(jax.random.key(5), 200_000)
    s_grid = np.array([0.02, 0.05, 0.1, 0.2, 0.4, SDE.T])
    field = partial(mx.exact_entropy_field, mixture, SDE)
    curve = semantic.accumulated_minde(field, SDE, x, y, s_grid, key=jax.random.key(6), num_samples=50_000)
    exact_entropy = exact_curves(mixture, s_grid)[0]
    truth = exact_entropy[-1] - exact_entropy
    assert curve.value[-1] == 0.0 and curve.stderr[-1] == 0.0
    assert np.all(np.diff(curve.value) <= 0)  # a non-negative integrand accumulated from T
    assert within(curve.value[:-1], curve.stderr[:-1], truth[:-1])
    assert np.all(curve.stderr[:-1] < 0.05 * truth[0])


def test_accumulated_minde_matches_the_posterior_entropy_curve_in_higher_dimensions():
    """D = 4, K = 3: the MINDE route and the posterior-entropy route are independent Monte Carlo
    estimates of the same numbers; they must agree within their combined standard errors."""
    means = 2.0 * jax.random.normal(jax.random.key(7), (3, 4))
    mixture = mx.GaussianMixture.isotropic([0.25, 0.25, 0.5], np.asarray(means), 0.2)
    s_grid = np.array([0.01, 0.05, 0.15, 0.3, SDE.T])
    x, y = mixture.sample(jax.random.key(8), 200_000)
    field = partial(mx.exact_entropy_field, mixture, SDE)
    minde = semantic.accumulated_minde(field, SDE, x, y, s_grid, key=jax.random.key(9), num_samples=50_000)
    posterior = semantic.label_entropy_curve(mixture, SDE, s_grid, key=jax.random.key(10), num_samples=12_000)
    route = posterior.value[-1] - posterior.value
    error = np.sqrt(minde.stderr**2 + posterior.stderr**2 + posterior.stderr[-1] ** 2)
    assert within(minde.value[:-1], error[:-1], route[:-1])


def test_accumulated_minde_on_the_joint_gaussian_closed_form():
    """Any field, any condition: on the joint Gaussian, ∫_s^T = I(X_s;Y) − I(X_T;Y) in closed form."""
    g = gaussian.full_rank(jax.random.key(11), dim_x=4, dim_y=2, noise_std=0.7)
    x, y = g.sample(jax.random.key(12), 100_000)
    s_grid = np.array([1e-3, 0.01, 0.1, 0.5])
    curve = semantic.accumulated_minde(partial(gaussian.exact_entropy_field, g, SDE), SDE, x, y, s_grid,
                                       key=jax.random.key(13), num_samples=40_000)
    truth = np.array([gaussian.mutual_information(g, SDE, s) for s in s_grid])
    assert within(curve.value, curve.stderr, truth)
    # At the lowest time it is MINDE itself (an independent run of the package's estimator).
    minde = entropy.mutual_information_minde(partial(gaussian.exact_entropy_field, g, SDE), SDE, x, y,
                                             key=jax.random.key(14), s_min=1e-3, num_samples=40_000)
    assert abs(minde.value - curve.value[0]) < Z_MAX * np.hypot(minde.stderr, curve.stderr[0])


def test_accumulate_rate_integrates_sampled_curves():
    s = np.geomspace(1e-3, 1.0, 200)
    # s·r constant: the trapezoid rule in ln s is exact, ∫_s^1 du/u = −ln s.
    flat = semantic.accumulate_rate(RateCurve(s, 1.0 / s, np.zeros_like(s)))
    np.testing.assert_allclose(flat.value, -np.log(s), rtol=1e-12, atol=1e-12)
    # A smooth rate on 200 points: trapezoid error <= (Δ ln s)²/12 · ∫|f''| d ln s with f = s e^{-s},
    # about 1e-4 · 0.5 = 5e-5 (measured 1.6e-5).
    smooth = semantic.accumulate_rate(RateCurve(s, np.exp(-s), np.zeros_like(s)))
    np.testing.assert_allclose(smooth.value, np.exp(-s) - np.exp(-1.0), atol=5e-5)
    # Standard errors of independent points: on three points the first value is
    # ½Δ₀ s₀r₀ + ½(Δ₀ + Δ₁) s₁r₁ + ½Δ₁ s₂r₂, so its variance is the sum of squared coefficients.
    three = np.array([0.1, 0.2, 0.8])
    errors = np.array([1.0, 2.0, 3.0])
    d0, d1 = np.diff(np.log(three))
    coefficients = 0.5 * np.array([d0, d0 + d1, d1]) * three
    curve = semantic.accumulate_rate(RateCurve(three, np.ones(3), errors))
    np.testing.assert_allclose(curve.stderr[0], np.sqrt(np.sum((coefficients * errors) ** 2)), rtol=1e-12)
    assert curve.value[-1] == 0.0 and curve.stderr[-1] == 0.0


# --------------------------------------------------------------------------- #
# Errors and figures
# --------------------------------------------------------------------------- #


def test_bad_input_is_rejected():
    mixture = two_class(2.0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="GaussianMixture"):
        semantic.semantic_profile("not a mixture", SDE, S_BULK, key=key)
    with pytest.raises(ValueError, match="s_grid must lie in"):
        semantic.semantic_profile(mixture, SDE, np.array([0.0, 0.5]), key=key)
    with pytest.raises(ValueError, match="at least 2 per class"):
        semantic.label_entropy_curve(mixture, SDE, S_BULK, key=key, num_samples=3)
    x, y = mixture.sample(key, 10)
    field = partial(mx.exact_entropy_field, mixture, SDE)
    with pytest.raises(ValueError, match="y .* is required"):
        semantic.accumulated_minde(field, SDE, x, None, S_BULK, key=key)
    with pytest.raises(ValueError, match="strictly increasing"):
        semantic.accumulated_minde(field, SDE, x, y, S_BULK[::-1], key=key)


def test_figures_render():
    mixture = two_class(2.0)
    s_grid = np.geomspace(1e-3, 1.0, 12)
    profile = semantic.semantic_profile(mixture, SDE, s_grid, key=jax.random.key(0), samples_per_class=200)
    fig = new_figure()
    ax_map, ax_entropy, ax_rates = fig.subplots(1, 3)
    figures.draw_posterior_map(ax_map, mixture, SDE, resolution=40)
    figures.plot_label_entropy(ax_entropy, profile)
    figures.plot_class_rates(ax_rates, profile)
    assert ax_entropy.get_xscale() == "log" and ax_rates.get_xscale() == "log"
    fig = new_figure()
    ax_bridge, ax_thesis = fig.subplots(1, 2)
    accumulated = semantic.InformationCurve(s_grid, profile.mutual_information.value, profile.label_entropy.stderr)
    figures.plot_minde_bridge(ax_bridge, accumulated, reference=profile.mutual_information,
                              ceiling=mixture.label_entropy)
    figures.plot_thesis(ax_thesis, profile.rate, RateCurve(s_grid, 1.0 / s_grid, 0.01 / s_grid))
    fig.savefig(__import__("io").BytesIO(), format="png", dpi=30)
    png = interactive.render_png(partial(figures.draw_semantic_explorer, sde=SDE, samples_per_class=100, num_times=8),
                                 {"separation": 1.5, "num_classes": 3}, dpi=30)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_information_loss_rate_inverts_accumulation_on_a_closed_form_curve():
    # I(s) = 2 exp(-4 s): -dI/ds = 8 exp(-4 s). Second-order differences on 60 log-spaced points
    # in [0.01, 1]: the largest relative step is ln(100)/59 ~ 8 %, so the error is ~ (4 Δs)^2/6,
    # at most ~ 2 % at the coarse end; the one-sided second-order ends have about twice that error.
    s = np.geomspace(0.01, 1.0, 60)
    curve = semantic.InformationCurve(s, 2 * np.exp(-4 * s), np.full(s.size, 0.01))
    rate = semantic.information_loss_rate(curve)
    np.testing.assert_allclose(rate.rate[1:-1], 8 * np.exp(-4 * s[1:-1]), rtol=0.02)
    np.testing.assert_allclose(rate.rate[[0, -1]], 8 * np.exp(-4 * s[[0, -1]]), rtol=0.05)
    back = semantic.accumulate_rate(rate)
    np.testing.assert_allclose(back.value, curve.value - curve.value[-1], atol=0.01)
    assert np.all(rate.stderr > 0)
    with pytest.raises(ValueError, match=">= 3 increasing"):
        semantic.information_loss_rate(semantic.InformationCurve(s[::-1], curve.value, curve.stderr))
