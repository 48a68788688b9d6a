"""Gaussian mixtures under the VP process against exact answers: the Gaussian module (one
component), automatic differentiation, Tweedie's identity, importance sampling, quadrature of the
label entropy, and the cut closed forms through the kellynotes.entropy estimators.

The JAX functions compute in float32; tolerances are stated where used.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE, Z_MAX

from kellynotes import entropy, gaussian
from kellynotes import mixture as M

# Two float32 evaluations of O(1)-O(10) quantities by different formulas agree to a few
# ulps of the largest term (~1e-6 relative); 2e-5 leaves margin and still catches any
# wrong factor (alpha vs sqrt(alpha), a missing (1 - alpha), ...), which is O(1e-2) or more.
F32_RTOL = 2e-5


def mixture_1d():
    return M.GaussianMixture([0.3, 0.7], [[-2.0], [1.5]], [[0.5], [1.0]])


def mixture_2d():
    return M.GaussianMixture.isotropic([0.2, 0.5, 0.3], [[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], [0.4, 1.0, 0.7])


def points(key, mixture, n):
    x, y = mixture.sample(key, n)
    return x, y


def close(a, b, rtol=F32_RTOL):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(1.0, float(np.max(np.abs(b))))
    return float(np.max(np.abs(a - b))) <= rtol * scale


# --------------------------------------------------------------------------- #
# Construction
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "weights, means, variances, message",
    [
        ([0.5, 0.6], [[0.0], [1.0]], [[1.0], [1.0]], "sum to 1"),
        ([1.2, -0.2], [[0.0], [1.0]], [[1.0], [1.0]], "positive"),
        ([0.5, 0.5], [[0.0], [1.0], [2.0]], [[1.0], [1.0], [1.0]], "means must have shape"),
        ([0.5, 0.5], [[0.0], [1.0]], [[1.0, 1.0], [1.0, 1.0]], "variances must have the shape"),
        ([0.5, 0.5], [[0.0], [1.0]], [[1.0], [0.0]], "variances must all be positive"),
        ([0.5, 0.5], [0.0, 1.0], [1.0, 1.0], "means must be 2-dimensional"),
        ([0.5, 0.5], [[0.0], [np.nan]], [[1.0], [1.0]], "NaN"),
    ],
)
def test_bad_parameters_are_rejected(weights, means, variances, message):
    with pytest.raises(ValueError, match=message):
        M.GaussianMixture(weights, means, variances)


def test_isotropic_and_sizes():
    mix = M.GaussianMixture.isotropic([0.25, 0.75], [[0.0, 1.0], [2.0, 3.0]], [0.5, 2.0])
    assert (mix.num_components, mix.dimension) == (2, 2)
    np.testing.assert_array_equal(mix.variances, [[0.5, 0.5], [2.0, 2.0]])
    np.testing.assert_array_equal(M.GaussianMixture.isotropic([1.0], [[0.0, 0.0]], 3.0).variances, [[3.0, 3.0]])
    with pytest.raises(ValueError, match="variance must be a number or have shape"):
        M.GaussianMixture.isotropic([0.5, 0.5], [[0.0], [1.0]], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"x must have shape \(..., D=2\)"):
        mix.log_prob(jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="y must be labels"):
        M.exact_score(mix, SDE, jnp.zeros((2, 2)), 0.5, jnp.array([0, 2]))
    with pytest.raises(ValueError, match="integer"):
        M.exact_score(mix, SDE, jnp.zeros((2, 2)), 0.5, jnp.array([0.0, 1.0]))


def test_diffuse_gives_the_law_of_the_perturbed_samples():
    mix = mixture_2d()
    s = 0.25
    diffused = mix.diffuse(SDE, s)
    alpha = float(np.exp(-SDE.beta_min * s - 0.5 * (SDE.beta_max - SDE.beta_min) * s**2))
    np.testing.assert_allclose(diffused.means, np.sqrt(alpha) * mix.means, rtol=1e-14)
    np.testing.assert_allclose(diffused.variances, alpha * mix.variances + 1 - alpha, rtol=1e-14)
    assert mix.diffuse(SDE, 0.0).means.tobytes() == mix.means.tobytes()
    # Moments of sqrt(alpha) X0 + sqrt(1-alpha) eps from samples vs the diffused mixture.
    x0, _ = mix.sample(jax.random.key(0), 100_000)
    x_s, _ = SDE.perturb(jax.random.key(1), x0, jnp.full(x0.shape[0], s))
    x_s = np.asarray(x_s, np.float64)
    second = diffused.weights @ (diffused.variances + diffused.means**2)  # E[X_d^2]
    stderr_mean = np.sqrt(second / x_s.shape[0])
    assert np.all(np.abs(x_s.mean(0) - diffused.mean) < Z_MAX * stderr_mean)
    stderr_second = np.sqrt(np.var(x_s**2, axis=0) / x_s.shape[0])
    assert np.all(np.abs((x_s**2).mean(0) - second) < Z_MAX * stderr_second)


def test_samples_have_the_component_frequencies():
    mix = mixture_2d()
    _, labels = mix.sample(jax.random.key(2), 50_000)
    assert labels.dtype == jnp.int32
    freq = np.bincount(np.asarray(labels), minlength=3) / labels.size
    assert np.all(np.abs(freq - mix.weights) < Z_MAX * np.sqrt(mix.weights * (1 - mix.weights) / labels.size))


# --------------------------------------------------------------------------- #
# Densities and scores
# --------------------------------------------------------------------------- #


def test_log_prob_is_normalised_in_1d():
    mix = mixture_1d()
    grid = np.linspace(-15, 15, 30_001)
    density = np.exp(np.asarray(mix.log_prob(jnp.asarray(grid[:, None])), np.float64))
    # Trapezoid on a smooth density with step 1e-3: error far below float32 rounding (~1e-6).
    assert abs(np.trapezoid(density, grid) - 1.0) < 1e-5


# Jitted once (the mixture is a traced pytree argument, the SDE static): eager dispatch of
# many small ops would dominate the run time of these tests.
_score = jax.jit(M.exact_score, static_argnums=1)
_field = jax.jit(M.exact_entropy_field, static_argnums=1)
_denoise = jax.jit(M.posterior_mean, static_argnums=1)
_mixture_score = jax.jit(lambda m, x: m.score(x))
_mixture_grad = jax.jit(lambda m, x: jax.vmap(jax.grad(m.log_prob))(x))


@pytest.mark.parametrize("make", [mixture_1d, mixture_2d])
def test_score_is_the_gradient_of_log_prob(make):
    mix = make()
    x, _ = points(jax.random.key(3), mix, 256)
    assert close(_mixture_score(mix, x), _mixture_grad(mix, x))
    assert np.allclose(np.sum(mix.class_posterior(x), -1), 1.0, atol=1e-6)


@pytest.mark.parametrize("make", [mixture_1d, mixture_2d])
def test_exact_score_matches_the_diffused_mixture_and_tweedie(make):
    mix = make()
    x, y = points(jax.random.key(4), mix, 128)
    for s in (1e-3, 0.1, 0.4, 0.9):
        diffused = mix.diffuse(SDE, s)
        s_batch = jnp.full(x.shape[0], s)
        score = _score(mix, SDE, x, s_batch)
        assert close(score, _mixture_score(diffused, x)), s
        assert close(score, _mixture_grad(diffused, x)), s
        # Tweedie (Eq. 40): x_hat = (x + (1 - alpha) score) / sqrt(alpha). The division by
        # sqrt(alpha) ~ 0.1 at s = 0.9 amplifies float32 rounding of x by 10x.
        tweedie = (x + SDE.variance(s) * score) / SDE.mean_coefficient(s)
        assert close(_denoise(mix, SDE, x, s_batch), tweedie, rtol=10 * F32_RTOL), s
        # Conditional score: the labelled component's score.
        single = _score(mix, SDE, x, s_batch, y)
        labels = np.asarray(y)
        assert close(single, -(x - diffused.means[labels]) / diffused.variances[labels]), s
        # Field = score + x (computed without the cancellation).
        assert close(_field(mix, SDE, x, s_batch), score + x), s
        assert close(_field(mix, SDE, x, s_batch, y), single + x), s
    # A scalar s is accepted too.
    assert close(M.exact_score(mix, SDE, x, 0.4), _score(mix, SDE, x, jnp.full(x.shape[0], 0.4)))


def test_one_component_reproduces_the_gaussian_module():
    variances = np.array([0.5, 2.0, 1.3])
    mix = M.GaussianMixture([1.0], np.zeros((1, 3)), variances[None])
    g = gaussian.JointGaussian(np.diag(variances), np.ones((1, 3)), 1.0)
    x = jax.random.normal(jax.random.key(5), (200, 3)) * 2.0
    s = jax.random.uniform(jax.random.key(6), (200,), minval=1e-4, maxval=1.0)
    assert close(M.exact_score(mix, SDE, x, s), gaussian.exact_score(g, SDE, x, s))
    assert close(M.exact_entropy_field(mix, SDE, x, s), gaussian.exact_entropy_field(g, SDE, x, s))


def test_functions_jit_with_the_mixture_as_an_argument():
    mix = mixture_2d()
    x, y = points(jax.random.key(7), mix, 64)
    s = jnp.full(64, 0.3)
    assert close(_field(mix, SDE, x, s, y), M.exact_entropy_field(mix, SDE, x, s, y))
    assert close(_denoise(mix, SDE, x, s), M.posterior_mean(mix, SDE, x, s))


# --------------------------------------------------------------------------- #
# The denoiser
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("s", [0.15, 0.4])
def test_posterior_mean_matches_importance_sampling(s):
    r"""E[X0 | x_s] by self-normalised importance sampling: x0 ~ p_d, weights N(x_s; sqrt(a) x0, 1 - a)."""
    mix = mixture_2d()
    x0, _ = mix.sample(jax.random.key(8), 200_000)
    x0 = np.asarray(x0, np.float64)
    alpha, var = float(SDE.alpha(s)), float(SDE.variance(s))
    queries = np.array([[0.0, 0.0], [-1.5, 0.5], [1.5, 0.8], [0.2, -2.0]])
    exact = np.asarray(M.posterior_mean(mix, SDE, jnp.asarray(queries, jnp.float32), s), np.float64)
    for query, x_hat in zip(queries, exact):
        log_w = -0.5 * np.sum((query - np.sqrt(alpha) * x0) ** 2, axis=1) / var
        w = np.exp(log_w - log_w.max())
        w /= w.sum()
        estimate = w @ x0
        # Delta-method standard error of a self-normalised importance estimate.
        stderr = np.sqrt(np.sum(w[:, None] ** 2 * (x0 - estimate) ** 2, axis=0))
        assert np.all(np.abs(estimate - x_hat) < Z_MAX * stderr + 1e-5), (query, estimate, x_hat, stderr)


# --------------------------------------------------------------------------- #
# Label information
# --------------------------------------------------------------------------- #


def test_class_posterior_tends_to_the_prior_at_T():
    mix = mixture_1d()
    x = jnp.linspace(-3.0, 3.0, 61)[:, None]
    r0 = np.asarray(mix.diffuse(SDE, 0.01).class_posterior(x))
    rT = np.asarray(mix.diffuse(SDE, SDE.T).class_posterior(x))
    assert np.allclose(rT.sum(-1), 1.0, atol=1e-6)
    # At T the component log-likelihoods differ by at most
    # sqrt(a)|x||dm|/c + a(x^2 |dv| + max m^2 + |dv|)/c (expand -(x - sqrt(a) m)^2/2c - log(c)/2
    # with c = 1 - a(1 - v)), so r_k / w_k lies within exp(+-spread). A wrong diffusion
    # (unscaled means) gives spread ~ |x||dm| ~ 10 and fails by far.
    a = float(SDE.alpha(SDE.T))
    c_min = 1 - a * (1 - mix.variances.min())
    xa = np.abs(np.asarray(x[:, 0]))
    spread = (np.sqrt(a) * xa * 3.5 + a * (xa**2 * 0.5 + 2.0**2 + 0.5)) / c_min
    assert np.all(np.abs(rT - mix.weights) <= mix.weights * np.expm1(spread)[:, None] + 1e-6)
    assert np.max(np.abs(r0 - mix.weights)) > 0.5  # the comparison can fail: near s = 0 it is far from the prior


def test_label_posterior_entropy_matches_quadrature_in_1d():
    mix = mixture_1d()
    s = 0.2
    diffused = mix.diffuse(SDE, s)
    grid = np.linspace(-15, 15, 60_001)
    comp = np.asarray(diffused.component_log_prob(jnp.asarray(grid[:, None])), np.float64)
    log_p = np.logaddexp.reduce(comp, axis=1)
    log_r = comp - log_p[:, None]
    exact = np.trapezoid(np.exp(log_p) * -np.sum(np.exp(log_r) * log_r, axis=1), grid)
    est = M.label_posterior_entropy(mix, SDE, s, key=jax.random.key(9), num_samples=40_000)
    assert est.num_samples == 40_000
    assert abs(est.value - exact) < Z_MAX * est.stderr, (est, exact)
    info = M.mutual_information_noisy(mix, SDE, s, key=jax.random.key(9), num_samples=40_000)
    assert abs(info.value - (mix.label_entropy - exact)) < Z_MAX * info.stderr


def test_label_posterior_entropy_limits():
    # Near T, H(Y) - H(Y|X_T) = I(X_T; Y) <= I(X_T; X_0) <= sum_d 1/2 log(1 + a Var_d / (1 - a))
    # (Gaussian channel with input variance Var_d per coordinate): about 1e-4 nats here.
    mix = mixture_2d()
    a = float(SDE.alpha(SDE.T))
    var = mix.weights @ (mix.variances + mix.means**2) - mix.mean**2
    bound = float(np.sum(0.5 * np.log1p(a * var / (1 - a))))
    est = M.label_posterior_entropy(mix, SDE, SDE.T, key=jax.random.key(10), num_samples=20_000)
    gap = mix.label_entropy - est.value
    assert -Z_MAX * est.stderr <= gap <= bound + Z_MAX * est.stderr, (gap, bound, est)
    # Well separated (means 20 standard deviations apart): the label is known at s ~ 0.
    separated = M.GaussianMixture([0.4, 0.6], [[-10.0], [10.0]], [[1.0], [1.0]])
    near_zero = M.label_posterior_entropy(separated, SDE, 1e-3, key=jax.random.key(11), num_samples=20_000)
    assert 0.0 <= near_zero.value < 1e-6
    assert abs(M.mutual_information_noisy(separated, SDE, 1e-3, key=jax.random.key(11), num_samples=20_000).value
               - separated.label_entropy) < 1e-6


# --------------------------------------------------------------------------- #
# Feeding kellynotes.entropy
# --------------------------------------------------------------------------- #


def test_field_gives_the_gaussian_closed_form_through_neural_entropy():
    variances = np.array([0.3, 2.5])
    mix = M.GaussianMixture([1.0], np.zeros((1, 2)), variances[None])
    g = gaussian.JointGaussian(np.diag(variances), np.ones((1, 2)), 1.0)
    x, _ = mix.sample(jax.random.key(12), 40_000)
    est = entropy.neural_entropy(partial(M.exact_entropy_field, mix, SDE), SDE, x, key=jax.random.key(13),
                                 s_min=1e-3, num_samples=40_000)
    assert abs(est.value - gaussian.total_entropy_x(g, SDE, 1e-3)) < Z_MAX * est.stderr


def test_conditional_field_gives_the_label_information_through_minde():
    r"""MINDE with the exact fields is I(X_{s_min}; Y) - I(X_T; Y), which the label-posterior route gives too."""
    mix = mixture_2d()
    s_min = 1e-3
    x, y = mix.sample(jax.random.key(14), 40_000)
    minde = entropy.mutual_information_minde(partial(M.exact_entropy_field, mix, SDE), SDE, x, y,
                                             key=jax.random.key(15), s_min=s_min, num_samples=40_000)
    start = M.mutual_information_noisy(mix, SDE, s_min, key=jax.random.key(16), num_samples=40_000)
    end = M.mutual_information_noisy(mix, SDE, SDE.T, key=jax.random.key(17), num_samples=40_000)
    stderr = np.sqrt(minde.stderr**2 + start.stderr**2 + end.stderr**2)
    assert abs(minde.value - (start.value - end.value)) < Z_MAX * stderr, (minde, start, end)
