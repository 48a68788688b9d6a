"""The Gaussian baseline: its field is the exact field of the Gaussian it holds, its fit recovers the
moments of a sample, the ridge is chosen on validation pairs, a residual network starts at it, and
the Gaussian's information in closed form is unbiased."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE

from kellynotes import baseline, entropy, gaussian
from kellynotes.nets import EntropyMLP


def joint(seed: int = 0) -> gaussian.JointGaussian:
    return gaussian.full_rank(jax.random.key(seed), dim_x=3, dim_y=2, noise_std=0.8)


def exact_baseline(g: gaussian.JointGaussian) -> baseline.GaussianBaseline:
    return baseline.GaussianBaseline.from_moments(np.zeros(g.dim_x), g.cov_x, np.zeros(g.dim_y), g.gain,
                                                  g.cov_x_given_y)


def batched_field(b: baseline.GaussianBaseline, x, s, y=None):
    """The baseline's entropy field e = u / sqrt(1 - alpha) for a batch."""
    log_snr = SDE.log_snr(s)
    if y is None:
        u = jax.vmap(lambda xi, li: b(xi, li))(x, log_snr)
    else:
        u = jax.vmap(b)(x, log_snr, y, jnp.ones(x.shape[0], bool))
    return u / SDE.std(s)[:, None]


class TestField:
    def test_is_the_exact_field_of_its_gaussian(self):
        g = joint()
        x, y = g.sample(jax.random.key(1), 64)
        s = jnp.geomspace(1e-3, 1.0, 64)
        b = exact_baseline(g)
        # float32 throughout: the fields agree to float32 round-off of O(1) numbers (1e-4 relative)
        for given in (None, y):
            np.testing.assert_allclose(batched_field(b, x, s, given), gaussian.exact_entropy_field(g, SDE, x, s, given),
                                       rtol=1e-4, atol=1e-4)

    def test_a_shifted_mean_shifts_the_field_like_the_data(self):
        """The field of N(m, S) at x + sqrt(alpha) m equals that of N(0, S) at x, plus sqrt(alpha) m:
        e = grad log p_s + x, and grad log p_s only sees x - sqrt(alpha) m."""
        g = joint()
        x, y = g.sample(jax.random.key(2), 32)
        s = jnp.full(32, 0.3)
        m_x, m_y = np.array([1.0, -2.0, 0.5]), np.array([3.0, -1.0])
        shifted = baseline.GaussianBaseline.from_moments(m_x, g.cov_x, m_y, g.gain, g.cov_x_given_y)
        root_alpha = jnp.sqrt(SDE.alpha(s))[:, None]
        expected = gaussian.exact_entropy_field(g, SDE, x, s, y) + root_alpha * m_x
        np.testing.assert_allclose(batched_field(shifted, x + root_alpha * m_x, s, y + m_y), expected,
                                   rtol=1e-4, atol=1e-4)

    def test_dropped_condition_gives_the_unconditional_field(self):
        g = joint()
        x, y = g.sample(jax.random.key(3), 8)
        b = exact_baseline(g)
        log_snr = jnp.zeros(8)
        dropped = jax.vmap(b)(x, log_snr, y, jnp.zeros(8, bool))
        np.testing.assert_array_equal(dropped, jax.vmap(lambda xi, li: b(xi, li))(x, log_snr))

    def test_minde_of_the_baseline_is_the_gaussian_information(self):
        g = joint()
        x, y = g.sample(jax.random.key(4), 20_000)
        b = exact_baseline(g)
        estimate = entropy.mutual_information_minde(lambda x, s, y=None: batched_field(b, x, s, y), SDE, x, y,
                                                    key=jax.random.key(5), s_min=1e-5, num_samples=100_000)
        truth = gaussian.mutual_information(g, SDE, s_min=1e-5)
        # Monte Carlo error only (the field is exact): 5 standard errors
        assert abs(estimate.value - truth) < 5 * estimate.stderr, (estimate, truth)
        np.testing.assert_allclose(b.mutual_information(), gaussian.mutual_information(g), rtol=1e-5)

    def test_is_not_trained(self):
        g = joint()
        b = exact_baseline(g)
        x, y = (a[:4] for a in g.sample(jax.random.key(6), 4))
        grads = jax.grad(lambda b: jnp.sum(jax.vmap(b)(x, jnp.zeros(4), y, jnp.ones(4, bool)) ** 2))(b)
        assert all(float(jnp.max(jnp.abs(leaf))) == 0.0 for leaf in jax.tree.leaves(grads))


