r"""Per-coordinate maps of the data before an estimator sees them.

Mutual information is invariant under an invertible map $f_i$ of each coordinate of each
variable: $I(f(\mathbf X); g(\mathbf Y)) = I(\mathbf X;\mathbf Y)$. So the data may be reshaped
coordinate by coordinate to whatever the network finds easiest to learn, without changing
the answer. Two maps are offered:

* :func:`standardize`: $z = (x - \bar x)/\hat\sigma$ per column (affine);
* :func:`rank_gaussianize` (the Gaussian copula transform): $z = \Phi^{-1}\big((r - \tfrac12)/N\big)$,
  $r$ the rank of $x$ in its column and $\Phi$ the standard normal CDF. Every marginal becomes
  (nearly) standard normal, so heavy tails, skew and bounded supports are gone before training.

**Ties and discrete columns.** Equal values get the average of their ranks, hence one common
$z$: the map stays a function of $x$, and on a discrete column it is a one-to-one relabelling of
the values it takes, so the information is kept exactly. Such a column stays discrete (a few
atoms at their normal scores); it is not smoothed into a continuous one.

Both maps use only the column itself (never the pairing of $\mathbf x$ with $\mathbf y$), so fitting
them on all $N$ rows, held-out rows included, leaks no information between the two splits.
Neither is the population map: the empirical one differs from it by $O(N^{-1/2})$, which is a
smooth per-coordinate perturbation and changes $I$ by far less than the estimator's error (the
tests measure it on exact Gaussians). Neural entropy is *not* invariant under these maps.
"""

import numpy as np
from jaxtyping import Float
from scipy import special, stats

__all__ = ["MARGINAL_TRANSFORMS", "rank_gaussianize", "standardize", "transform"]

MARGINAL_TRANSFORMS = ("standardize", "rank_gaussian", "none")


def standardize(array: Float[np.ndarray, "N D"], name: str = "array") -> Float[np.ndarray, "N D"]:
    r"""$(x - \bar x)/\hat\sigma$ per column. Raises ``ValueError`` naming constant columns."""
    std = array.std(axis=0)
    if np.any(std == 0):
        raise ValueError(f"{name} has constant columns {np.flatnonzero(std == 0).tolist()}: they cannot be standardised")
    return (array - array.mean(axis=0)) / std


def rank_gaussianize(array: Float[np.ndarray, "N D"], name: str = "array") -> Float[np.ndarray, "N D"]:
    r"""The Gaussian copula transform $\Phi^{-1}((r - \frac12)/N)$ per column, $r$ the average rank
    (ties share one value). Raises ``ValueError`` naming constant columns (they carry no information
    and would become a single atom)."""
    array = np.asarray(array, np.float64)
    constant = np.flatnonzero(np.all(array == array[:1], axis=0))
    if constant.size:
        raise ValueError(f"{name} has constant columns {constant.tolist()}: they cannot be transformed")
    ranks = stats.rankdata(array, method="average", axis=0)
    return special.ndtri((ranks - 0.5) / array.shape[0])


def transform(array: Float[np.ndarray, "N D"], kind: str, name: str = "array") -> Float[np.ndarray, "N D"]:
    """Apply the map ``kind`` (one of :data:`MARGINAL_TRANSFORMS`) to every column."""
    if kind == "standardize":
        return standardize(array, name)
    if kind == "rank_gaussian":
        return rank_gaussianize(array, name)
    if kind == "none":
        return np.asarray(array, np.float64)
    raise ValueError(f"marginals must be one of {MARGINAL_TRANSFORMS}, got {kind!r}")
