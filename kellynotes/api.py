r"""Estimate information in your own data with one call.

* :func:`estimate_mutual_information` trains one conditional entropy-matching network on
  pairs ``(x, y)`` (label dropout makes it unconditional too; or, the paper's protocol, a
  conditional and an unconditional network) and returns MINDE's $I(\mathbf X;\mathbf Y)$
  (Eq. 14) with the difference of neural entropies (Eq. 52) beside it.
* :func:`estimate_neural_entropy` trains an unconditional network on ``x`` and returns
  its neural entropy $S_{\rm NN}^{\mathbf X}$ (Eq. 12).

**Vectors: held-out estimation.** The pairs are split (:func:`split_pairs`, by ``key``; or pass your
own :class:`PairSplit`): the network trains on the training part, the weights kept are those with
the lowest loss on the validation part (:func:`kellynotes.entropy.validation_losses_per_pair`), and the
estimate is made on the held-out part, which training never saw. MINDE on the training pairs is
returned beside it: a network that has memorised its training pairs gives them a different
value than new pairs (on new pairs, usually a larger one: its conditional field then points at
remembered partners), and the result then carries a warning.

**The Gaussian candidate.** With continuous ``y`` a joint Gaussian is also fitted to the training
pairs (:func:`kellynotes.baseline.fit_gaussian_baseline`: ridge-regularised gain, chosen on the
validation pairs), and its exact entropy field competes with the trained network on the validation
loss (``baseline="candidate"``). The simpler field is kept unless the network's loss is lower by more
than ``baseline_margin`` standard errors of the paired difference (one by default, the rule that also
picks the Gaussian's ridge); the kept field is the one MINDE integrates. A network whose validation
loss never fell below that of its untrained weights (the zero field) does not compete, and the result
says so in ``warnings``. Where the Gaussian is kept,
``value`` is by default its information in closed form (``gaussian_estimate="closed_form"``): the
Gaussian fitted to all the pairs, less its known finite-sample bias
(:func:`kellynotes.baseline.gaussian_information`, the Gaussian-copula estimator). That needs no
Monte Carlo, and MINDE of the fitted Gaussian's field reads low in high dimension, where the ridge
that makes the field generalise also shrinks its information (on the dense 50 x 50 Gaussian of
benchmark-mi: -0.083 nats against -0.015). ``settings["gaussian_baseline"]`` says which won
(``used``), by how much (``difference``, ``stderr``) and the closed form (``closed_form``). The
Gaussian wins where the pairs are Gaussian after the marginal map, in any dimension, and matters
most in high dimension with few pairs per input, where the network fits noise before it has learnt
the linear dependence that the Gaussian captures in closed form; where the dependence is not
Gaussian, the network usually wins. ``baseline="residual"`` makes the network
learn the remainder over the Gaussian instead (slower to find non-linear structure, see
benchmarks/README.md), ``"none"`` fits nothing.

**The network.** By default a residual body (:class:`kellynotes.nets.EntropyMLP` with
``residual=True``) at learning rate 1e-3: on benchmark-mi it learns the bent dependence of the
spirals that the plain MLP was still learning when training stopped, at the rate that keeps the
weak tail dependence of the Cauchy pairs. Training stops early only where it cannot matter
(``gaussian_patience``): when the network has stalled for 2,500 steps while still behind the Gaussian
candidate, which would be kept anyway. ``TrainConfig.patience``, which stops any stalled network, is
cheaper but on benchmark-mi lost a spiral whose validation loss stalls before it drops.

**Images with class labels.** Given images ``x`` of shape (N, H, W) or (N, H, W, C) and integer
labels, :func:`estimate_mutual_information` splits them (stratified, by ``key``) into a training
and a held-out part, trains a class-conditional U-Net and a reference CNN on the training part
only, and returns an :class:`ImageMutualInformationResult` whose ``value`` is the **bounded
estimate** $H(Y) - \mathbb E[-\log q(Y\mid\mathbf X)]$ on the held-out images, $q$ being the diffusion
model's own class posterior (:mod:`kellynotes.images`). It cannot exceed $H(Y)\le\log K$.
Beside it: the sandwich $[\text{CNN bound}, H(Y)]$, the loss gap, MINDE and Eq. 52, which are
not bounded and on images have come out above $\log K$ (see the manifolds chapter).

**Marginals.** Mutual information is unchanged by invertible maps of each coordinate, so
:func:`estimate_mutual_information` reshapes every column of ``x`` and ``y`` first
(:mod:`kellynotes.marginals`: by default the rank-to-Gaussian copula transform, or standardisation):
it makes training easier and does not change the answer. With the copula map the estimate is also
unchanged by any increasing map of a coordinate, since only ranks reach the networks. Then a variable
that is flattened, squeezed along some directions (:func:`kellynotes.marginals.is_flattened`), is
whitened as a whole (:func:`kellynotes.marginals.whiten`, an invertible linear map, so again $I$ is
unchanged) and becomes isotropic: that is what keeps MINDE on target in the flattening sweeps of the
paper (``whiten="auto"``, the default; ``True`` or ``False`` to force it). ``settings["whitened"]``
says which variables were. Neural entropy is *not* invariant: it measures
how far the data are from the standard normal $p_{\rm eq}$ of the VP process, and rescaling the
data changes it. :func:`estimate_neural_entropy` therefore leaves ``x`` as given
unless you ask for ``standardize=True`` (then you measure the neural entropy of the
standardised data, which is what image pipelines do when they rescale pixels).

All values are in nats; results carry the trained model and the settings used.
"""

