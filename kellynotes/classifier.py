r"""A small convolutional classifier $q(y\mid\mathbf x)$ for images: the reference lower bound of the label sandwich.

Trained by cross-entropy with :func:`kellynotes.training.fit` (Adam with warmup and cosine
decay; the EMA weights are used), it gives on held-out images the Barber–Agakov bound
$I(\mathbf X;Y)\ge H(Y) - \mathbb E[-\log q(Y\mid\mathbf X)]$ of :mod:`kellynotes.bounds`. Any classifier gives a
valid bound; a better one gives a tighter bound.

Images are (N, H, W, C) arrays with pixels in [0, 1] (as :mod:`kellynotes.data` loads them);
they are scaled to [-1, 1] inside.
"""

from dataclasses import dataclass, field, replace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from . import training

__all__ = ["ClassifierConfig", "ConvClassifier", "TrainedClassifier", "train_classifier"]


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture and training of :class:`ConvClassifier` (defaults measured on the 8×8 digits)."""

    channels: int = 32
    hidden: int = 128
    fit: training.FitConfig = field(default_factory=lambda: training.FitConfig(
        steps=1500, batch_size=128, learning_rate=2e-3, warmup_steps=100, weight_decay=1e-4, ema_decay=0.99,
        steps_per_call=100, checkpoint_every=1500))

    def quick(self) -> "ClassifierConfig":
        return replace(self, fit=replace(self.fit, steps=20, steps_per_call=10, checkpoint_every=20, warmup_steps=2))


class ConvClassifier(eqx.Module):
    r"""Two 3×3 convolution blocks (the second with stride 2), global mean pooling, an MLP head:
    ``classifier(image (H, W, C) in [-1, 1]) -> logits (K,)``."""

    convs: tuple
    head: eqx.nn.MLP

    def __init__(self, channels_in: int, num_classes: int, config: ClassifierConfig, *, key: PRNGKeyArray):
        keys = jax.random.split(key, 4)
        c = config.channels
        self.convs = (
            eqx.nn.Conv2d(channels_in, c, 3, padding=1, key=keys[0]),
            eqx.nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, key=keys[1]),
            eqx.nn.Conv2d(2 * c, 2 * c, 3, padding=1, key=keys[2]),
        )
        self.head = eqx.nn.MLP(2 * c, num_classes, config.hidden, depth=1, activation=jax.nn.gelu, key=keys[3])

    def __call__(self, image: Float[Array, "H W C"]) -> Float[Array, " K"]:
        h = jnp.moveaxis(image, -1, 0)
        for conv in self.convs:
            h = jax.nn.gelu(conv(h))
        return self.head(jnp.mean(h, axis=(1, 2)))


def _cross_entropy(model, batch, key):
    logits = jax.vmap(model)(batch["x"])
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), batch["y"][:, None], axis=1))


@dataclass(frozen=True)
class TrainedClassifier:
    """A trained :class:`ConvClassifier` (EMA weights) with its training record."""

    model: ConvClassifier
    num_classes: int
    fit: training.FitResult

    def log_probabilities(self, images: Float[Array, "N H W C"], batch_size: int = 512) -> np.ndarray:
        r"""$\log q(k\mid\mathbf x_i)$, shape (N, K), float64."""
        images = _scaled(images)
        out = [np.asarray(_log_softmax_batch(self.model, jnp.asarray(images[i:i + batch_size])), np.float64)
               for i in range(0, images.shape[0], batch_size)]
        return np.concatenate(out)


@eqx.filter_jit
def _log_softmax_batch(model, images):
    return jax.nn.log_softmax(jax.vmap(model)(images))


def _scaled(images) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got shape {images.shape}")
    return 2.0 * images - 1.0


def train_classifier(key: PRNGKeyArray, images: Float[Array, "N H W C"], labels: Int[Array, " N"], *,
                     num_classes: int, config: ClassifierConfig = ClassifierConfig(),
                     progress: bool = False) -> TrainedClassifier:
    """Train a :class:`ConvClassifier` on ``images`` (pixels in [0, 1]) and integer ``labels`` by cross-entropy."""
    x = _scaled(images)
    labels = np.asarray(labels, np.int32)
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape (N={x.shape[0]},), got {labels.shape}")
    key_model, key_fit = jax.random.split(key)
    model = ConvClassifier(x.shape[-1], num_classes, config, key=key_model)
    fitted = training.fit(_cross_entropy, model, {"x": x, "y": labels}, replace(config.fit, progress=progress),
                          key=key_fit)
    return TrainedClassifier(fitted.ema_model, num_classes, fitted)
