r"""Estimate information in your own data with one call.

* :func:`estimate_mutual_information` trains one conditional entropy-matching
  network (label dropout makes it unconditional too) on pairs ``(x, y)`` and returns
  MINDE's $I(\mathbf X;\mathbf Y)$ (Eq. 14) with the difference of neural entropies
  (Eq. 52) beside it.
* :func:`estimate_neural_entropy` trains an unconditional network on ``x`` and returns
  its neural entropy $S_{\rm NN}^{\mathbf X}$ (Eq. 12).

**Images with class labels.** Given images ``x`` of shape (N, H, W) or (N, H, W, C) and integer
labels, :func:`estimate_mutual_information` splits them (stratified, by ``key``) into a training
and a held-out part, trains a class-conditional U-Net and a reference CNN on the training part
only, and returns an :class:`ImageMutualInformationResult` whose ``value`` is the **bounded
estimate** $H(Y) - \mathbb E[-\log q(Y\mid\mathbf X)]$ on the held-out images, $q$ being the diffusion
model's own class posterior (:mod:`kellynotes.images`). It cannot exceed $H(Y)\le\log K$.
Beside it: the sandwich $[\text{CNN bound}, H(Y)]$, the loss gap, MINDE and Eq. 52, which are
not bounded and on images have come out above $\log K$ (see the manifolds chapter).

**Standardisation.** Mutual information is unchanged by invertible maps of each
variable, so :func:`estimate_mutual_information` standardises every column of ``x``
and ``y`` to mean 0 and variance 1 by default: it makes training easier and does
not change the answer. Neural entropy is *not* invariant: it measures how far the
data are from the standard normal $p_{\rm eq}$ of the VP process, and rescaling the
data changes it. :func:`estimate_neural_entropy` therefore leaves ``x`` as given
unless you ask for ``standardize=True`` (then you measure the neural entropy of the
standardised data, which is what image pipelines do when they rescale pixels).

All values are in nats; results carry the trained model and the settings used.
"""

import time
from dataclasses import asdict, dataclass

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from . import bounds, classifier, entropy, images, training
from .sde import VPSDE

__all__ = [
    "MIN_IMAGES_PER_CLASS",
    "MIN_SAMPLES",
    "ImageInformationConfig",
    "ImageMutualInformationResult",
    "MutualInformationResult",
    "NeuralEntropyResult",
    "estimate_mutual_information",
    "estimate_neural_entropy",
    "held_out_split",
]

# Below ~100 pairs a network of the default size memorises the sample and the
# "information" it stores describes those points, not their distribution.
MIN_SAMPLES = 100
# Each class needs images on both sides of the held-out split: at the default fraction 0.2,
# 10 images give 2 held-out and 8 training images of the class.
MIN_IMAGES_PER_CLASS = 10


@dataclass(frozen=True)
class MutualInformationResult:
    """``value ± stderr`` (nats) by MINDE (Eq. 14); ``entropy_difference`` by Eq. 52; ``rate`` the
    MINDE integrand against forward time $s$ (nats per unit $s$)."""

    value: float
    stderr: float
    entropy_difference: entropy.Estimate
    rate: entropy.RateCurve
    model: entropy.EntropyModel
    training: entropy.TrainingResult
    settings: dict


@dataclass(frozen=True)
class NeuralEntropyResult:
    """``value ± stderr`` (nats) of $S_{\\rm NN}^{\\mathbf X}$ (Eq. 12); ``rate`` is $dS_{\\rm NN}/ds$."""

    value: float
    stderr: float
    rate: entropy.RateCurve
    model: entropy.EntropyModel
    training: entropy.TrainingResult
    settings: dict


@dataclass(frozen=True)
class ImageInformationConfig:
    """What :func:`estimate_mutual_information` does with labelled images: the U-Net and its training,
    the Monte Carlo sizes of the estimates, the reference classifier (``None``: no sandwich) and the
    fraction of images held out (per class) for every estimate."""

    model: images.ImageModelConfig = images.ImageModelConfig()
    information: images.LabelInformationConfig = images.LabelInformationConfig(curve_points=0)
    reference_classifier: classifier.ClassifierConfig | None = classifier.ClassifierConfig()
    held_out_fraction: float = 0.2

    def __post_init__(self):
        if not 0.0 < self.held_out_fraction < 1.0:
            raise ValueError(f"held_out_fraction must lie in (0, 1), got {self.held_out_fraction}")


@dataclass(frozen=True)
class ImageMutualInformationResult:
    r"""``value ± stderr`` (nats): the bounded estimate $H(Y) - \mathbb E[-\log q(Y\mid\mathbf X)]$ on held-out
    images; ``sandwich`` the reference CNN's $[\text{lower}, H(Y)]$ (or ``None``); ``information`` every
    estimate side by side with its cost (:class:`kellynotes.images.LabelInformation`); ``train_index``
    and ``held_out_index`` the split; ``seconds`` the cost of every part (training and the
    reference classifier included)."""

    value: float
    stderr: float
    sandwich: bounds.LabelSandwich | None
    information: images.LabelInformation
    model: entropy.EntropyModel
    training: training.FitResult
    train_index: np.ndarray
    held_out_index: np.ndarray
    settings: dict
    seconds: dict


