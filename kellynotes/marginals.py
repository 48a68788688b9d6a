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

**Whitening** (:func:`whiten`) is the joint counterpart for one variable as a whole: the
invertible linear map $\mathbf z = \hat\Sigma^{-1/2}(\mathbf x - \bar{\mathbf x})$, with the symmetric inverse square
root of the sample covariance. $I(\mathbf X;\mathbf Y)$ is unchanged by an invertible
map of $\mathbf X$ (and one of $\mathbf Y$), so this too costs no information. It undoes *linear*
flattening: data spread along a few directions and thin along the others (eigenvalues $\lambda_\delta\ll1$)
become isotropic, and the huge entropy of locating the thin subspace, which a network otherwise
has to learn beside the small conditional correction that carries $I$, is gone before training. It
does nothing for curved low-dimensional sets (images), whose covariance can be full rank.

The per-coordinate maps use only the column itself, and whitening only the one variable, (never the pairing of
$\mathbf x$ with $\mathbf y$), so fitting
them on all $N$ rows, held-out rows included, leaks no information between the two splits.
Neither is the population map: the empirical one differs from it by $O(N^{-1/2})$, which is a
smooth per-coordinate perturbation and changes $I$ by far less than the estimator's error (the
tests measure it on exact Gaussians). Neural entropy is *not* invariant under these maps.
"""

import numpy as np
from jaxtyping import Float
from scipy import special, stats

__all__ = ["FLATTENED_BELOW", "MARGINAL_TRANSFORMS", "WHITENING_FLOOR", "is_flattened", "rank_gaussianize",
           "smallest_correlation_eigenvalue", "standardize", "transform", "whiten"]

#: The per-coordinate maps of :func:`transform`.
MARGINAL_TRANSFORMS = ("standardize", "rank_gaussian", "none")


def standardize(array: Float[np.ndarray, "N D"], name: str = "array") -> Float[np.ndarray, "N D"]:
    r"""$(x - \bar x)/\hat\sigma$ per column. Raises ``ValueError`` naming constant columns."""
    std = array.std(axis=0)
    if np.any(std == 0):
        raise ValueError(f"{name} has constant columns {np.flatnonzero(std == 0).tolist()}: "
                         f"they cannot be standardised")
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


#: Eigenvalues are floored at this fraction of the largest before the inverse square root: a direction
#: along which the data are constant to round-off (relative variance ~1e-32 in float64, ~1e-14 in
#: float32 data, or a slightly negative eigenvalue) is scaled by at most 1e5 and stays near zero
#: instead of being blown up to unit-variance noise. The map stays invertible, so I is unchanged; an
#: eigenvalue well above the floor (the flattening sweeps go down to 1e-4 of the largest) is whitened
#: to within a relative 1e-10/eigenvalue.
WHITENING_FLOOR = 1e-10


def whiten(array: Float[np.ndarray, "N D"], name: str = "array") -> Float[np.ndarray, "N D"]:
    r"""The symmetric (ZCA) whitening
    $\mathbf z = V(\Lambda + \epsilon\lambda_{\max})^{-1/2}V^\top(\mathbf x - \bar{\mathbf x})$
    row by row, with $\hat\Sigma = V\Lambda V^\top$ the sample covariance and $\epsilon$ =
    :data:`WHITENING_FLOOR`: the sample covariance of $\mathbf z$ is the identity (up to the floor).

    Of all maps that whiten, this one moves the data least ($\mathbb E\|\mathbf z - \mathbf x\|^2$ is smallest
    for standardised $\mathbf x$): data that are already uncorrelated are left on their own axes, so
    sparse, coordinate-wise dependence stays coordinate-wise. (Principal-component whitening,
    $\Lambda^{-1/2}V^\top$, would turn such data by an arbitrary rotation, the eigenvectors of a
    covariance close to the identity being arbitrary.) Raises ``ValueError`` if ``array`` is not (N, D)
    with N > D, or is constant (then it carries no information)."""
    array = np.asarray(array, np.float64)
    if array.ndim != 2 or array.shape[0] <= array.shape[1]:
        raise ValueError(f"{name} must be (N, D) with more rows than columns to be whitened, got shape {array.shape}")
    centred = array - array.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / array.shape[0])
    largest = eigenvalues[-1]
    if not largest > 0:
        raise ValueError(f"{name} is constant: it cannot be whitened")
    scale = 1.0 / np.sqrt(np.maximum(eigenvalues, 0.0) + WHITENING_FLOOR * largest)
    return centred @ (eigenvectors * scale) @ eigenvectors.T


#: A variable counts as flattened when some direction holds less than this share of unit variance:
#: the smallest eigenvalue of its correlation matrix. Measured (benchmarks/flattening.py and
#: benchmark-mi, after the copula map): in the flattening sweeps, where whitening is what keeps MINDE
#: within 2 %, it is 0.083 or less at lambda_delta <= 1e-2; on the 40 benchmark-mi tasks, where
#: whitening changes little, it is 0.44 or more; on a dense 3 x 3 Gaussian whose estimate whitening
#: made worse at a short budget (-39 % against -9 % at 1000 steps) it is 0.27. 0.15 is the geometric
#: middle of 0.083 and 0.27.
FLATTENED_BELOW = 0.15


def smallest_correlation_eigenvalue(array: Float[np.ndarray, "N D"]) -> float:
    r"""The smallest eigenvalue of the sample correlation matrix of the columns (1 for one column): the
    share of unit variance left along the thinnest direction of the standardised data."""
    array = np.asarray(array, np.float64)
    if array.shape[1] == 1:
        return 1.0
    return float(np.linalg.eigvalsh(np.corrcoef(array.T))[0])


def is_flattened(array: Float[np.ndarray, "N D"]) -> bool:
    """True if :func:`smallest_correlation_eigenvalue` is below :data:`FLATTENED_BELOW`: some linear
    combination of the columns is much thinner than the columns are, which whitening undoes."""
    return smallest_correlation_eigenvalue(array) < FLATTENED_BELOW


def transform(array: Float[np.ndarray, "N D"], kind: str, name: str = "array") -> Float[np.ndarray, "N D"]:
    """Apply the map ``kind`` (one of :data:`MARGINAL_TRANSFORMS`) to every column."""
    if kind == "standardize":
        return standardize(array, name)
    if kind == "rank_gaussian":
        return rank_gaussianize(array, name)
    if kind == "none":
        return np.asarray(array, np.float64)
    raise ValueError(f"marginals must be one of {MARGINAL_TRANSFORMS}, got {kind!r}")
