r"""Monte Carlo over the diffusion time: integrals and rate curves of any per-sample integrand.

Every estimator of the package has the form $\frac{\beta(s)}2\,\mathbb E[g(\tilde{\mathbf x}_s, s, \mathbf y)]$
(a rate, nats per unit $s$) or its integral over $s$, with clean data $(\mathbf x, \mathbf y)$ drawn
with replacement and $\tilde{\mathbf x}_s = \sqrt{\alpha}\,\mathbf x + \sqrt{1-\alpha}\,\boldsymbol\varepsilon$ from the
forward process. Only $g$ differs: $\|\mathbf e\|^2$ for neural entropy, $\|\mathbf e(\cdot;\mathbf y) - \mathbf e\|^2$
for MINDE, a divergence for the entropy production rate. This module holds the sampling
and the compiled loops; the estimators supply $g$ as an *integrand*
``integrand(x_s, s, y, key) -> (batch,)``, with ``key`` a PRNG key for integrands that draw
random numbers themselves (Hutchinson probes; declared by ``uses_key = True``) and ``None``
otherwise.

* :func:`time_integral`: $\int_{s_{\min}}^T ds\,\frac\beta2\,\mathbb E[g]$ with times uniform in
  log-SNR and the importance weight of :meth:`~kellynotes.sde.VPSDE.sample_time_uniform_log_snr`.
* :func:`weighted_time_samples`: the same draws, returned per sample with their times (to
  accumulate the integral from $T$ down to any $s$).
* :func:`rate_curve`: $\frac{\beta(s)}2\,\mathbb E[g]$ at each time of a grid, with standard errors.

Integrands that are Equinox modules whose field is a module too (a trained network) are
passed to the compiled loops as they are: their arrays are traced inputs. Any other
integrand is lifted first (:func:`kellynotes.tracing.lift`), so a fresh closure over an
exact field compiles once per shape, not once per call.
"""

from collections.abc import Callable
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from . import _validation as check
from . import tracing
from .sde import VPSDE

__all__ = ["Estimate", "FieldIntegrand", "RateCurve", "as_device_arrays", "check_integration_args", "check_s_grid",
           "rate_curve", "time_integral", "weighted_time_samples"]


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate in nats with its standard error."""

    value: float
    stderr: float
    num_samples: int

    @classmethod
    def of_samples(cls, values) -> "Estimate":
        r"""The mean of i.i.d. ``values`` (a 1-D NumPy or JAX array) with its standard error
        $\hat\sigma/\sqrt n$ ($\hat\sigma$ the sample standard deviation, ``ddof=1``)."""
        return cls(float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size)), values.size)

    @classmethod
    def of_clustered_samples(cls, values, clusters) -> "Estimate":
        r"""The mean $\bar v$ of ``values`` (1-D, $M$ draws) whose draws come in ``clusters`` (an integer
        label per draw, e.g. the data point it used), with the cluster-robust standard error
        $\frac1M\sqrt{\frac{n}{n-1}\sum_c (S_c - m_c\bar v)^2}$ over the $n$ clusters drawn, $S_c$ the sum
        and $m_c$ the count of cluster $c$'s draws. It counts the sampling of the clusters as well as
        the draws within each: the error of $\bar v$ about the mean over the clusters' population.
        With every draw its own cluster it is :meth:`of_samples`'s."""
        values = np.asarray(values, np.float64)
        clusters = np.asarray(clusters)
        if values.ndim != 1 or clusters.shape != values.shape:
            raise ValueError(f"values and clusters must be 1-D of the same length, got shapes {values.shape} "
                             f"and {clusters.shape}")
        _, labels = np.unique(clusters, return_inverse=True)
        count = labels.max() + 1
        if count < 2:
            raise ValueError("a clustered standard error needs draws from at least two clusters")
        mean = values.mean()
        residual = np.bincount(labels, weights=values - mean, minlength=count)  # S_c - m_c * mean
        stderr = np.sqrt(count / (count - 1) * np.sum(residual**2)) / values.size
        return cls(float(mean), float(stderr), values.size)

    def __format__(self, spec: str) -> str:
        spec = spec or ".3f"
        return f"{self.value:{spec}} ± {self.stderr:{spec}}"


@dataclass(frozen=True)
class RateCurve:
    """A rate $dS/ds$ (nats per unit $s$) on a grid of forward times, with standard errors."""

    s: np.ndarray
    rate: np.ndarray
    stderr: np.ndarray


