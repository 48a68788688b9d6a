"""Argument checks shared by the package: each error names the argument at fault."""

import numpy as np

# Probabilities entered by hand (e.g. 0.1 + 0.2 + 0.7) sum to 1 only up to
# rounding; 1e-6 accepts float32 round-off and rejects any real mistake.
SUM_TOLERANCE = 1e-6


def as_float_array(value, name: str, *, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric, got {value!r}") from error
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values: {array}")
    return array


def probability_vector(value, name: str) -> np.ndarray:
    """A 1-D array of non-negative entries that sum to one."""
    p = as_float_array(value, name, ndim=1)
    if np.any(p < 0):
        raise ValueError(f"{name} has negative probabilities: {p}")
    if abs(p.sum() - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1, sums to {p.sum():.8g}")
    return p / p.sum()


def stochastic_matrix(value, name: str) -> np.ndarray:
    """A 2-D array whose rows are probability vectors."""
    m = as_float_array(value, name, ndim=2)
    if np.any(m < 0):
        raise ValueError(f"{name} has negative probabilities")
    sums = m.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > SUM_TOLERANCE):
        raise ValueError(f"every row of {name} must sum to 1, row sums are {sums}")
    return m / sums[:, None]


def number(value, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a number, got {value!r}") from error


def in_closed_interval(value, name: str, low: float, high: float) -> float:
    x = number(value, name)
    if not (low <= x <= high):  # also rejects NaN
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
    return x


def positive_number(value, name: str) -> float:
    x = number(value, name)
    if not (np.isfinite(x) and x > 0):  # also rejects NaN
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return x


def non_negative_number(value, name: str) -> float:
    x = number(value, name)
    if not (np.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be non-negative and finite, got {value!r}")
    return x


def positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def count_fields(config, names, *, minimum: int = 1) -> None:
    """Check that each field ``names`` of a dataclass config is an integer >= ``minimum``; the error
    names the config class and the field."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            what = "positive" if minimum == 1 else f">= {minimum}"
            raise ValueError(f"{type(config).__name__}.{name} must be an integer {what}, got {value!r}")


def frozen_float64(array) -> np.ndarray:
    """A read-only float64 copy of ``array`` (for the fields of frozen dataclasses)."""
    array = np.array(array, dtype=np.float64, copy=True)
    array.setflags(write=False)
    return array
