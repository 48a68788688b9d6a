"""Autoencoder models and losses: shapes, the split == unsplit identity, closed forms, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE
from scipy import stats

from kellynotes import dae, entropy
from kellynotes.unet import UNetConfig

SHAPE = (8, 8, 1)
D = 64
UNET = UNetConfig(SHAPE, channels=8, channel_multipliers=(1,), attention_resolutions=(), groups=4)
ENCODER = dae.EncoderConfig(SHAPE, 3, channels=4, hidden=16)


def images(n=6, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, D), minval=-1.0, maxval=1.0)


def perturbed(network: dae.LatentConditionedUNet) -> dae.LatentConditionedUNet:
    """The U-Net's last convolution starts at zero (a decoder that stores nothing, for which
    every condition gives the same output); random weights there make the condition visible."""
    weight = 0.1 * jax.random.normal(jax.random.key(9), network.unet.out_conv.weight.shape)
    return eqx.tree_at(lambda n: n.unet.out_conv.weight, network, weight)


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("config", [
    ENCODER,
    dae.EncoderConfig(SHAPE, 5, channels=4, downsamples=2, global_pool=True, hidden=16),
    dae.EncoderConfig((28, 28, 1), 20, channels=4, downsamples=3, hidden=16),  # 28 -> 14 -> 7 -> 4
    dae.EncoderConfig((28, 28, 1), 20, channels=4, downsamples=3, global_pool=True, hidden=16),
])
def test_encoder_shapes(config):
    encoder = dae.GaussianEncoder(config, key=jax.random.key(0))
    x = jnp.zeros((2, config.input_dim))
    mean, log_var = dae.encode(encoder, x)
    assert mean.shape == log_var.shape == (2, config.latent_dim)
    means, log_vars = dae.posterior(encoder, np.zeros((5, config.input_dim)), batch_size=2)  # padded last batch
    assert means.shape == log_vars.shape == (5, config.latent_dim)


def test_posterior_in_padded_batches_matches_one_batch():
    encoder = dae.GaussianEncoder(ENCODER, key=jax.random.key(0))
    x = np.asarray(images(7))
    mean, log_var = dae.encode(encoder, jnp.asarray(x))
    batched_mean, batched_log_var = dae.posterior(encoder, x, batch_size=3)
    # Same arithmetic, other batch shapes: XLA may pick other conv algorithms (float32 round-off).
    np.testing.assert_allclose(batched_mean, mean, atol=1e-5)
    np.testing.assert_allclose(batched_log_var, log_var, atol=1e-5)


def test_decoder_shapes_and_conditioning_paths():
    network = perturbed(dae.LatentConditionedUNet(UNET, 3, key=jax.random.key(0)))
    x, log_snr = images(1)[0], jnp.float32(1.0)
    z = jnp.array([0.5, -1.0, 2.0])
    out = network(x, log_snr, z)
    assert out.shape == (D,)
    assert not np.allclose(out, network(x, log_snr, -z))  # the latent enters
    np.testing.assert_array_equal(network(x, log_snr, None), network(x, log_snr, z, False))  # null condition
    assert not np.allclose(out, network(x, log_snr, None))
    vae = dae.VAE(ENCODER, dae.GaussianDecoderConfig(width=16, depth=1), key=jax.random.key(0))
    assert dae.vae_reconstruct(vae, images(4)).shape == (4, D)


def test_untrained_decoder_stores_nothing():
    """The decoder starts at e = 0, the model of p_eq = N(0, I): the probability-flow ODE
    dx/ds = -β e / 2 then does not move, and decoding returns its starting noise exactly."""
    network = dae.LatentConditionedUNet(UNET, 3, key=jax.random.key(0))
    z = jax.random.normal(jax.random.key(1), (4, 3))
    key = jax.random.key(2)
    decoded = dae.dae_reconstruct(network, SDE, z, key, s_min=1e-3, solver="euler", num_steps=3)
    np.testing.assert_array_equal(decoded, jax.random.normal(key, (4, D)))


# --------------------------------------------------------------------------- #
# The split loss (Eq. 74)
# --------------------------------------------------------------------------- #


def test_split_decoder_switches_latent_at_tau():
    network = perturbed(dae.LatentConditionedUNet(UNET, 3, key=jax.random.key(0)))
    split = dae.SplitLatentDecoder(network, 0.3, SDE)
    x = images(1)[0]
    z_per, z_sem, other = jnp.ones(3), -jnp.ones(3), jnp.array([2.0, 0.0, -2.0])
    early, late = SDE.log_snr(jnp.float32(0.2)), SDE.log_snr(jnp.float32(0.4))  # s < tau, s > tau
    np.testing.assert_array_equal(split(x, early, jnp.concatenate([z_per, z_sem])), network(x, early, z_per))
    np.testing.assert_array_equal(split(x, early, jnp.concatenate([z_per, other])), network(x, early, z_per))
    np.testing.assert_array_equal(split(x, late, jnp.concatenate([z_per, z_sem])), network(x, late, z_sem))
    np.testing.assert_array_equal(split(x, late, jnp.concatenate([other, z_sem])), network(x, late, z_sem))
    assert not np.allclose(network(x, early, z_per), network(x, early, z_sem))  # the checks above can fail


@eqx.filter_jit
def _losses(autoencoder, split_model, x, key, gamma):
    return (dae.dae_loss(autoencoder, SDE, x, key, s_min=1e-3, gamma=gamma),
            dae.split_dae_loss(split_model, SDE, x, key, s_min=1e-3, gamma=gamma))


@pytest.mark.parametrize("tau", [0.1, 0.5, 0.9])
def test_split_loss_equals_unsplit_loss_when_both_latents_are_the_same(tau):
    autoencoder = dae.DiffusionAutoencoder(ENCODER, UNET, key=jax.random.key(0))
    autoencoder = eqx.tree_at(lambda m: m.decoder, autoencoder, perturbed(autoencoder.decoder))
    split_model = dae.SplitDiffusionAutoencoder(ENCODER, ENCODER, UNET, tau, SDE, key=jax.random.key(1))
    same = eqx.tree_at(lambda m: (m.perceptual_encoder, m.semantic_encoder, m.decoder.network), split_model,
                       (autoencoder.encoder, autoencoder.encoder, autoencoder.decoder))
    x, key = images(32), jax.random.key(3)
    unsplit, split = _losses(autoencoder, same, x, key, 0.0)
    np.testing.assert_array_equal(split, unsplit)  # exactly: same latents, same s and noise, same network calls
    # With the KL term the split model pays it twice (two identical encoders): float32 round-off only.
    mean, log_var = dae.encode(autoencoder.encoder, x)
    kl = jnp.mean(dae.kl_to_standard_normal(mean, log_var))
    unsplit, split = _losses(autoencoder, same, x, key, 0.5)
    np.testing.assert_allclose(split, unsplit + 0.5 * kl, rtol=1e-6)
    # A different semantic encoder changes the loss (the identity above is not vacuous).
    other = eqx.tree_at(lambda m: m.decoder.network, split_model, autoencoder.decoder)
    other = eqx.tree_at(lambda m: m.perceptual_encoder, other, autoencoder.encoder)
    _, split_other = _losses(autoencoder, other, x, key, 0.0)
    assert abs(float(split_other) - float(unsplit)) > 1e-3


def test_split_decoder_with_equal_latents_is_the_network_in_the_denoising_loss():
    network = perturbed(dae.LatentConditionedUNet(UNET, 3, key=jax.random.key(0)))
    split = dae.SplitLatentDecoder(network, 0.4, SDE)
    x, z, key = images(16), jax.random.normal(jax.random.key(5), (16, 3)), jax.random.key(6)
    loss = eqx.filter_jit(lambda net, y: entropy.denoising_loss(net, SDE, x, y, key, s_min=1e-3))
    np.testing.assert_array_equal(loss(split, jnp.concatenate([z, z], axis=1)), loss(network, z))


# --------------------------------------------------------------------------- #
# Closed forms
# --------------------------------------------------------------------------- #


def test_kl_closed_form():
    mean = jnp.array([[0.0, 0.0], [1.5, -2.0], [0.3, 0.0]])
    log_var = jnp.array([[0.0, 0.0], [0.0, 0.0], [np.log(0.25), np.log(4.0)]])
    kl = np.asarray(dae.kl_to_standard_normal(mean, log_var))
    assert kl[0] == 0.0  # q = p
    np.testing.assert_allclose(kl[1], (1.5**2 + 2.0**2) / 2, rtol=1e-6)  # pure shift: |mu|^2 / 2
    # Per coordinate: (sigma^2 + mu^2 - 1 - log sigma^2) / 2
    expected = 0.5 * (0.25 + 0.09 - 1 - np.log(0.25)) + 0.5 * (4.0 - 1 - np.log(4.0))
    np.testing.assert_allclose(kl[2], expected, rtol=1e-6)


def test_kl_matches_monte_carlo():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from reparameterised draws."""
    mean, log_var = np.array([0.7, -1.2, 0.1]), np.array([-1.0, 0.5, 0.0])
    n = 200_000
    z = np.asarray(dae.reparameterize(jnp.broadcast_to(mean, (n, 3)), jnp.broadcast_to(log_var, (n, 3)),
                                      jax.random.key(0)), np.float64)
    std = np.exp(0.5 * log_var)
    log_ratio = np.sum(stats.norm.logpdf(z, mean, std) - stats.norm.logpdf(z), axis=1)
    estimate, stderr = log_ratio.mean(), log_ratio.std() / np.sqrt(n)
    exact = float(dae.kl_to_standard_normal(jnp.asarray(mean), jnp.asarray(log_var)))
    assert abs(estimate - exact) < 5 * stderr  # 5 standard errors: fails by chance with probability < 1e-6