class FieldIntegrand(eqx.Module):
    r"""$g(\tilde{\mathbf x}_s, s, \mathbf y)$ of the entropy-field estimators
    (:mod:`kellynotes.entropy`, :mod:`kellynotes.semantic`), for this module: ``kind="norm"``
    $\|\mathbf e(\cdot;\mathbf y)\|^2$ (neural entropy),
    ``"difference"`` $\|\mathbf e(\cdot;\mathbf y) - \mathbf e(\cdot)\|^2$ (MINDE), ``"difference_of_squares"``
    $\|\mathbf e(\cdot;\mathbf y)\|^2 - \|\mathbf e(\cdot)\|^2$ (Eq. 52). A pytree, so a field that is an Equinox
    module (e.g. ``EntropyModel.entropy_field``) is traced, and one compiled function serves
    every call on models of the same shape."""

    field: Callable
    kind: str = eqx.field(static=True)

    def __call__(self, x_s, s, y, key=None):
        if self.kind == "norm":
            return jnp.sum(self.field(x_s, s, y) ** 2, axis=-1)
        conditional, unconditional = self.field(x_s, s, y), self.field(x_s, s, None)
        if self.kind == "difference":
            return jnp.sum((conditional - unconditional) ** 2, axis=-1)
        return jnp.sum(conditional**2 - unconditional**2, axis=-1)  # "difference_of_squares"


def as_device_arrays(x, y):
    """``x`` as float32; integer ``y`` (labels) kept integer, other ``y`` as float32."""
    x = jnp.asarray(x, jnp.float32)
    if y is not None:
        y = jnp.asarray(y)
        y = y if jnp.issubdtype(y.dtype, jnp.integer) else y.astype(jnp.float32)
    return x, y


def _check_data(x, y):
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got shape {x.shape}")
    if y is not None and (y.ndim < 1 or y.shape[0] != x.shape[0]):
        raise ValueError(f"y must have one row per row of x ({x.shape[0]}), got shape {y.shape}")


def check_integration_args(sde: VPSDE, s_min: float, num_samples: int, batch_size: int):
    if not 0.0 < s_min < sde.T:
        raise ValueError(f"s_min must lie in (0, T={sde.T}), got {s_min}")
    if num_samples < 2 or batch_size < 1:
        raise ValueError(f"num_samples must be >= 2 and batch_size >= 1, got {num_samples}, {batch_size}")


def check_s_grid(sde: VPSDE, s_grid) -> np.ndarray:
    """``s_grid`` as a float64 1-D array of times in (0, T]."""
    s_grid = check.as_float_array(s_grid, "s_grid", ndim=1)
    if np.any(s_grid <= 0) or np.any(s_grid > sde.T):
        raise ValueError(f"s_grid must lie in (0, T={sde.T}], got values in [{s_grid.min()}, {s_grid.max()}]")
    return s_grid


def _prepare(integrand, x, y, batch_size: int):
    """Data as device arrays (checked) and ``integrand`` ready for the compiled loops: as is when
    it is a module over a module field (its arrays are pytree leaves), else lifted at the batch
    shapes (its captured arrays become inputs). Returns ``(x, y, integrand, uses_key)``."""
    x, y = as_device_arrays(x, y)
    _check_data(x, y)
    uses_key = bool(getattr(integrand, "uses_key", False))
    if not (isinstance(integrand, eqx.Module) and isinstance(getattr(integrand, "field", None), eqx.Module)):
        index = jnp.zeros(batch_size, jnp.int32)
        example = (x[index], jnp.zeros(batch_size, jnp.float32), None if y is None else y[index],
                   jax.random.key(0) if uses_key else None)
        integrand = tracing.lift(integrand, *example)
    return x, y, integrand, uses_key


def _split(key, uses_key: bool, count: int):
    """``count`` keys for the sampling, plus one for the integrand if it uses one (else None)."""
    keys = jax.random.split(key, count + 1 if uses_key else count)
    return tuple(keys[:count]), (keys[count] if uses_key else None)


@eqx.filter_jit
def _weighted_batch(integrand, uses_key, sde, x, y, key, s_min, batch_size):
    (key_index, key_time, key_noise), key_integrand = _split(key, uses_key, 3)
    index = jax.random.randint(key_index, (batch_size,), 0, x.shape[0])
    s, weight = sde.sample_time_uniform_log_snr(key_time, (batch_size,), s_min)
    x_s, _ = sde.perturb(key_noise, x[index], s)
    return s, index, weight * 0.5 * sde.beta(s) * integrand(x_s, s, None if y is None else y[index], key_integrand)


