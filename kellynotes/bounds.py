r"""The label information of labelled data, pinned from both sides (nats).

For a class label $Y$ with $K$ values and any data $\mathbf X$,

$$H(Y) - \mathbb E\big[-\log q(Y\mid\mathbf X)\big] \;\le\; I(\mathbf X;Y) \;\le\; H(Y) \le \log K$$

for **any** classifier $q(y\mid\mathbf x)$: the left side is the Barber–Agakov bound (Barber &
Agakov, 2003), since $I = H(Y) - H(Y\mid\mathbf X)$ and the cross-entropy of $q$ exceeds the
conditional entropy $H(Y\mid\mathbf X)$ by
$\mathbb E\,D_{\rm KL}(p(\cdot\mid\mathbf X)\,\|\,q(\cdot\mid\mathbf X))\ge0$. The
right side holds because $H(Y\mid\mathbf X)\ge0$ for a discrete label. Evaluated on images the
classifier was not trained on, the lower bound is honest: a classifier that memorised its
training set gains nothing there.

* :func:`label_entropy`: the plug-in $H(Y) = -\sum_k\hat p_k\log\hat p_k$ with its delta-method
  standard error $\sqrt{\mathrm{Var}[\log\hat p_Y]/N}$.
* :func:`barber_agakov_bound`: the mean over held-out pairs of $\log q(y_i\mid\mathbf x_i) - \log\hat p_{y_i}$,
  which is $\hat H(Y) - \widehat{\rm CE}(q)$, with the standard error of that mean.
* :func:`label_sandwich`: both, with the classifier's accuracy and cross-entropy.

Probabilities may be given as probabilities or log-probabilities, shape (N, K).
"""

from dataclasses import dataclass

import numpy as np

from .montecarlo import Estimate

__all__ = ["LabelSandwich", "barber_agakov_bound", "check_labels", "check_log_probabilities", "label_entropy",
           "label_sandwich"]

# Rows of probabilities must sum to 1 to this tolerance (float32 softmax outputs sum to 1
# within ~1e-6 per class; 1e-4 accepts them and rejects an unnormalised score).
ROW_SUM_TOLERANCE = 1e-4


