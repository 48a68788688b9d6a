"""The class posterior of a diffusion model from its per-class losses (kellynotes.posterior),
checked on Gaussian mixtures, where the exact posterior at every noise level is known."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE

from kellynotes import mixture, posterior, semantic

LINE = semantic.line_mixture(num_classes=3, separation=1.5, variance=0.05)
FIELD = functools.partial(mixture.exact_entropy_field, LINE, SDE)


def clean_pairs(n, seed=0):
    x, y = LINE.sample(jax.random.key(seed), n)
    return np.asarray(x), np.asarray(y)


def exact_cross_entropy(x0, y, s, key):
    """E[-log p_s(y | x_s)] with the exact posterior, at the noisy points noisy_label_information uses."""
    noise = np.asarray(jax.random.normal(jax.random.split(key)[0], x0.shape), np.float32)
    alpha = float(SDE.alpha(s))
    x_s = np.sqrt(alpha) * x0 + np.sqrt(1 - alpha) * noise if s > 0 else x0
    diffused = LINE.diffuse(SDE, s) if s > 0 else LINE
    log_r = np.asarray(jax.nn.log_softmax(diffused.component_log_prob(jnp.asarray(x_s)), axis=-1))
    return -log_r[np.arange(y.size), y].mean()


def test_posterior_along_the_noise_matches_the_exact_posterior():
    x0, y = clean_pairs(300)
    grid = np.array([0.0, 0.01, 0.08, 0.15, 0.3, 0.6])
    key = jax.random.key(1)
    info = posterior.noisy_label_information(FIELD, SDE, x0, y, grid, key=key, class_prior=LINE.weights,
                                             num_time_samples=1024,
                                             batch_size=100)
    exact = np.array([exact_cross_entropy(x0, y, s, key) for s in grid])
    # Same points, exact field: what is left is the Monte Carlo error of the losses and the
    # softmax bias it causes. Measured at 1024 draws (antithetic): <= 1 % and <= 0.002 nats
    # on this grid; 2 % + 0.01 nats (the target) leaves room for other seeds.
    np.testing.assert_allclose(info.conditional_entropy, exact, rtol=0.02, atol=0.01)
    assert np.all(info.information <= info.label_entropy + 1e-9)
    assert info.accuracy[0] > 0.95 and info.accuracy[-1] < 0.7


def test_clean_posterior_and_loss_gap():
    x0, y = clean_pairs(400, seed=3)
    post = posterior.class_posterior(FIELD, SDE, x0, num_classes=3, key=jax.random.key(2), num_time_samples=256,
                                     batch_size=200)
    np.testing.assert_allclose(np.exp(post.log_probabilities).sum(axis=1), 1.0, atol=1e-9)
    exact_log_r = np.asarray(jax.nn.log_softmax(LINE.component_log_prob(jnp.asarray(x0)), axis=-1))
    assert np.mean(np.argmax(post.log_probabilities, 1) == np.argmax(exact_log_r, 1)) > 0.99
    # The loss gap estimates I(X_0; Y) = H(Y) - H(Y|X_0); the classes barely overlap, so it is
    # near log 3. Its noise is that of a difference of two ELBOs (5 s.e.).
    gap = post.loss_gap(y)
    exact_information = np.log(3) + np.mean(np.sum(np.exp(exact_log_r) * exact_log_r, axis=1))
    assert abs(gap.value - exact_information) < 5 * gap.stderr + 0.02


def test_no_noise_left_gives_the_prior_and_bad_arguments_are_named():
    x0, _ = clean_pairs(10)
    post = posterior.class_posterior(FIELD, SDE, x0, num_classes=3, key=jax.random.key(0), s=SDE.T - 1e-6,
                                     class_prior=[0.2, 0.3, 0.5])
    np.testing.assert_allclose(np.exp(post.log_probabilities), np.tile([0.2, 0.3, 0.5], (10, 1)), atol=1e-12)
    with pytest.raises(ValueError, match="even"):
        posterior.class_posterior(FIELD, SDE, x0, num_classes=3, key=jax.random.key(0), num_time_samples=7)
    with pytest.raises(ValueError, match="s must lie"):
        posterior.class_posterior(FIELD, SDE, x0, num_classes=3, key=jax.random.key(0), s=1.0)
    with pytest.raises(ValueError, match="class_prior must have K=3"):
        posterior.class_posterior(FIELD, SDE, x0, num_classes=3, key=jax.random.key(0), class_prior=[0.5, 0.5])
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        posterior.class_posterior(FIELD, SDE, x0[:, 0], num_classes=3, key=jax.random.key(0))


def test_loss_gap_is_the_bounded_part_plus_the_unconditional_excess():
    x0, y = clean_pairs(400, seed=4)
    frequencies = np.bincount(y, minlength=3) / y.size
    post = posterior.class_posterior(FIELD, SDE, x0, num_classes=3, key=jax.random.key(3), num_time_samples=256,
                                     class_prior=frequencies, batch_size=200)
    bounded = np.mean(post.log_probabilities[np.arange(y.size), y] - np.log(frequencies[y]))
    # An identity per example (L_0 - L_y = (L_0 - L_mix) + (log q - log w_y)): float64 rounding only.
    np.testing.assert_allclose(post.loss_gap(y).value, bounded + post.unconditional_excess().value, atol=1e-9)
    # For the exact field the unconditional ELBO is that of the mixture of the conditional ones:
    # only the Monte Carlo error of the losses (and the log-sum-exp's Jensen bias) is left
    # (5 s.e. plus 0.02 nats for that bias, which is below 0.01 at 256 draws here).
    excess = post.unconditional_excess()
    assert abs(excess.value) < 5 * excess.stderr + 0.02