class TestFit:
    def test_recovers_the_moments_of_a_large_sample(self):
        g = joint()
        x, y = (np.asarray(a, np.float64) for a in g.sample(jax.random.key(7), 200_000))
        fit = baseline.fit_gaussian_baseline(x + 2.0, y - 1.0)
        assert fit.ridge == 0.0 and fit.validation_nll == () and fit.validation_nll_stderr == ()
        # sample moments of 2e5 pairs: errors ~ 1/sqrt(2e5) = 2e-3 of O(1) entries; 1e-2 is 5 of those
        np.testing.assert_allclose(fit.baseline.gain, g.gain, atol=1e-2)
        np.testing.assert_allclose(fit.baseline.mean_x, np.full(3, 2.0), atol=1e-2)
        np.testing.assert_allclose(fit.baseline.mutual_information(), gaussian.mutual_information(g), atol=1e-2)

    def test_ridge_is_chosen_on_validation_pairs(self):
        """Independent x and y in 20 + 20 dimensions, 300 pairs: least squares fits spurious gains
        (about 20*20/(2*300) = 0.67 nats of Gaussian information); the validation pairs must prefer
        shrinking them, and the fit's information falls."""
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
        validation = rng.normal(size=(300, 20)), rng.normal(size=(300, 20))
        plain = baseline.fit_gaussian_baseline(x, y)
        ridged = baseline.fit_gaussian_baseline(x, y, validation)
        assert ridged.ridge > 0.0 and len(ridged.validation_nll) == len(baseline.RIDGE_GRID)
        # the one-standard-error rule towards less shrinkage: the chosen ridge is within one standard
        # error of the lowest validation loss, and every smaller ridge is not
        chosen = baseline.RIDGE_GRID.index(ridged.ridge)
        excess = np.array(ridged.validation_nll) - min(ridged.validation_nll)
        assert excess[chosen] <= ridged.validation_nll_stderr[chosen]
        assert np.all(excess[:chosen] > np.array(ridged.validation_nll_stderr[:chosen]))
        assert plain.baseline.mutual_information() > 0.4 and ridged.baseline.mutual_information() < 0.3

    def test_few_dimensions_keep_the_least_squares_gain(self):
        """3 + 2 dimensions, 5000 pairs: the validation loss hardly depends on the ridge, so none is used
        (shrinking the gain would bias the information low)."""
        g = joint()
        x, y = (np.asarray(a, np.float64) for a in g.sample(jax.random.key(11), 6000))
        fit = baseline.fit_gaussian_baseline(x[:5000], y[:5000], (x[5000:], y[5000:]))
        assert fit.ridge <= 1e-2

    @pytest.mark.parametrize("args, message", [
        ((np.zeros((10, 2)), np.zeros((9, 1))), "shapes"),
        ((np.zeros((3, 2)), np.zeros((3, 2))), "more pairs"),
    ])
    def test_bad_input_is_named(self, args, message):
        with pytest.raises(ValueError, match=message):
            baseline.fit_gaussian_baseline(*args)

    def test_bad_moments_are_named(self):
        with pytest.raises(ValueError, match="cov_x must have shape"):
            baseline.GaussianBaseline.from_moments(np.zeros(2), np.eye(3), np.zeros(1), np.zeros((2, 1)), np.eye(2))
        with pytest.raises(ValueError, match="cov_x_given_y must be a finite positive definite"):
            baseline.GaussianBaseline.from_moments(np.zeros(2), np.eye(2), np.zeros(1), np.zeros((2, 1)), -np.eye(2))


