r"""Labelled images: a class-conditional U-Net, and the label information it measures (nats).

* :func:`fit_image_model` trains a class-conditional U-Net by denoising entropy matching
  (label dropout makes the same network unconditional too) on images scaled to [-1, 1].
* :func:`measure_label_information` measures $I(\mathbf X;Y)$ on **held-out** images in every way
  the package knows, side by side:

  - the **bounded estimate** $H(Y) - \mathbb E[-\log q(Y\mid\mathbf X)]$ with $q$ the diffusion model's own
    class posterior (:func:`kellynotes.posterior.class_posterior`): a Barber–Agakov lower bound,
    never above $H(Y)\le\log K$;
  - the **loss gap** $\mathbb E[L_\varnothing - L_Y]$ from the same per-class losses (a difference of ELBOs),
    which is the bounded estimate plus the **unconditional excess** $\mathbb E[L_\varnothing - L_{\rm mix}]$
    exactly (:mod:`kellynotes.posterior`);
  - **MINDE** (Eq. 14) and the **entropy difference**
    $S^{\mathbf X}_{\rm NN} - S^{\mathbf X\mid Y}_{\rm NN}$ (Eq. 52), which
    are not bounded by $H(Y)$;
  - the **sandwich** of :mod:`kellynotes.bounds` when a reference classifier's probabilities are
    given (e.g. of :func:`kellynotes.classifier.train_classifier`, trained on the training images only);
  - optionally $H(Y\mid\tilde{\mathbf X}_s)$ and $I(\tilde{\mathbf X}_s;Y)$ along the noise
    (:func:`kellynotes.posterior.noisy_label_information`).

  The class prior of the posterior is the held-out label frequencies, the same ones the
  plug-in $H(Y)$ uses, so the bounded estimate is exactly the Barber–Agakov bound of
  :func:`kellynotes.bounds.barber_agakov_bound`. Every part records its cost in seconds.
"""

import time
from dataclasses import dataclass, field, replace

import jax
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from . import bounds, entropy, posterior, training
from .montecarlo import Estimate
from .sde import VPSDE
from .unet import UNet, UNetConfig

__all__ = ["ImageModelConfig", "LabelInformation", "LabelInformationConfig", "fit_image_model",
           "measure_label_information", "to_vectors"]


