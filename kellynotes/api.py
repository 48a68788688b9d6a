r"""Estimate information in your own data with one call.

* :func:`estimate_mutual_information` trains one conditional entropy-matching
  network (label dropout makes it unconditional too) on pairs ``(x, y)`` and returns
  MINDE's $I(\mathbf X;\mathbf Y)$ (Eq. 14) with the difference of neural entropies
  (Eq. 52) beside it.
* :func:`estimate_neural_entropy` trains an unconditional network on ``x`` and returns
  its neural entropy $S_{\rm NN}^{\mathbf X}$ (Eq. 12).

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

from dataclasses import asdict, dataclass

import jax
import numpy as np
from jaxtyping import PRNGKeyArray

from . import entropy
from .sde import VPSDE

__all__ = [
    "MIN_SAMPLES",
    "MutualInformationResult",
    "NeuralEntropyResult",
    "estimate_mutual_information",
    "estimate_neural_entropy",
]

# Below ~100 pairs a network of the default size memorises the sample and the
# "information" it stores describes those points, not their distribution.
MIN_SAMPLES = 100


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


def _check_x(x) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"x must be an array of real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"x must have shape (N, D_X), got shape {array.shape}")
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
) -> MutualInformationResult:
    """$I(\\mathbf X;\\mathbf Y)$ in nats from samples: ``x`` (N, D_X), ``y`` (N, D_Y) or integer labels (N,)."""
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
