r"""A Gaussian baseline for entropy matching: the network learns only what a Gaussian misses.

Fit a joint Gaussian to the pairs: $\mathbf X\sim\mathcal N(\mathbf m_X, \Sigma_X)$ and
$\mathbf X\mid\mathbf y\sim\mathcal N(\mathbf m_X + K(\mathbf y - \mathbf m_Y), C)$. Its entropy field
under the VP process is linear and exact: for a Gaussian $\mathcal N(\mathbf m, \Sigma)$,
$p_s = \mathcal N(\sqrt\alpha\,\mathbf m, \alpha\Sigma + (1-\alpha)I)$ and

$$\mathbf e_G(\mathbf x, s) = \nabla\log p_s + \mathbf x
  = V\,\mathrm{diag}\!\Big(\frac{\alpha(\lambda-1)}{\mu}\Big)V^\top\mathbf x
  + V\,\mathrm{diag}\!\Big(\frac1\mu\Big)V^\top\sqrt\alpha\,\mathbf m,
  \qquad \mu = \alpha\lambda + 1-\alpha,$$

with $(\lambda, V)$ the eigenpairs of $\Sigma$ ($\Sigma_X$ and $\mathbf m_X$ unconditionally, $C$ and
$\mathbf m_X + K(\mathbf y-\mathbf m_Y)$ given $\mathbf y$). :class:`ResidualNetwork` adds it, frozen, to a
network's output: the network starts at the Gaussian model of the data, not at $p_{\rm eq}$, and
only has to learn the non-Gaussian remainder. On pairs that are Gaussian after the copula map
(most of the information in many benchmarks is of that kind), the remainder is near zero and
MINDE starts from the Gaussian answer instead of having to find every linear dependence
among $D_X D_Y$ candidates from a few thousand pairs.

**Ridge.** The gain $K$ has $D_X D_Y$ entries, each estimated with error $\sim N^{-1/2}$; in
high dimension those errors alone add about $D_X D_Y/(2N)$ nats of spurious information. So
$K = \hat\Sigma_{XY}(\hat\Sigma_{Y}+\rho I)^{-1}$ (ridge regression of $\mathbf x$ on $\mathbf y$), with $\rho$
chosen on validation pairs by the Gaussian negative log-likelihood of $\mathbf x$ given $\mathbf y$
(:func:`fit_gaussian_baseline`); $C$ is the covariance of the training residuals. Shrinking $K$
also shrinks the information the Gaussian carries, so of the ridges whose validation loss is
within one (paired) standard error of the lowest, the smallest is taken: the one-standard-error
rule, turned towards less shrinkage. Where the loss barely depends on $\rho$ (few dimensions)
that is $\rho = 0$; where it falls steeply (many), the shrinkage the data ask for.

The baseline is fitted on the training pairs only, so held-out estimates stay held out.

**Its information in closed form.** Where the Gaussian is the better model, the information of the
Gaussian fitted to all $N$ pairs is known exactly up to its finite-sample bias, and that bias is
known too (:func:`gaussian_information`): the Gaussian-copula estimator of Ince et al. (2017),
"A statistical framework for neuroimaging data analysis based on mutual information estimated via
a Gaussian copula", *Human Brain Mapping* 38.
"""

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float
from scipy.special import digamma

from .montecarlo import Estimate

__all__ = ["RIDGE_GRID", "GaussianBaseline", "GaussianFit", "ResidualNetwork", "fit_gaussian_baseline",
           "gaussian_information", "gaussian_negative_log_likelihood"]

#: Ridge strengths tried (in units of the variance of y's coordinates, which is 1 after the copula
#: map): none, then a geometric grid wide enough to shrink a 50 x 50 gain to a few directions.
RIDGE_GRID = (0.0,) + tuple(np.geomspace(1e-3, 10.0, 13).tolist())
# Eigenvalues of a fitted covariance are floored at this fraction of the largest (a direction
# that is constant in the sample must not make the field infinite).
EIGENVALUE_FLOOR = 1e-8