class TestGaussianInformation:
    def test_is_unbiased_where_the_plug_in_is_not(self):
        """3 + 2 dimensions, 30 pairs, 2,000 samples of them: the plug-in information is biased up by about
        D_X D_Y / 2N = 0.1 nats (measured +0.106), the corrected one not at all (exactly, for Gaussian
        pairs; measured -0.009). Each mean is compared with the truth to 5 standard errors of the mean
        over the samples (0.0056 nats; the plug-in's bias is 19 of them). The reported standard error is
        asymptotic, so at 30 pairs it must match the spread of the estimates only to 20 % (measured 0.88
        of it; 0.96 at 60 pairs)."""
        g = joint()
        truth = gaussian.mutual_information(g)
        x, y = (np.asarray(a, np.float64) for a in g.sample(jax.random.key(20), 30 * 2000))
        estimates = [baseline.gaussian_information(x[i::2000], y[i::2000]) for i in range(2000)]
        values = np.array([e.value for e in estimates])
        plug_in = np.array([_plug_in(x[i::2000], y[i::2000]) for i in range(2000)])
        sem = values.std() / np.sqrt(values.size)
        assert abs(values.mean() - truth) < 5 * sem, (values.mean(), truth, sem)
        assert plug_in.mean() - truth > 10 * sem
        assert np.mean([e.stderr for e in estimates]) == pytest.approx(values.std(), rel=0.2)

    def test_is_unchanged_by_invertible_linear_maps(self):
        g = joint()
        x, y = (np.asarray(a, np.float64) for a in g.sample(jax.random.key(21), 500))
        mixing = np.random.default_rng(1).normal(size=(3, 3)) + 3 * np.eye(3)
        plain, mixed = baseline.gaussian_information(x, y), baseline.gaussian_information(x @ mixing + 5.0, -2.0 * y)
        # exact in arithmetic: the log-determinants shift by log|det| on both sides; float64 rounding
        assert mixed.value == pytest.approx(plain.value, abs=1e-10)
        assert mixed.stderr == pytest.approx(plain.stderr, rel=1e-8)

    @pytest.mark.parametrize("x, y, message", [
        (np.zeros((10, 2)), np.zeros((9, 1)), "shapes"),
        (np.ones((4, 2)), np.ones((4, 1)), "more than D_X"),
        (np.c_[np.arange(20.0), np.ones(20)], np.arange(20.0)[:, None] ** 2, "singular"),
        (np.full((20, 2), np.nan), np.zeros((20, 1)), "finite"),
    ])
    def test_bad_input_is_named(self, x, y, message):
        with pytest.raises(ValueError, match=message):
            baseline.gaussian_information(x, y)


def _plug_in(x, y) -> float:
    """I of the Gaussian with the sample covariance of the pairs, nats."""
    log_det = lambda a: np.linalg.slogdet(np.atleast_2d(np.cov(a, rowvar=False)))[1]  # noqa: E731
    return 0.5 * (log_det(x) + log_det(y) - log_det(np.c_[x, y]))


def test_residual_network_starts_at_the_baseline_and_trains():
    g = joint()
    b = exact_baseline(g)
    network = EntropyMLP(3, key=jax.random.key(8), width=16, depth=2, condition=("vector", 2))
    residual = baseline.ResidualNetwork(network, b)
    x, y = g.sample(jax.random.key(9), 16)
    log_snr, use = jnp.linspace(-5, 5, 16), jnp.ones(16, bool)
    np.testing.assert_array_equal(jax.vmap(residual)(x, log_snr, y, use), jax.vmap(b)(x, log_snr, y, use))
    # Weight decay would shrink any array the optimiser holds: the baseline is not one of them.
    config = entropy.TrainConfig(steps=20, batch_size=8, steps_per_call=10, weight_decay=0.5, progress=False)
    result = entropy.train(jax.random.key(10), x, y, baseline=b, config=config)
    assert isinstance(result.model.network, baseline.ResidualNetwork)
    for kept, fitted in zip(jax.tree.leaves(result.model.network.baseline), jax.tree.leaves(b)):
        np.testing.assert_array_equal(kept, fitted)  # frozen through training
    with pytest.raises(ValueError, match="continuous y"):
        entropy.train(jax.random.key(10), x, jnp.zeros(16, jnp.int32), baseline=b,
                      config=entropy.TrainConfig(steps=10, batch_size=8, steps_per_call=10, progress=False))