def test_gaussian_nll_is_the_normal_log_density():
    x, mean = np.asarray(images(3)), np.asarray(images(3, seed=1))
    expected = -np.sum(stats.norm.logpdf(x, mean, 0.3), axis=1)
    np.testing.assert_allclose(dae.gaussian_nll(jnp.asarray(x), jnp.asarray(mean), 0.3), expected, rtol=1e-5)


def test_vae_loss_weights_the_kl_term_by_gamma():
    vae = dae.VAE(ENCODER, dae.GaussianDecoderConfig(width=16, depth=1), key=jax.random.key(0))
    x, key = images(8), jax.random.key(1)
    mean, log_var = dae.encode(vae.encoder, x)
    kl = float(jnp.mean(dae.kl_to_standard_normal(mean, log_var)))
    difference = float(dae.vae_loss(vae, x, key, gamma=2.0) - dae.vae_loss(vae, x, key, gamma=1.0))
    np.testing.assert_allclose(difference, kl, rtol=1e-4)  # a difference of two ~100-nat float32 sums


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


def test_bad_inputs_raise_clear_errors():
    encoder = dae.GaussianEncoder(ENCODER, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"shape \(64,\)"):
        encoder(jnp.zeros(63))
    with pytest.raises(ValueError, match=r"shape \(batch, 64\)"):
        dae.encode(encoder, jnp.zeros((4, 8, 8)))
    autoencoder = dae.DiffusionAutoencoder(ENCODER, UNET, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"shape \(batch, 64\)"):
        dae.dae_loss(autoencoder, SDE, jnp.zeros((4, 65)), jax.random.key(0), s_min=1e-3)
    with pytest.raises(ValueError, match="latent z"):
        autoencoder.decoder(jnp.zeros(D), jnp.float32(0.0), jnp.zeros(4))
    split = dae.SplitDiffusionAutoencoder(ENCODER, ENCODER, UNET, 0.5, SDE, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"z_per, z_sem"):
        split.decoder(jnp.zeros(D), jnp.float32(0.0), jnp.zeros(3))
    with pytest.raises(ValueError, match="condition"):
        dae.dae_reconstruct(split.decoder, SDE, jnp.zeros((2, 3)), jax.random.key(0), s_min=1e-3)
    with pytest.raises(ValueError, match="num_classes=None"):
        dae.LatentConditionedUNet(UNetConfig(SHAPE, num_classes=10, channels=8, groups=4), 3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="image_shape"):
        dae.DiffusionAutoencoder(dae.EncoderConfig((28, 28, 1), 2), UNET, key=jax.random.key(0))
    with pytest.raises(ValueError, match="share image_shape and latent_dim"):
        dae.SplitDiffusionAutoencoder(ENCODER, dae.EncoderConfig(SHAPE, 5), UNET, 0.5, SDE, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"tau must lie in \(0, T=1.0\)"):
        dae.SplitDiffusionAutoencoder(ENCODER, ENCODER, UNET, 1.0, SDE, key=jax.random.key(0))
    with pytest.raises(ValueError, match="latent_dim must be positive"):
        dae.EncoderConfig(SHAPE, 0)
    with pytest.raises(ValueError, match="sigma must be positive"):
        dae.GaussianDecoderConfig(sigma=0.0)
    with pytest.raises(ValueError, match="same shape"):
        dae.kl_to_standard_normal(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def test_untrained_encoder_means_vary_over_images():
    """The initialisation a diffusion decoder needs (see GaussianEncoder): on real digits the
    untrained posterior means spread over images by order one, above the initial posterior
    standard deviation exp(-2 / 2) = 0.37 (the default initialisation gave about 0.002)."""
    from kellynotes import data

    digits = data.digits("test")
    x = (2.0 * digits.images - 1.0).reshape(len(digits.images), -1)
    means, log_vars = dae.posterior(dae.GaussianEncoder(dae.EncoderConfig(SHAPE, 8), key=jax.random.key(0)), x)
    assert np.mean(np.std(means, axis=0)) > 0.37
    np.testing.assert_allclose(np.mean(log_vars), -2.0, atol=0.5)


def test_split_models_differing_only_in_tau_share_one_compiled_training_step():
    from kellynotes import training

    traces = []

    def loss(model, batch, key):
        traces.append(1)  # runs only while the step is traced, i.e. on a compilation-cache miss
        return dae.split_dae_loss(model, SDE, batch["x"], key, s_min=1e-3)

    config = training.FitConfig(steps=2, batch_size=4, warmup_steps=1, steps_per_call=1, progress=False)
    x = np.asarray(images(16))
    for index, tau in enumerate((0.1, 0.9)):
        model = dae.SplitDiffusionAutoencoder(ENCODER, ENCODER, UNET, tau, SDE, key=jax.random.key(index))
        fitted = training.fit(loss, model, {"x": x}, config, key=jax.random.key(10 + index),
                              trainable=dae.trainable(model))
        if index == 0:
            traced_by_the_first = len(traces)
        # The split time is held fixed, not trained (nor cast).
        assert float(fitted.model.decoder.tau) == pytest.approx(tau)
        assert float(fitted.ema_model.decoder.log_snr_tau) == float(model.decoder.log_snr_tau)
    assert traced_by_the_first > 0 and len(traces) == traced_by_the_first  # tau 0.9 traced nothing new