def _eigh(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    eigenvalues, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    return np.maximum(eigenvalues, EIGENVALUE_FLOOR * eigenvalues.max()), vectors


def _gaussian_field(x, log_snr, mean, eigenvalues, vectors):
    r"""The scaled field $\sqrt{1-\alpha}\,\mathbf e_G$ of
    $\mathcal N(\text{mean}, V\mathrm{diag}(\lambda)V^\top)$ at one point."""
    alpha, variance = jax.nn.sigmoid(log_snr), jax.nn.sigmoid(-log_snr)  # log-SNR = log(α/(1-α))
    mu = alpha * eigenvalues + variance
    coords = (x @ vectors) * alpha * (eigenvalues - 1.0) / mu + jnp.sqrt(alpha) * (mean @ vectors) / mu
    return jnp.sqrt(variance) * (coords @ vectors.T)


class GaussianBaseline(eqx.Module):
    r"""The frozen scaled entropy field $\sqrt{1-\alpha}\,\mathbf e_G(\mathbf x, s; \mathbf y)$ of a fitted joint
    Gaussian (module docstring), called like :class:`kellynotes.nets.EntropyMLP` on one example:
    ``baseline(x, log_snr, y, use_condition)``; ``y=None`` or ``use_condition=False`` gives the
    unconditional field. Build it with :func:`fit_gaussian_baseline` or :meth:`from_moments`."""

    mean_x: Float[Array, " D_X"]
    mean_y: Float[Array, " D_Y"]
    gain: Float[Array, "D_X D_Y"]
    eigenvalues_x: Float[Array, " D_X"]
    vectors_x: Float[Array, "D_X D_X"]
    eigenvalues_given_y: Float[Array, " D_X"]
    vectors_given_y: Float[Array, "D_X D_X"]

    @classmethod
    def from_moments(cls, mean_x, cov_x, mean_y, gain, cov_x_given_y) -> "GaussianBaseline":
        r"""From $\mathbf m_X$, $\Sigma_X$, $\mathbf m_Y$, $K$ (D_X, D_Y) and
        $C = \mathrm{Cov}(\mathbf X\mid\mathbf Y)$."""
        mean_x, mean_y = np.atleast_1d(np.asarray(mean_x, np.float64)), np.atleast_1d(np.asarray(mean_y, np.float64))
        cov_x, gain, cov_x_given_y = (np.asarray(a, np.float64) for a in (cov_x, gain, cov_x_given_y))
        dim_x, dim_y = mean_x.size, mean_y.size
        expected = dict(cov_x=(dim_x, dim_x), gain=(dim_x, dim_y), cov_x_given_y=(dim_x, dim_x))
        for name, value in dict(cov_x=cov_x, gain=gain, cov_x_given_y=cov_x_given_y).items():
            if value.shape != expected[name]:
                raise ValueError(f"{name} must have shape {expected[name]} (from mean_x {dim_x}, mean_y {dim_y}), "
                                 f"got {value.shape}")
        for name, value in dict(cov_x=cov_x, cov_x_given_y=cov_x_given_y).items():
            if not np.all(np.isfinite(value)) or np.linalg.eigvalsh(0.5 * (value + value.T)).min() <= 0:
                raise ValueError(f"{name} must be a finite positive definite covariance")
        (lx, vx), (lc, vc) = _eigh(cov_x), _eigh(cov_x_given_y)
        as32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
        return cls(*map(as32, (mean_x, mean_y, gain, lx, vx, lc, vc)))

    def __call__(self, x: Float[Array, " D_X"], log_snr: Float[Array, ""], y: Float[Array, " D_Y"] | None = None,
                 use_condition: Bool[Array, ""] | bool = True) -> Float[Array, " D_X"]:
        frozen = jax.lax.stop_gradient(self)  # fitted, not trained
        unconditional = _gaussian_field(x, log_snr, frozen.mean_x, frozen.eigenvalues_x, frozen.vectors_x)
        if y is None:
            return unconditional
        mean = frozen.mean_x + frozen.gain @ (y - frozen.mean_y)
        conditional = _gaussian_field(x, log_snr, mean, frozen.eigenvalues_given_y, frozen.vectors_given_y)
        return jnp.where(use_condition, conditional, unconditional)

    def mutual_information(self) -> float:
        r"""$I$ of the fitted Gaussian, $\tfrac12(\log\det\Sigma_X - \log\det C)$, nats: the Gaussian part."""
        return 0.5 * float(jnp.sum(jnp.log(self.eigenvalues_x)) - jnp.sum(jnp.log(self.eigenvalues_given_y)))


class ResidualNetwork(eqx.Module):
    r"""``network(x, log_snr, y, use) + baseline(x, log_snr, y, use)``: a network (an
    :class:`~kellynotes.nets.EntropyMLP`) that learns the remainder over a frozen
    :class:`GaussianBaseline`. Its zero-output initialisation is then the Gaussian model."""

    network: eqx.Module
    baseline: GaussianBaseline

    def __call__(self, x, log_snr, y=None, use_condition=True):
        if y is None:
            return self.network(x, log_snr) + self.baseline(x, log_snr)
        return self.network(x, log_snr, y, use_condition) + self.baseline(x, log_snr, y, use_condition)


def gaussian_negative_log_likelihood(x: Float[np.ndarray, "N D_X"], y: Float[np.ndarray, "N D_Y"],
                                     mean_x, mean_y, gain, cov_x_given_y) -> Float[np.ndarray, " N"]:
    r"""$-\log\mathcal N(\mathbf x_i; \mathbf m_X + K(\mathbf y_i-\mathbf m_Y), C)$ of each pair, without the
    $\frac D2\log2\pi$ constant, nats."""
    residual = x - mean_x - (y - mean_y) @ gain.T
    eigenvalues, vectors = _eigh(cov_x_given_y)
    return 0.5 * np.sum((residual @ vectors) ** 2 / eigenvalues, axis=1) + 0.5 * np.sum(np.log(eigenvalues))


@dataclass(frozen=True)
class GaussianFit:
    """The fitted :class:`GaussianBaseline`, the ridge chosen, and for every ridge tried the mean
    validation negative log-likelihood (nats per pair) and the standard error of its difference
    from the lowest (both empty without validation pairs)."""

    baseline: GaussianBaseline
    ridge: float
    ridges: tuple[float, ...]
    validation_nll: tuple[float, ...]
    validation_nll_stderr: tuple[float, ...]


def _fit(x, y, ridge):
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    n = x.shape[0]
    cov_y, cov_xy = yc.T @ yc / n, xc.T @ yc / n
    gain = np.linalg.solve(cov_y + ridge * np.eye(cov_y.shape[0]), cov_xy.T).T
    residual = xc - yc @ gain.T
    return mean_x, xc.T @ xc / n, mean_y, gain, residual.T @ residual / n


def fit_gaussian_baseline(x: Float[np.ndarray, "N D_X"], y: Float[np.ndarray, "N D_Y"],
                          validation: tuple | None = None, ridges=RIDGE_GRID) -> GaussianFit:
    r"""Fit the Gaussian baseline to training pairs ``(x, y)``.

    **Arguments:** ``x`` (N, D_X) and ``y`` (N, D_Y) the training pairs (N > D_X + D_Y);
    ``validation=(x_val, y_val)``: the ridge $\rho$ of $K$ is the smallest of ``ridges`` whose mean
    :func:`gaussian_negative_log_likelihood` on them is within one standard error (of the paired
    difference) of the lowest (without: $\rho = 0$, least squares).

    **Returns:** a :class:`GaussianFit`.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have shapes (N, D_X) and (N, D_Y), got {x.shape} and {y.shape}")
    if x.shape[0] <= x.shape[1] + y.shape[1]:
        raise ValueError(f"a Gaussian baseline needs more pairs than D_X + D_Y = {x.shape[1] + y.shape[1]}, "
                         f"got {x.shape[0]}")
    ridges = tuple(float(r) for r in ridges)
    if not ridges or min(ridges) < 0:
        raise ValueError(f"ridges must be a non-empty sequence of numbers >= 0, got {ridges}")
    if validation is None:
        return GaussianFit(GaussianBaseline.from_moments(*_fit(x, y, 0.0)), 0.0, (0.0,), (), ())
    x_val, y_val = (np.asarray(a, np.float64) for a in validation)
    if x_val.shape[1:] != x.shape[1:] or y_val.shape[1:] != y.shape[1:] or x_val.shape[0] != y_val.shape[0]:
        raise ValueError(f"validation pairs must match the training pairs: {x_val.shape}, {y_val.shape}")
    fits = [_fit(x, y, ridge) for ridge in ridges]
    losses = np.stack([gaussian_negative_log_likelihood(x_val, y_val, m_x, m_y, gain, cov)
                       for m_x, _, m_y, gain, cov in fits])
    means = losses.mean(axis=1)
    best = int(np.argmin(means))
    stderr = (losses - losses[best]).std(axis=1) / np.sqrt(losses.shape[1])
    chosen = min((i for i in range(len(ridges)) if means[i] - means[best] <= stderr[i]), key=lambda i: ridges[i])
    return GaussianFit(GaussianBaseline.from_moments(*fits[chosen]), ridges[chosen], ridges,
                       tuple(means.tolist()), tuple(stderr.tolist()))


def _log_det_bias(dim: int, n: int) -> float:
    r"""$\mathbb E[\log\det\hat\Sigma] - \log\det\Sigma$ for the sample covariance $\hat\Sigma$ (divisor
    $n-1$) of $n$ Gaussian vectors of dimension ``dim``:
    $\sum_{i=1}^{d}\psi\big(\tfrac{n-i}{2}\big) + d\log\tfrac{2}{n-1}$ (the Wishart log-determinant)."""
    return float(np.sum(digamma((n - np.arange(1, dim + 1)) / 2)) + dim * np.log(2.0 / (n - 1)))


def gaussian_information(x: Float[np.ndarray, "N D_X"], y: Float[np.ndarray, "N D_Y"]) -> Estimate:
    r"""$I(\mathbf X;\mathbf Y)$ of the Gaussian fitted to the pairs, without its finite-sample bias, nats.

    The plug-in $\hat I = \tfrac12(\log\det\hat\Sigma_X + \log\det\hat\Sigma_Y - \log\det\hat\Sigma)$
    (sample covariances, $\hat\Sigma$ the joint one) has, for Gaussian pairs, the known bias
    $\tfrac12(b_{D_X} + b_{D_Y} - b_{D_X+D_Y})$, $b_d$ that of a $d$-dimensional log-determinant
    (digamma terms; about $D_XD_Y/2N$ nats); it is subtracted, which leaves an unbiased estimate of
    the Gaussian's $I$ (Ince et al. 2017). After the copula map that is the Gaussian-copula
    information. The standard error comes from the influence of each pair on $\hat I$,
    $\tfrac12(\tilde{\mathbf x}^\top\hat\Sigma_X^{-1}\tilde{\mathbf x} + \tilde{\mathbf y}^\top
    \hat\Sigma_Y^{-1}\tilde{\mathbf y} - \tilde{\mathbf z}^\top\hat\Sigma^{-1}\tilde{\mathbf z})$
    ($\tilde{\ }$: centred), which holds whether or not the pairs are Gaussian (given finite fourth
    moments, as after the copula map).

    **Arguments:** ``x`` (N, D_X) and ``y`` (N, D_Y) continuous pairs, N > D_X + D_Y + 1.

    **Returns:** an :class:`~kellynotes.montecarlo.Estimate` over the N pairs.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have shapes (N, D_X) and (N, D_Y), got {x.shape} and {y.shape}")
    n, dim_x = x.shape
    dim_y = y.shape[1]
    if n <= dim_x + dim_y + 1:
        raise ValueError(f"the Gaussian's information needs more than D_X + D_Y + 1 = {dim_x + dim_y + 1} pairs, "
                         f"got {n}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    z = np.concatenate([x, y], axis=1)
    z = z - z.mean(axis=0)
    cov = z.T @ z / (n - 1)
    parts = (slice(0, dim_x), slice(dim_x, None), slice(None))
    log_dets, quadratic = [], []
    for part in parts:
        block = cov[part, part]
        sign, log_det = np.linalg.slogdet(block)
        if sign <= 0 or not np.isfinite(log_det):
            raise ValueError("the pairs' covariance is singular: a coordinate is constant or a combination of others")
        log_dets.append(log_det)
        quadratic.append(np.einsum("ni,ni->n", z[:, part], np.linalg.solve(block, z[:, part].T).T))
    plug_in = 0.5 * (log_dets[0] + log_dets[1] - log_dets[2])
    bias = 0.5 * (_log_det_bias(dim_x, n) + _log_det_bias(dim_y, n) - _log_det_bias(dim_x + dim_y, n))
    influence = 0.5 * (quadratic[0] + quadratic[1] - quadratic[2])
    return Estimate(float(plug_in - bias), Estimate.of_samples(influence).stderr, n)
