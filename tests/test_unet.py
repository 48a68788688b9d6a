"""U-Net shapes and conditioning paths, and its use through the entropy estimators and the trainer."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kellynotes import entropy, training
from kellynotes.sde import VPSDE
from kellynotes.unet import UNet, UNetConfig

SMALL = UNetConfig((8, 8, 1), num_classes=10, channels=16, groups=4)


def perturbed(net):
    """The output layer starts at zero; give it random weights to see the conditioning."""
    weight = 0.1 * jax.random.normal(jax.random.key(9), net.out_conv.weight.shape)
    return eqx.tree_at(lambda n: n.out_conv.weight, net, weight)


@pytest.mark.parametrize("config", [
    SMALL,
    UNetConfig((28, 28, 1), num_classes=10, channels=16, groups=4, channel_multipliers=(1, 2),
               attention_resolutions=(14,)),
    UNetConfig((32, 32, 3), channels=16, groups=4, channel_multipliers=(1, 2, 2), attention_resolutions=(8,)),
])
def test_shapes_and_zero_start(config):
    net = UNet(config, key=jax.random.key(0))
    size = int(np.prod(config.image_shape))
    out = net(jnp.ones(size), jnp.float32(0.0), None if config.num_classes is None else 3)
    assert out.shape == (size,)
    assert float(jnp.abs(out).max()) == 0.0  # stores no information before training


def test_conditioning_paths():
    net = perturbed(UNet(SMALL, key=jax.random.key(0)))
    x = jax.random.normal(jax.random.key(1), (64,))
    log_snr = jnp.float32(1.0)
    with_label = net(x, log_snr, 3)
    other_label = net(x, log_snr, 4)
    null = net(x, log_snr, None)
    dropped = net(x, log_snr, 3, False)
    assert not np.allclose(with_label, other_label)
    assert not np.allclose(with_label, null)
    np.testing.assert_array_equal(null, dropped)  # y=None is the null class
    assert not np.allclose(net(x, jnp.float32(-3.0), 3), with_label)  # time enters


def test_bad_configs():
    with pytest.raises(ValueError, match="divisible by 4"):
        UNetConfig((10, 10, 1), channel_multipliers=(1, 2, 2))
    with pytest.raises(ValueError, match="groups"):
        UNetConfig((8, 8, 1), channels=10, groups=4)


def test_unet_plugs_into_estimators_and_trainer():
    sde = VPSDE()
    model = entropy.EntropyModel(UNet(SMALL, key=jax.random.key(0)), sde, 1e-3)
    x = np.random.default_rng(0).uniform(size=(64, 64)).astype(np.float32)
    labels = np.arange(64, dtype=np.int32) % 10
    zero = entropy.neural_entropy(model.entropy_field, sde, x, key=jax.random.key(1), num_samples=128)
    assert zero.value == 0.0

    def loss_fn(network, batch, key):
        return entropy.denoising_loss(network, sde, batch["x"], batch["y"], key, s_min=1e-3, label_dropout=0.5)

    config = training.FitConfig(steps=20, batch_size=16, learning_rate=1e-3, warmup_steps=2, steps_per_call=10,
                                checkpoint_every=10, progress=False)
    result = training.fit(loss_fn, model.network, {"x": x, "y": labels}, config, key=jax.random.key(2))
    trained = entropy.EntropyModel(result.model, sde, 1e-3)
    estimate = entropy.mutual_information_minde(trained.entropy_field, sde, x, labels, key=jax.random.key(3),
                                                num_samples=128)
    assert np.isfinite(estimate.value) and estimate.value > 0