def weighted_time_samples(integrand, sde: VPSDE, x, y, *, key: PRNGKeyArray, s_min: float, num_samples: int,
                          batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    r"""``num_samples`` draws of $(u, w(u)\,\frac{\beta(u)}2\,g(\tilde{\mathbf x}_u, u, \mathbf y))$ with $u$
    uniform in log-SNR on $[s_{\min}, T]$: the mean of the second array is the integral
    :func:`time_integral`; restricted to $u \ge s$ it is the integral from $s$ (float64 arrays)."""
    times, _, values = _weighted_draws(integrand, sde, x, y, key=key, s_min=s_min, num_samples=num_samples,
                                       batch_size=batch_size)
    return times, values


def _weighted_draws(integrand, sde, x, y, *, key, s_min, num_samples, batch_size):
    """:func:`weighted_time_samples` with the index of the data point each draw used (times, index, values)."""
    check_integration_args(sde, s_min, num_samples, batch_size)
    batch_size = min(batch_size, num_samples)
    x, y, compiled, uses_key = _prepare(integrand, x, y, batch_size)
    batches = [_weighted_batch(compiled, uses_key, sde, x, y, batch_key, s_min, batch_size)
               for batch_key in jax.random.split(key, -(-num_samples // batch_size))]
    return tuple(np.concatenate([np.asarray(batch[part], dtype) for batch in batches])[:num_samples]
                 for part, dtype in enumerate((np.float64, np.int64, np.float64)))


def time_integral(integrand, sde: VPSDE, x, y, *, key: PRNGKeyArray, s_min: float, num_samples: int,
                  batch_size: int, pair_sampling: bool = False) -> Estimate:
    r"""$\int_{s_{\min}}^T ds\,\frac{\beta}{2}\,\mathbb E[g(\tilde{\mathbf x}_s, s, \mathbf y)]$ by Monte Carlo (nats
    when $g$ is a squared field norm), with its standard error.

    **Arguments:**

    - ``integrand``: $g$, called as ``integrand(x_s, s, y, key)`` on a batch and returning (batch,);
      ``key`` is ``None`` unless the integrand declares ``uses_key = True``.
    - ``sde``: the forward process that noises ``x``.
    - ``x``, ``y``: clean data (N, D) and its conditions (N, ...) or ``None``, drawn with replacement.
    - ``key``: the PRNG key of every draw.
    - ``s_min``: the lower end of the integral; times are drawn uniform in log-SNR on $[s_{\min}, T]$
      with the importance weight of :meth:`~kellynotes.sde.VPSDE.sample_time_uniform_log_snr`.
    - ``num_samples``: draws in all; ``batch_size``: draws per compiled call.
    - ``pair_sampling``: what the standard error counts. ``False``: the Monte Carlo draws only, the
      integral over the empirical law of ``x`` (and ``y``) as given. ``True``: also the sampling of the
      data points from their law, for an estimate of the law's integral
      (:meth:`Estimate.of_clustered_samples`, clustered by the data point each draw used).

    **Returns:** an :class:`Estimate` (the mean of the weighted draws and its standard error).
    """
    _, index, values = _weighted_draws(integrand, sde, x, y, key=key, s_min=s_min, num_samples=num_samples,
                                       batch_size=batch_size)
    return Estimate.of_clustered_samples(values, index) if pair_sampling else Estimate.of_samples(values)


@eqx.filter_jit
def _rate_batch(integrand, uses_key, sde, x, y, key, s_value, batch_size):
    (key_index, key_noise), key_integrand = _split(key, uses_key, 2)
    index = jax.random.randint(key_index, (batch_size,), 0, x.shape[0])
    s = jnp.full((batch_size,), s_value, jnp.float32)
    x_s, _ = sde.perturb(key_noise, x[index], s)
    return 0.5 * sde.beta(s) * integrand(x_s, s, None if y is None else y[index], key_integrand)


def rate_curve(integrand, sde: VPSDE, x, y, s_grid, *, key: PRNGKeyArray, samples_per_point: int) -> RateCurve:
    r"""$\frac{\beta(s)}{2}\,\mathbb E[g(\tilde{\mathbf x}_s, s, \mathbf y)]$ at each $s$ of ``s_grid`` (nats per unit
    $s$), each point from its own ``samples_per_point`` draws, with standard errors.

    **Arguments:** ``integrand``, ``sde``, ``x``, ``y`` and ``key`` as in :func:`time_integral`; ``s_grid``,
    times in $(0, T]$; ``samples_per_point`` (at least 2) draws at each time.

    **Returns:** a :class:`RateCurve` (``s``, ``rate``, ``stderr``), nats per unit $s$.
    """
    s_grid = check_s_grid(sde, s_grid)
    samples_per_point = check.positive_int(samples_per_point, "samples_per_point")
    if samples_per_point < 2:
        raise ValueError(f"samples_per_point must be >= 2 (a standard error needs two), got {samples_per_point}")
    x, y, compiled, uses_key = _prepare(integrand, x, y, samples_per_point)
    rates, errors = [], []
    for point_key, s_value in zip(jax.random.split(key, s_grid.size), s_grid):
        values = np.asarray(_rate_batch(compiled, uses_key, sde, x, y, point_key, jnp.float32(s_value),
                                        samples_per_point), dtype=np.float64)
        point = Estimate.of_samples(values)
        rates.append(point.value)
        errors.append(point.stderr)
    return RateCurve(s_grid, np.array(rates), np.array(errors))