import json
import time
from dataclasses import MISSING, asdict, dataclass, fields, replace

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from . import baseline, bounds, classifier, entropy, images, marginals, training
from .sde import VPSDE

__all__ = [
    "MIN_IMAGES_PER_CLASS",
    "MIN_SAMPLES",
    "ImageInformationConfig",
    "ImageMutualInformationResult",
    "MutualInformationResult",
    "NeuralEntropyResult",
    "PairSplit",
    "VectorInformationConfig",
    "estimate_mutual_information",
    "estimate_neural_entropy",
    "held_out_split",
    "same_vector_settings",
    "split_pairs",
]

# Below ~100 pairs a network of the default size memorises the sample and the
# "information" it stores describes those points, not their distribution.
MIN_SAMPLES = 100
#: Each class needs images on both sides of the held-out split: at the default fraction 0.2,
#: 10 images give 2 held-out and 8 training images of the class.
MIN_IMAGES_PER_CLASS = 10


# Training and held-out estimates further apart than this many combined standard errors are
# reported as a disagreement (at 3, a false alarm has probability 0.3% when they agree).
DISAGREEMENT_Z = 3.0
BASELINES = ("candidate", "residual", "none")
GAUSSIAN_ESTIMATES = ("closed_form", "minde")


@dataclass(frozen=True)
class PairSplit:
    """Indices of the pairs used to train, to choose the weights (may be empty: then the last
    weights are kept) and to estimate; disjoint."""

    train: np.ndarray
    validation: np.ndarray
    held_out: np.ndarray

    def check(self, n: int) -> "PairSplit":
        """The split as sorted int arrays, after checking it against ``n`` pairs (``ValueError`` if not
        disjoint, out of range, or without training or held-out pairs)."""
        parts = {name: np.asarray(getattr(self, name)) for name in ("train", "validation", "held_out")}
        for name, index in parts.items():
            if index.ndim != 1 or (index.size and not np.issubdtype(index.dtype, np.integer)):
                raise ValueError(f"split.{name} must be a 1-D array of integer indices, "
                                 f"got {index.dtype} {index.shape}")
            if index.size and (index.min() < 0 or index.max() >= n):
                raise ValueError(f"split.{name} has indices outside 0..{n - 1}")
            if np.unique(index).size != index.size:
                raise ValueError(f"split.{name} repeats indices")
        for name in ("train", "held_out"):
            if parts[name].size == 0:
                raise ValueError(f"split.{name} is empty")
        everything = np.concatenate(list(parts.values()))
        if np.unique(everything).size != everything.size:
            raise ValueError("split.train, split.validation and split.held_out must be disjoint")
        return PairSplit(*(np.sort(parts[name]).astype(np.int64) for name in ("train", "validation", "held_out")))