def _check_images(x) -> np.ndarray:
    """Images (N, H, W) or (N, H, W, C) as float32 (N, H, W, C) in [0, 1]: floats must lie in [0, 1],
    integers in 0..255 (divided by 255)."""
    if isinstance(x, (list, tuple)):
        shapes = sorted({np.shape(image) for image in x})
        if len(shapes) > 1:
            raise ValueError(f"all images must have the same shape, got shapes {shapes[:4]}")
    array = np.asarray(x)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"images must be real numbers, got dtype {array.dtype}")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ValueError(f"integer images must have pixels in 0..255, got [{array.min()}, {array.max()}]")
        return (array / 255.0).astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"images contain NaN or infinite values (in {np.sum(~np.isfinite(array))} entries)")
    if array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(f"float images must have pixels in [0, 1], got [{array.min():.3g}, {array.max():.3g}]; "
                         "scale them first (e.g. divide by 255)")
    return array.astype(np.float32)


def held_out_split(labels, fraction: float, key: PRNGKeyArray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)``: in each class a random ``round(fraction · n_k)`` (at least 1) of its
    ``n_k`` examples are held out; the split is a function of ``key`` only. Raises ``ValueError`` if
    a class has fewer than :data:`MIN_IMAGES_PER_CLASS` examples."""
    labels, num_classes = bounds.check_labels(labels)
    counts = np.bincount(labels, minlength=num_classes)
    if np.any(counts < MIN_IMAGES_PER_CLASS):
        few = {int(k): int(counts[k]) for k in np.flatnonzero(counts < MIN_IMAGES_PER_CLASS)}
        raise ValueError(f"every class needs at least {MIN_IMAGES_PER_CLASS} images; too few in classes "
                         f"(class: count) {few}")
    train, held_out = [], []
    for k in range(num_classes):
        members = np.flatnonzero(labels == k)
        order = members[np.asarray(jax.random.permutation(jax.random.fold_in(key, k), members.size))]
        size = min(max(1, round(fraction * members.size)), members.size - 1)
        held_out.append(order[:size])
        train.append(order[size:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held_out))


def _image_mutual_information(x, y, key, config: ImageInformationConfig, progress: bool):
    x = _check_images(x)
    if np.asarray(y).shape != (x.shape[0],):
        raise ValueError(f"images need one integer label each: {x.shape[0]} images, labels of shape {np.shape(y)}")
    labels, num_classes = bounds.check_labels(y)
    key_split, key_model, key_fit, key_reference, key_estimate = jax.random.split(key, 5)
    train_index, held_out_index = held_out_split(labels, config.held_out_fraction, key_split)
    clock = time.perf_counter()
    model, fitted = images.fit_image_model(key_model, key_fit, x[train_index], labels[train_index],
                                           num_classes=num_classes, config=config.model, progress=progress)
    seconds = dict(training=time.perf_counter() - clock)
    reference_log_q = None
    if config.reference_classifier is not None:
        clock = time.perf_counter()
        reference = classifier.train_classifier(key_reference, x[train_index], labels[train_index],
                                                num_classes=num_classes, config=config.reference_classifier,
                                                progress=progress)
        reference_log_q = reference.log_probabilities(x[held_out_index])
        seconds["reference_classifier"] = time.perf_counter() - clock
    information = images.measure_label_information(model, x[held_out_index], labels[held_out_index],
                                                   key=key_estimate, num_classes=num_classes,
                                                   config=config.information,
                                                   reference_log_probabilities=reference_log_q)
    settings = dict(config=asdict(config), image_shape=list(x.shape[1:]), num_classes=num_classes)
    seconds.update(information.seconds)
    return ImageMutualInformationResult(information.bounded.value, information.bounded.stderr, information.sandwich,
                                        information, model, fitted, train_index, held_out_index, settings, seconds)


def _check_x(x) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"x must be an array of real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"x must have shape (N, D_X) (vectors) or (N, H, W[, C]) (images), got shape {array.shape}")
    if array.shape[0] < MIN_SAMPLES:
        raise ValueError(f"x has {array.shape[0]} samples; at least {MIN_SAMPLES} are needed")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"x contains NaN or infinite values (in {np.sum(~np.isfinite(array))} entries)")
    return array


def _check_y(y, n: int) -> np.ndarray:
    array = np.asarray(y)
    if array.shape[:1] != (n,):
        raise ValueError(f"x and y must have the same number of samples: x has {n}, y has shape {array.shape}")
    if array.dtype == bool:
        raise ValueError("y must be real numbers (N, D_Y) or integer labels (N,), got dtype bool")
    if np.issubdtype(array.dtype, np.integer):
        if array.ndim != 1:
            raise ValueError(f"integer labels y must have shape (N,), got {array.shape}")
        if array.min() < 0:
            raise ValueError(f"labels y must be 0, 1, ..., K-1, got a minimum of {array.min()}")
        return array.astype(np.int32)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"y must be real numbers (N, D_Y) or integer labels (N,), got dtype {array.dtype}")
    if array.ndim == 1:
        raise ValueError("continuous y must have shape (N, D_Y); for a scalar variable use y.reshape(-1, 1)")
    if array.ndim != 2:
        raise ValueError(f"y must have shape (N, D_Y), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"y contains NaN or infinite values (in {np.sum(~np.isfinite(array))} entries)")
    return array.astype(np.float64)


def _standardize(array: np.ndarray, name: str) -> np.ndarray:
    std = array.std(axis=0)
    if np.any(std == 0):
        raise ValueError(f"{name} has constant columns {np.flatnonzero(std == 0).tolist()}: they cannot be standardised")
    return (array - array.mean(axis=0)) / std


def _rate_grid(s_min: float, sde: VPSDE, points: int) -> np.ndarray:
    return np.geomspace(s_min, sde.T, points)


def estimate_mutual_information(
    x,
    y,
    *,
    key: PRNGKeyArray,
    config: entropy.TrainConfig = entropy.TrainConfig(),
    standardize: bool = True,
    num_samples: int = 200_000,
    rate_points: int = 48,
    sde: VPSDE = VPSDE(),
    images_config: ImageInformationConfig = ImageInformationConfig(),
    progress: bool = False,
) -> MutualInformationResult | ImageMutualInformationResult:
    """$I(\\mathbf X;\\mathbf Y)$ in nats from samples.

    **Vectors:** ``x`` (N, D_X) and ``y`` (N, D_Y) or integer labels (N,): one MLP network, MINDE,
    with Eq. 52 and the rate beside it (``config``, ``standardize``, ``num_samples``, ``rate_points``).

    **Images:** ``x`` (N, H, W) or (N, H, W, C), pixels in [0, 1] (floats) or 0..255 (integers), and
    integer labels ``y`` (N,): a U-Net and the bounded estimate on held-out images, with the
    sandwich and the other estimates beside it (``images_config``; module docstring).
    """
    if isinstance(x, (list, tuple)) or np.ndim(x) in (3, 4):
        return _image_mutual_information(x, y, key, images_config, progress)
    x = _check_x(x)
    y = _check_y(y, x.shape[0])
    if standardize:
        x = _standardize(x, "x")
        if y.dtype != np.int32:
            y = _standardize(y, "y")
    key_train, key_minde, key_diff, key_rate = jax.random.split(key, 4)
    training = entropy.train(key_train, x, y, config=config, sde=sde)
    field = training.model.entropy_field
    options = dict(s_min=config.s_min, num_samples=num_samples)
    minde = entropy.mutual_information_minde(field, sde, x, y, key=key_minde, **options)
    difference = entropy.mutual_information_entropy_difference(field, sde, x, y, key=key_diff, **options)
    rate = entropy.mutual_information_rate(field, sde, x, y, _rate_grid(config.s_min, sde, rate_points), key=key_rate)
    settings = dict(config=asdict(config), standardize=standardize, num_samples=num_samples, sde=asdict(sde))
    return MutualInformationResult(minde.value, minde.stderr, difference, rate, training.model, training, settings)


def estimate_neural_entropy(
    x,
    *,
    key: PRNGKeyArray,
    config: entropy.TrainConfig = entropy.TrainConfig(),
    standardize: bool = False,
    num_samples: int = 200_000,
    rate_points: int = 48,
    sde: VPSDE = VPSDE(),
) -> NeuralEntropyResult:
    """$S_{\\rm NN}^{\\mathbf X}$ in nats of an unconditional entropy-matching network trained on ``x`` (N, D_X)."""
    x = _check_x(x)
    if standardize:
        x = _standardize(x, "x")
    key_train, key_estimate, key_rate = jax.random.split(key, 3)
    training = entropy.train(key_train, x, None, config=config, sde=sde)
    field = training.model.entropy_field
    estimate = entropy.neural_entropy(field, sde, x, key=key_estimate, s_min=config.s_min, num_samples=num_samples)
    rate = entropy.neural_entropy_rate(field, sde, x, _rate_grid(config.s_min, sde, rate_points), key=key_rate)
    settings = dict(config=asdict(config), standardize=standardize, num_samples=num_samples, sde=asdict(sde))
    return NeuralEntropyResult(estimate.value, estimate.stderr, rate, training.model, training, settings)