def check_labels(y, num_classes: int | None = None) -> tuple[np.ndarray, int]:
    """Integer labels ``y`` (N,) in 0, ..., K-1 as int64, and K (``num_classes``, or max + 1).

    Raises ``ValueError`` for labels that are not integers, not one-dimensional, negative,
    not below ``num_classes``, or (without ``num_classes``) for a class 0...K-1 that never occurs.
    """
    labels = np.asarray(y)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers 0, 1, ..., K-1, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.size < 2:
        raise ValueError(f"labels must have shape (N,) with N >= 2, got shape {labels.shape}")
    if labels.min() < 0:
        raise ValueError(f"labels must be 0, 1, ..., K-1, got a minimum of {labels.min()}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1
        missing = np.setdiff1d(np.arange(num_classes), labels)
        if missing.size:
            raise ValueError(f"labels must be 0, 1, ..., K-1 with every class present; classes {missing.tolist()} "
                             f"never occur (relabel, or pass num_classes)")
    elif labels.max() >= num_classes:
        raise ValueError(f"labels must be below num_classes={num_classes}, got a maximum of {labels.max()}")
    return labels.astype(np.int64), int(num_classes)


def check_log_probabilities(probabilities=None, *, log_probabilities=None, num_examples: int,
                            num_classes: int) -> np.ndarray:
    """Class probabilities (N, K) given either way, as float64 log-probabilities.

    Raises ``ValueError`` for a wrong shape, NaN, negative probabilities, or rows that do not
    sum to 1 (within ``ROW_SUM_TOLERANCE``).
    """
    if (probabilities is None) == (log_probabilities is None):
        raise ValueError("pass exactly one of probabilities and log_probabilities")
    given = probabilities if probabilities is not None else log_probabilities
    name = "probabilities" if probabilities is not None else "log_probabilities"
    array = np.asarray(given, dtype=np.float64)
    if array.shape != (num_examples, num_classes):
        raise ValueError(f"{name} must have shape (N={num_examples}, K={num_classes}), got {array.shape}")
    if np.any(np.isnan(array)):
        raise ValueError(f"{name} contains NaN")
    if probabilities is not None:
        if np.any(array < 0) or np.any(array > 1 + ROW_SUM_TOLERANCE):
            raise ValueError("probabilities must lie in [0, 1]")
        sums = array.sum(axis=1)
    else:
        if np.any(array > ROW_SUM_TOLERANCE):
            raise ValueError("log_probabilities must be <= 0")
        sums = np.exp(array).sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if bad.size:
        raise ValueError(f"every row of {name} must sum to 1; rows {bad[:5].tolist()} sum to "
                         f"{np.round(sums[bad[:5]], 6).tolist()}")
    if probabilities is not None:
        with np.errstate(divide="ignore"):
            return np.log(array / sums[:, None])
    return array - np.log(sums)[:, None]


def _log_frequencies(labels: np.ndarray, num_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=num_classes)
    with np.errstate(divide="ignore"):
        return np.log(counts / counts.sum())


def label_entropy(y, num_classes: int | None = None) -> Estimate:
    r"""Plug-in $H(Y) = -\sum_k\hat p_k\log\hat p_k$ (nats) from the label frequencies, with the
    delta-method standard error $\mathrm{sd}(\log\hat p_{Y})/\sqrt N$."""
    labels, num_classes = check_labels(y, num_classes)
    surprisal = -_log_frequencies(labels, num_classes)[labels]
    return Estimate.of_samples(surprisal)  # one term per label


def barber_agakov_bound(y, probabilities=None, *, log_probabilities=None, num_classes: int | None = None) -> Estimate:
    r"""The Barber–Agakov lower bound $I(\mathbf X;Y)\ge H(Y) - \mathbb E[-\log q(Y\mid\mathbf X)]$ in nats.

    **Arguments:** ``y`` (N,) the true labels of *held-out* examples; ``probabilities`` or
    ``log_probabilities`` (N, K), the classifier's $q(\cdot\mid\mathbf x_i)$.

    **Returns:** the mean of $\log q(y_i\mid\mathbf x_i) - \log\hat p_{y_i}$ ($\hat p$: label frequencies of
    ``y``) with its standard error. A class with $q = 0$ for a true label gives $-\infty$.
    """
    labels, num_classes = check_labels(y, num_classes if num_classes is not None else
                                       np.shape(probabilities if probabilities is not None else log_probabilities)[-1])
    log_q = check_log_probabilities(probabilities, log_probabilities=log_probabilities, num_examples=labels.size,
                                    num_classes=num_classes)
    values = log_q[np.arange(labels.size), labels] - _log_frequencies(labels, num_classes)[labels]
    return Estimate.of_samples(values)  # one term per label


@dataclass(frozen=True)
class LabelSandwich:
    r"""$\text{lower} \le I(\mathbf X;Y) \le \text{upper}$ (nats): ``upper`` is $H(Y)$, ``lower`` the Barber–Agakov
    bound of a classifier with ``accuracy`` and ``cross_entropy`` $\mathbb E[-\log q(Y\mid\mathbf X)]$ on the
    same held-out examples; ``log_num_classes`` is $\log K$, the ceiling of $H(Y)$."""

    upper: Estimate
    lower: Estimate
    accuracy: float
    cross_entropy: float
    log_num_classes: float

    def contains(self, value: float, stderr: float = 0.0, z: float = 2.0) -> bool:
        """Whether ``value`` lies in [lower - z s.e., upper + z s.e.] (the s.e. of each side and of ``value``)."""
        low = self.lower.value - z * np.hypot(self.lower.stderr, stderr)
        high = self.upper.value + z * np.hypot(self.upper.stderr, stderr)
        return bool(low <= value <= high)

    def as_dict(self) -> dict:
        estimate = lambda e: dict(value=e.value, stderr=e.stderr, num_samples=e.num_samples)  # noqa: E731
        return dict(upper=estimate(self.upper), lower=estimate(self.lower), accuracy=self.accuracy,
                    cross_entropy=self.cross_entropy, log_num_classes=self.log_num_classes)


def label_sandwich(y, probabilities=None, *, log_probabilities=None, num_classes: int | None = None) -> LabelSandwich:
    """:class:`LabelSandwich` of held-out labels ``y`` and a classifier's probabilities (N, K)."""
    k = num_classes if num_classes is not None else np.shape(
        probabilities if probabilities is not None else log_probabilities)[-1]
    labels, k = check_labels(y, k)
    log_q = check_log_probabilities(probabilities, log_probabilities=log_probabilities, num_examples=labels.size,
                                    num_classes=k)
    lower = barber_agakov_bound(labels, log_probabilities=log_q, num_classes=k)
    upper = label_entropy(labels, k)
    accuracy = float(np.mean(np.argmax(log_q, axis=1) == labels))
    cross_entropy = float(-log_q[np.arange(labels.size), labels].mean())
    return LabelSandwich(upper, lower, accuracy, cross_entropy, float(np.log(k)))