def _check_fractions(held_out_fraction: float, validation_fraction: float = 0.0) -> None:
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must lie in (0, 1), got {held_out_fraction}")
    if not 0.0 <= validation_fraction < 1.0 - held_out_fraction:
        raise ValueError(f"validation_fraction must lie in [0, 1 - held_out_fraction), got {validation_fraction}")


def split_pairs(n: int, key: PRNGKeyArray, held_out_fraction: float = 0.2,
                validation_fraction: float = 0.1) -> PairSplit:
    """A random :class:`PairSplit` of ``n`` pairs: ``round(held_out_fraction · n)`` held out,
    ``round(validation_fraction · n)`` for validation, the rest to train; a function of ``key`` only."""
    _check_fractions(held_out_fraction, validation_fraction)
    order = np.asarray(jax.random.permutation(key, n))
    num_held_out, num_validation = round(held_out_fraction * n), round(validation_fraction * n)
    return PairSplit(order[num_held_out + num_validation:], order[num_held_out:num_held_out + num_validation],
                     order[:num_held_out]).check(n)


@dataclass(frozen=True)
class VectorInformationConfig:
    """What :func:`estimate_mutual_information` does with vectors: the network and its training, the
    map of the marginals (:data:`kellynotes.marginals.MARGINAL_TRANSFORMS`), the split fractions (when
    no split is passed), and the Monte Carlo sizes of the estimates. With ``networks="two"`` a
    conditional network (``train`` without label dropout) and an unconditional one (``train``) are
    trained, each for ``train.steps``: twice the work of ``"one"``."""

    # Defaults chosen by measurement (tables in benchmarks/README.md). Networks, on the 40 tasks of
    # benchmark-mi at N = 10,000 (benchmarks/benchmark_mi.py): one network, mean |error| 0.069 nats
    # against 0.187 for two, which stop training at different steps on dense high-dimensional
    # Gaussians (+1.2, +3.2 nats there); on the sparse Gaussians of benchmarks/vector_information.py
    # two did better (0.059 against 0.146). Whitening, on the flattening sweeps of Figs. 9 and 11
    # (benchmarks/flattening.py): within 2 % of I down to lambda_delta = 1e-4 in both, where
    # without it one network is 9 % and 26 % short at 1e-3 and 1e-4 in Fig. 11; on benchmark-mi,
    # where no variable is flattened, whitening every variable changes the mean |error| by less
    # than 0.01 nats, and on a small dense Gaussian it hurt; hence "auto" (marginals.FLATTENED_BELOW).
    # Learning rate 1e-3, not TrainConfig's 3e-3: on benchmark-mi at 3e-3 the network never found
    # the tail dependence of the 1 x 1 Cauchy pairs (0 nats for 0.224) and read +0.08 on Student-t 5 x 5.
    # The residual body (kellynotes.nets): at 1e-3 the plain MLP was still learning the spirals of
    # benchmark-mi when training stopped (3 x 3 and 5 x 5 at -0.26 and -0.21 nats); the residual
    # one learns them at the rate that keeps the Cauchy pairs. No unconditional patience (TrainConfig.patience):
    # stopping after 2500 steps without a new lowest validation loss cut the cost per task from 40-78 s to
    # 18-63 s, but lost the 5 x 5 spiral (-0.03 -> -0.12 nats), whose loss stalls before the network learns
    # the turn. gaussian_patience stops only a network behind the Gaussian: the 22 tasks where the Gaussian
    # is kept then take 19-54 s (dense 50 x 50: 78 -> 54 s), and all 40 values are unchanged.
    train: entropy.TrainConfig = entropy.TrainConfig(learning_rate=1e-3, residual=True)
    networks: str = "one"  # "one": one network with label dropout; "two": separate networks (the paper's protocol)
    marginals: str = "rank_gaussian"
    # after the per-coordinate map, whiten x and y each (marginals.whiten): True, False, or "auto": a
    # variable only when it is flattened (marginals.is_flattened)
    whiten: bool | str = "auto"
    # a Gaussian fitted to the training pairs (kellynotes.baseline; continuous y only): "candidate",
    # it competes with the trained network on the validation loss and the lower one is used;
    # "residual", the network learns the remainder over it; "none", not fitted
    baseline: str = "candidate"
    # the network replaces the Gaussian candidate only if its validation loss is lower by more than this
    # many standard errors of the paired difference (0: whichever is lower)
    baseline_margin: float = 1.0
    # with the Gaussian candidate: stop a network's training once this many steps have passed without a
    # new lowest validation loss while that loss is still above the Gaussian's on the same draws (the
    # Gaussian would be kept); a network ahead of it trains all train.steps. None: no such stop.
    gaussian_patience: int | None = 2500
    # with the Gaussian candidate kept, the value reported: "closed_form", the Gaussian fitted to all pairs
    # without its finite-sample bias (baseline.gaussian_information); "minde", MINDE of its field on the
    # held-out pairs, as for a network. On benchmark-mi, closed form: mean |error| 0.021 nats against
    # 0.029 (dense 50 x 50: -0.015 against -0.083), the 18 tasks the network wins unchanged.
    gaussian_estimate: str = "closed_form"
    held_out_fraction: float = 0.2
    validation_fraction: float = 0.1
    num_samples: int = 200_000
    rate_points: int = 48

    def __post_init__(self):
        if self.networks not in ("one", "two"):
            raise ValueError(f"networks must be 'one' (label dropout) or 'two' (separate networks), "
                             f"got {self.networks!r}")
        if not (isinstance(self.whiten, bool) or self.whiten == "auto"):
            raise ValueError(f"whiten must be True, False or 'auto', got {self.whiten!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.gaussian_estimate not in GAUSSIAN_ESTIMATES:
            raise ValueError(f"gaussian_estimate must be one of {GAUSSIAN_ESTIMATES}, got {self.gaussian_estimate!r}")
        if self.marginals not in marginals.MARGINAL_TRANSFORMS:
            raise ValueError(f"marginals must be one of {marginals.MARGINAL_TRANSFORMS}, got {self.marginals!r}")
        _check_fractions(self.held_out_fraction, self.validation_fraction)
        if self.gaussian_patience is not None and not (isinstance(self.gaussian_patience, int)
                                                       and self.gaussian_patience >= 1):
            raise ValueError(f"gaussian_patience must be a positive number of steps or None, "
                             f"got {self.gaussian_patience!r}")
        if self.gaussian_patience is not None and self.baseline == "candidate" and self.train.patience is not None:
            raise ValueError(f"set train.patience ({self.train.patience}, stops whatever the Gaussian's loss) or "
                             f"gaussian_patience ({self.gaussian_patience}, only while behind the Gaussian), "
                             "not both")
        if not self.baseline_margin >= 0:
            raise ValueError(f"baseline_margin must be >= 0 (standard errors), got {self.baseline_margin}")
        if self.num_samples < 1 or self.rate_points < 2:
            raise ValueError(f"num_samples must be >= 1 and rate_points >= 2, "
                             f"got {self.num_samples}, {self.rate_points}")


# Settings added to VectorInformationConfig after estimates were first stored, with the behaviour the
# estimates stored before them had: no whitening, no Gaussian, the lower validation loss winning, every
# network training all its steps, MINDE of a kept Gaussian's field.
_SETTINGS_BEFORE_THEY_EXISTED = dict(whiten=False, baseline="none", baseline_margin=0.0, gaussian_patience=None,
                                     gaussian_estimate="minde")
# settings that do nothing without a Gaussian candidate
_CANDIDATE_SETTINGS = ("baseline_margin", "gaussian_patience", "gaussian_estimate")


def same_vector_settings(stored: dict, config: VectorInformationConfig) -> bool:
    """Whether an estimate stored with the settings ``stored`` (``asdict`` of a
    :class:`VectorInformationConfig`, through json) is the one ``config`` would make. A setting added
    to the config after the estimate was stored counts with the behaviour the estimate had: a
    training setting with its :class:`~kellynotes.entropy.TrainConfig` default; ``whiten`` False,
    ``baseline`` "none", ``baseline_margin`` 0 (the lower loss won), ``gaussian_patience`` None and
    ``gaussian_estimate`` "minde";
    and the settings of the Gaussian candidate not at all where there was none."""
    wanted = json.loads(json.dumps(asdict(config)))
    completed = {**_SETTINGS_BEFORE_THEY_EXISTED, **stored}
    train_defaults = {f.name: f.default for f in fields(entropy.TrainConfig) if f.default is not MISSING}
    completed["train"] = json.loads(json.dumps({**train_defaults, **stored["train"]}))
    if completed["baseline"] != "candidate":
        completed.update({name: wanted[name] for name in _CANDIDATE_SETTINGS if name not in stored})
    return completed == wanted


@dataclass(frozen=True)
class MutualInformationResult:
    """``value ± stderr`` (nats): ``held_out_estimate``, MINDE (Eq. 14) on the held-out pairs, or where
    the Gaussian candidate was kept (and ``gaussian_estimate="closed_form"``) its information in closed
    form, ``settings["gaussian_baseline"]["closed_form"]``; ``entropy_difference`` by Eq. 52 on the
    held-out pairs; ``rate`` the MINDE integrand against forward time $s$ (nats per unit $s$);
    ``train_estimate`` MINDE on the training pairs; ``warnings`` what the estimate's own checks
    found (empty when none): a network kept at its untrained weights, and, where ``value`` is MINDE,
    MINDE on training and held-out pairs that disagree.

    The standard errors of ``value`` and of the three estimates count the sampling of the pairs, as
    an estimate of the law's $I$ should: the closed form's through each pair's influence; MINDE's (held
    out and training) and Eq. 52's by grouping their Monte Carlo draws by pair (``pair_sampling=True``),
    so they include the Monte Carlo error too. The rate's are Monte Carlo only. None counts the bias
    of an imperfect network."""

    value: float
    stderr: float
    held_out_estimate: entropy.Estimate
    entropy_difference: entropy.Estimate
    rate: entropy.RateCurve
    train_estimate: entropy.Estimate
    field: entropy.EntropyField  # the model's entropy_field, or a PairedEntropyField of two models
    training: tuple[entropy.TrainingResult, ...]  # one per network (conditional first)
    split: PairSplit
    settings: dict
    warnings: tuple[str, ...] = ()


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
        _check_fractions(self.held_out_fraction)


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


def _rate_grid(s_min: float, sde: VPSDE, points: int) -> np.ndarray:
    return np.geomspace(s_min, sde.T, points)


def _disagreement(train: entropy.Estimate, held_out: entropy.Estimate) -> tuple[str, ...]:
    if abs(train.value - held_out.value) <= DISAGREEMENT_Z * np.hypot(train.stderr, held_out.stderr):
        return ()
    return (f"MINDE on the training pairs ({train.value:.3f} ± {train.stderr:.3f}) and on the held-out pairs "
            f"({held_out.value:.3f} ± {held_out.stderr:.3f}) differ by more than {DISAGREEMENT_Z:g} standard errors: "
            "the network has fitted its training pairs rather than their distribution (overfitting); more pairs, "
            "fewer steps or a smaller network bring them together, as does a validation split where it is off",)


def _untrained(training: tuple[entropy.TrainingResult, ...], gaussian_fit: dict | None,
               baseline_choice: str) -> tuple[str, ...]:
    """A warning for each network kept at its untrained weights (``selected_step`` 0: no training step
    lowered the validation loss). With ``baseline="residual"`` those weights are the Gaussian itself, a
    real estimate, so nothing is said."""
    if baseline_choice == "residual":
        return ()
    used = np.broadcast_to(False if gaussian_fit is None else gaussian_fit["used"], len(training))
    warnings = []
    for index, result in enumerate(training):
        if result.selected_step != 0:
            continue
        name = "the network" if len(training) == 1 else ("the conditional network", "the unconditional network")[index]
        instead = ("the Gaussian candidate is used in its place" if used[index] else
                   "they were kept, and the value is not an estimate: more pairs, a lower learning rate or the "
                   "Gaussian candidate (baseline='candidate', continuous y) give one")
        warnings.append(f"no training step lowered the validation loss of {name} below that of its untrained "
                        f"weights (the zero field, which has learnt nothing from the pairs); {instead}")
    return tuple(warnings)


def _whitens(array: np.ndarray, whiten: bool | str) -> bool:
    return marginals.is_flattened(array) if whiten == "auto" else whiten


def _compete(training: tuple[entropy.TrainingResult, ...], gaussian: baseline.GaussianBaseline, validation, sde: VPSDE,
             key: PRNGKeyArray, margin: float):
    """The entropy field of the trained network(s) or of the Gaussian baseline: the network only if its
    validation loss is lower than the baseline's by more than ``margin`` standard errors of the paired
    difference (:func:`kellynotes.entropy.validation_losses_per_pair`, same pairs and draws for both; in
    the two-network mode each network against the baseline's branch), and never a network whose kept
    weights are its untrained ones (``selected_step`` 0). Returns the field, whether the
    baseline won, and per network the two losses (network first), their difference and its standard error."""
    models, used, comparisons = [], [], []
    x_val, y_val = validation
    for result in training:
        conditional = result.model.network.conditional
        options = entropy.validation_options(result.config)
        network_losses, gaussian_losses = (
            np.asarray(entropy.validation_losses_per_pair(network, sde, x_val, y_val if conditional else None, key,
                                                          **options),
                       np.float64)
            for network in (result.model.network, gaussian))
        difference = network_losses - gaussian_losses
        stderr = float(difference.std() / np.sqrt(difference.size))
        comparisons.append(dict(validation_loss=[float(network_losses.mean()), float(gaussian_losses.mean())],
                                difference=float(difference.mean()), stderr=stderr))
        # Weights from step 0 are the untrained network, the zero field (for one network the same with and
        # without y: information 0 whatever the pairs). It can beat a Gaussian fitted to few pairs on a noisy
        # validation loss, but it has learnt nothing from them, so it does not compete.
        used.append(result.selected_step == 0 or not difference.mean() < -margin * stderr)
        models.append(entropy.EntropyModel(gaussian, sde, result.config.s_min) if used[-1] else result.model)
    field = models[0].entropy_field if len(models) == 1 else entropy.PairedEntropyField(*models)
    return field, used if len(used) > 1 else used[0], comparisons


def _vector_mutual_information(x, y, key, config: VectorInformationConfig, split, sde: VPSDE,
                               progress: bool) -> MutualInformationResult:
    x = _check_x(x)
    y = _check_y(y, x.shape[0])
    key_split, key_train, key_minde, key_diff, key_rate, key_train_minde = jax.random.split(key, 6)
    # The comparison with the Gaussian draws afresh: training chose its weights on its own validation
    # draws, and scoring the winner on those again would favour it.
    key_compete = jax.random.fold_in(key, 6)
    if split is None:
        split = split_pairs(x.shape[0], key_split, config.held_out_fraction, config.validation_fraction)
    elif not isinstance(split, PairSplit):
        raise ValueError(f"split must be a PairSplit (or None for a random one), got {type(split).__name__}")
    split = split.check(x.shape[0])
    x = marginals.transform(x, config.marginals, "x")
    whitened = dict(x=_whitens(x, config.whiten), y=False)
    if whitened["x"]:
        x = marginals.whiten(x, "x")
    if y.dtype == np.int32:
        unseen = np.setdiff1d(y, y[split.train])
        if unseen.size:
            raise ValueError(f"labels {unseen.tolist()} occur only outside the training split")
    else:
        y = marginals.transform(y, config.marginals, "y")
        whitened["y"] = _whitens(y, config.whiten)
        if whitened["y"]:
            y = marginals.whiten(y, "y")
    train_config = replace(config.train, progress=config.train.progress and progress)
    validation = (x[split.validation], y[split.validation]) if split.validation.size else None
    fit = None
    if config.baseline != "none" and y.dtype != np.int32:
        fit = baseline.fit_gaussian_baseline(x[split.train], y[split.train], validation)
    options = dict(sde=sde, baseline=fit.baseline if config.baseline == "residual" else None)
    if config.baseline == "candidate" and fit is not None and validation is not None \
            and config.gaussian_patience is not None:
        options["competitor"] = fit.baseline
        train_config = replace(train_config, patience=config.gaussian_patience)
    if config.networks == "one":
        training = (entropy.train(key_train, x[split.train], y[split.train], config=train_config,
                                  validation=validation, **options),)
        field = training[0].model.entropy_field
    else:
        key_conditional, key_unconditional = jax.random.split(key_train)
        training = (entropy.train(key_conditional, x[split.train], y[split.train], validation=validation,
                                  config=replace(train_config, label_dropout=0.0), **options),
                    entropy.train(key_unconditional, x[split.train], None, config=train_config,
                                  validation=None if validation is None else (validation[0], None), **options))
        field = entropy.PairedEntropyField(training[0].model, training[1].model)
    gaussian_fit = None
    if fit is not None:
        gaussian_fit = dict(ridge=fit.ridge, mutual_information=fit.baseline.mutual_information(), used=False)
        if config.baseline == "candidate" and validation is not None:
            field, gaussian_fit["used"], comparisons = _compete(training, fit.baseline, validation, sde, key_compete,
                                                                config.baseline_margin)
            # one entry per network (conditional first)
            gaussian_fit.update({name: [c[name] for c in comparisons] for name in ("validation_loss", "difference",
                                                                                  "stderr")})
    # the pairs are a sample of the law whose I is wanted: the standard errors count their sampling too
    options = dict(s_min=config.train.s_min, num_samples=config.num_samples, pair_sampling=True)
    x_held, y_held = x[split.held_out], y[split.held_out]
    minde = entropy.mutual_information_minde(field, sde, x_held, y_held, key=key_minde, **options)
    difference = entropy.mutual_information_entropy_difference(field, sde, x_held, y_held, key=key_diff, **options)
    rate = entropy.mutual_information_rate(field, sde, x_held, y_held,
                                           _rate_grid(config.train.s_min, sde, config.rate_points), key=key_rate)
    train_minde = entropy.mutual_information_minde(field, sde, x[split.train], y[split.train], key=key_train_minde,
                                                   **options)
    value = minde
    closed_form = (gaussian_fit is not None and np.all(gaussian_fit["used"])
                   and config.gaussian_estimate == "closed_form")
    if closed_form:
        value = baseline.gaussian_information(x, y)
        gaussian_fit["closed_form"] = dict(value=value.value, stderr=value.stderr)
    # The disagreement check reads the two MINDEs of the kept field; the closed form uses neither.
    warnings = _untrained(training, gaussian_fit, config.baseline) + (
        () if closed_form else _disagreement(train_minde, minde))
    settings = dict(config=asdict(config), sde=asdict(sde), num_pairs=int(x.shape[0]), whitened=whitened,
                    gaussian_baseline=gaussian_fit,
                    split_sizes=dict(train=int(split.train.size), validation=int(split.validation.size),
                                     held_out=int(split.held_out.size)))
    return MutualInformationResult(value.value, value.stderr, minde, difference, rate, train_minde, field, training,
                                   split, settings, warnings)


def estimate_mutual_information(
    x,
    y,
    *,
    key: PRNGKeyArray,
    config: "VectorInformationConfig | ImageInformationConfig | None" = None,
    split: PairSplit | None = None,
    sde: VPSDE = VPSDE(),
    progress: bool = False,
) -> MutualInformationResult | ImageMutualInformationResult:
    r"""$I(\mathbf X;\mathbf Y)$ in nats from samples.

    **Arguments:**

    - ``x``: vectors (N, D_X), or images (N, H, W) or (N, H, W, C) with pixels in [0, 1] (floats) or
      0..255 (integers).
    - ``y``: vectors (N, D_Y) or integer labels (N,); integer labels for images.
    - ``key``: the PRNG key of the split, the training and the estimates.
    - ``config``: a :class:`VectorInformationConfig` for vectors, an :class:`ImageInformationConfig` for
      images (``None``: the defaults).
    - ``split``: vectors only, the :class:`PairSplit` to use (``None``: :func:`split_pairs` with the
      fractions of ``config``).

    **Returns:** for vectors a :class:`MutualInformationResult` (MINDE on held-out pairs, with
    Eq. 52, the rate, MINDE on the training pairs and warnings); for images an
    :class:`ImageMutualInformationResult` (the bounded estimate on held-out images, with the
    sandwich and the other estimates; module docstring).
    """
    is_images = isinstance(x, (list, tuple)) or np.ndim(x) in (3, 4)
    kind, expected = (("images", ImageInformationConfig) if is_images else ("vectors", VectorInformationConfig))
    config = expected() if config is None else config
    if not isinstance(config, expected):
        raise ValueError(f"x holds {kind}, so config must be a {expected.__name__}, got {type(config).__name__}")
    if is_images:
        if split is not None:
            raise ValueError("split is for vectors; "
                             "images are split per class by ImageInformationConfig.held_out_fraction")
        return _image_mutual_information(x, y, key, config, progress)
    return _vector_mutual_information(x, y, key, config, split, sde, progress)


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
    r"""$S_{\rm NN}^{\mathbf X} = \int_{s_{\min}}^T ds\,\frac{\beta}{2}\,\mathbb E\|\mathbf e_\theta\|^2$ (Eq. 12) in
    nats, of an unconditional entropy-matching network trained on ``x``.

    **Arguments:**

    - ``x``: data (N, D_X), used as given (neural entropy is not invariant under rescaling).
    - ``key``: the PRNG key of the training and the estimates.
    - ``config``: the network and its training (:class:`~kellynotes.entropy.TrainConfig`).
    - ``standardize``: standardise every column first (then it is the neural entropy of the
      standardised data).
    - ``num_samples``: Monte Carlo draws of the estimate; ``rate_points``: times of the rate curve.
    - ``sde``: the forward process.

    **Returns:** a :class:`NeuralEntropyResult`: ``value ± stderr``, the rate $dS_{\rm NN}/ds$, the
    trained model and its training record.
    """
    x = _check_x(x)
    if standardize:
        x = marginals.standardize(x, "x")
    key_train, key_estimate, key_rate = jax.random.split(key, 3)
    training = entropy.train(key_train, x, None, config=config, sde=sde)
    field = training.model.entropy_field
    estimate = entropy.neural_entropy(field, sde, x, key=key_estimate, s_min=config.s_min, num_samples=num_samples)
    rate = entropy.neural_entropy_rate(field, sde, x, _rate_grid(config.s_min, sde, rate_points), key=key_rate)
    settings = dict(config=asdict(config), standardize=standardize, num_samples=num_samples, sde=asdict(sde))
    return NeuralEntropyResult(estimate.value, estimate.stderr, rate, training.model, training, settings)