@dataclass(frozen=True)
class ImageModelConfig:
    """U-Net size and training of a class-conditional entropy-matching model (defaults: 8×8 digits on a CPU)."""

    channels: int = 16
    channel_multipliers: tuple[int, ...] = (1, 2)
    attention_resolutions: tuple[int, ...] = (4,)
    blocks_per_level: int = 1
    fit: training.FitConfig = field(default_factory=lambda: training.FitConfig(
        steps=4000, batch_size=64, learning_rate=1e-3, warmup_steps=200, steps_per_call=100, checkpoint_every=500))
    # 0.5, not 0.2: on the digits the unconditional branch is then as good a model as the mixture of
    # the conditional ones within 0.9 nats instead of 2.4, and the bounded estimate is unchanged
    # (benchmarks/minde_excess.py; 0.8 starves the conditional branches: accuracy 0.96, bound 2.09).
    label_dropout: float = 0.5
    s_min: float = 1e-3

    def unet(self, image_shape: tuple[int, int, int], num_classes: int) -> UNetConfig:
        """The :class:`~kellynotes.unet.UNetConfig` of this model for images of ``image_shape`` (H, W, C)."""
        return UNetConfig(tuple(image_shape), num_classes=num_classes, channels=self.channels,
                          channel_multipliers=self.channel_multipliers,
                          attention_resolutions=self.attention_resolutions, blocks_per_level=self.blocks_per_level,
                          groups=min(8, self.channels // 2))


def to_vectors(images: Float[Array, "N H W C"]) -> np.ndarray:
    """Images with pixels in [0, 1] as flat vectors in [-1, 1] (N, H·W·C), float32: what the models see."""
    images = np.asarray(images, np.float32)
    return (2.0 * images - 1.0).reshape(images.shape[0], -1)


def fit_image_model(key_model: PRNGKeyArray, key_fit: PRNGKeyArray, images: Float[Array, "N H W C"],
                    labels: Int[Array, " N"], *, num_classes: int, config: ImageModelConfig = ImageModelConfig(),
                    sde: VPSDE = VPSDE(), checkpoint_dir=None,
                    progress: bool = False) -> tuple[entropy.EntropyModel, training.FitResult]:
    """Train the U-Net of ``config`` on ``images`` (pixels in [0, 1]) and ``labels``; returns the model
    with EMA weights and the training record (resumable through ``checkpoint_dir``)."""
    network = UNet(config.unet(np.shape(images)[1:], num_classes), key=key_model)

    def loss_fn(network, batch, key):
        return entropy.denoising_loss(network, sde, batch["x"], batch["y"], key, s_min=config.s_min,
                                      label_dropout=config.label_dropout)

    data = {"x": to_vectors(images), "y": np.asarray(labels, np.int32)}
    fitted = training.fit(loss_fn, network, data, replace(config.fit, progress=progress), key=key_fit,
                          checkpoint_dir=checkpoint_dir)
    return entropy.EntropyModel(fitted.ema_model, sde, config.s_min), fitted


@dataclass(frozen=True)
class LabelInformationConfig:
    """Monte Carlo sizes of :func:`measure_label_information`.

    ``num_time_samples`` draws per image for the posterior of clean images, ``num_samples`` for
    each MINDE / neural-entropy total (``total_batch_size`` per compiled call); the curve
    along the noise (``curve_points`` values of
    $s$, 0 for none) uses ``curve_time_samples`` draws on the first ``curve_images`` images
    (all if ``None``). ``batch_size`` images per compiled posterior call."""

    num_time_samples: int = 64
    num_samples: int = 20_000
    total_batch_size: int = 8192  # network calls per compiled batch of a total (memory ~ this)
    batch_size: int = 16
    curve_points: int = 12
    curve_time_samples: int = 32
    curve_images: int | None = None
    curve_s_max: float = 0.9

    def quick(self) -> "LabelInformationConfig":
        return replace(self, num_time_samples=8, num_samples=512, curve_points=min(self.curve_points, 2),
                       curve_time_samples=4, curve_images=32)

    def curve_grid(self, sde: VPSDE, s_min: float) -> np.ndarray:
        r"""The $s$ values of the curve: evenly spaced in log-SNR from $s = 10\,s_{\min}$ to ``curve_s_max``
        (the scale on which class information is lost: most points where the SNR is near 1)."""
        if not self.curve_points:
            return np.zeros(0)
        log_snr = np.linspace(float(sde.log_snr(10 * s_min)), float(sde.log_snr(self.curve_s_max)), self.curve_points)
        return np.asarray(sde.s_from_log_snr(log_snr), np.float64)


@dataclass(frozen=True)
class LabelInformation:
    r"""$I(\mathbf X;Y)$ of held-out labelled images measured every way (nats; see the module docstring).

    ``bounded``: $H(Y) - $ ``cross_entropy`` of the model's posterior, whose ``accuracy`` is beside it;
    ``loss_gap`` $=$ ``bounded`` $+$ ``unconditional_excess`` (per example, exactly);
    ``label_entropy``: $H(Y)$; ``sandwich``: the reference classifier's, or ``None``;
    ``curve``: along the noise, or ``None``; ``seconds``: the cost of each part."""

    label_entropy: Estimate
    bounded: Estimate
    accuracy: float
    cross_entropy: float
    loss_gap: Estimate
    unconditional_excess: Estimate
    minde: Estimate
    entropy_difference: Estimate
    neural_entropy_x: Estimate
    neural_entropy_x_given_y: Estimate
    sandwich: bounds.LabelSandwich | None
    curve: posterior.NoisyLabelInformation | None
    seconds: dict

    def inside_sandwich(self, z: float = 2.0) -> bool | None:
        """Whether the bounded estimate lies in the reference sandwich (``None`` without one)."""
        return None if self.sandwich is None else self.sandwich.contains(self.bounded.value, self.bounded.stderr, z)

    def as_dict(self) -> dict:
        """The numbers as plain JSON types (the curve is left to the caller's array file)."""
        estimate = lambda e: dict(value=e.value, stderr=e.stderr, num_samples=e.num_samples)  # noqa: E731
        return dict(
            label_entropy=estimate(self.label_entropy), bounded=estimate(self.bounded), accuracy=self.accuracy,
            cross_entropy=self.cross_entropy, loss_gap=estimate(self.loss_gap),
            unconditional_excess=estimate(self.unconditional_excess), minde=estimate(self.minde),
            entropy_difference=estimate(self.entropy_difference),
            sandwich=None if self.sandwich is None else self.sandwich.as_dict(),
            inside_sandwich=self.inside_sandwich(), seconds={k: round(v, 2) for k, v in self.seconds.items()})


def measure_label_information(model: entropy.EntropyModel, images: Float[Array, "N H W C"], labels: Int[Array, " N"],
                              *, key: PRNGKeyArray, num_classes: int,
                              config: LabelInformationConfig = LabelInformationConfig(),
                              reference_log_probabilities=None) -> LabelInformation:
    """Measure the label information of held-out ``images`` (pixels in [0, 1]) with ``labels``.

    **Arguments:** ``model`` a trained conditional model (:func:`fit_image_model`);
    ``reference_log_probabilities`` (N, K) a reference classifier's $\\log q$ on the same images,
    for the sandwich (optional).

    **Returns:** a :class:`LabelInformation`.
    """
    y, num_classes = bounds.check_labels(labels, num_classes)
    x = to_vectors(images)
    if x.shape[0] != y.size:
        raise ValueError(f"images and labels must have the same length, got {x.shape[0]} and {y.size}")
    sde, s_min, field_fn = model.sde, model.s_min, model.entropy_field
    frequencies = np.bincount(y, minlength=num_classes) / y.size
    key_posterior, key_curve, key_x, key_xy, key_minde = jax.random.split(key, 5)
    seconds = {}

    clock = time.perf_counter()
    clean = posterior.class_posterior(field_fn, sde, x, num_classes=num_classes, key=key_posterior,
                                      class_prior=frequencies, s_min=s_min,
                                      num_time_samples=config.num_time_samples, batch_size=config.batch_size)
    bounded = bounds.barber_agakov_bound(y, log_probabilities=clean.log_probabilities, num_classes=num_classes)
    accuracy = float(np.mean(np.argmax(clean.log_probabilities, axis=1) == y))
    cross_entropy = float(-clean.log_probabilities[np.arange(y.size), y].mean())
    loss_gap = clean.loss_gap(y)
    seconds["bounded_and_loss_gap"] = time.perf_counter() - clock

    clock = time.perf_counter()
    totals = dict(num_samples=config.num_samples, s_min=s_min, batch_size=config.total_batch_size)
    s_x = entropy.neural_entropy(field_fn, sde, x, key=key_x, **totals)
    s_x_given_y = entropy.neural_entropy(field_fn, sde, x, key=key_xy, y=y, **totals)
    difference = Estimate(s_x.value - s_x_given_y.value, float(np.hypot(s_x.stderr, s_x_given_y.stderr)),
                          s_x.num_samples)
    seconds["entropy_difference"] = time.perf_counter() - clock
    clock = time.perf_counter()
    minde = entropy.mutual_information_minde(field_fn, sde, x, y, key=key_minde, **totals)
    seconds["minde"] = time.perf_counter() - clock

    curve = None
    if config.curve_points:
        clock = time.perf_counter()
        count = y.size if config.curve_images is None else min(config.curve_images, y.size)
        curve = posterior.noisy_label_information(field_fn, sde, x[:count], y[:count], config.curve_grid(sde, s_min),
                                                  key=key_curve, num_classes=num_classes, s_min=s_min,
                                                  num_time_samples=config.curve_time_samples,
                                                  batch_size=config.batch_size)
        seconds["curve"] = time.perf_counter() - clock

    sandwich = None
    if reference_log_probabilities is not None:
        sandwich = bounds.label_sandwich(y, log_probabilities=reference_log_probabilities, num_classes=num_classes)
    return LabelInformation(bounds.label_entropy(y, num_classes), bounded, accuracy, cross_entropy, loss_gap,
                            clean.unconditional_excess(), minde, difference, s_x, s_x_given_y, sandwich, curve, seconds)
