r"""Divergences of vector fields, and the entropy production they control.

**Divergence.** For a field $\mathbf f(\mathbf x, s)$ acting on a batch row by row,
:func:`exact_divergence` returns $\nabla\cdot\mathbf f = \mathrm{tr}\,\partial\mathbf f/\partial\mathbf x$
for every row ($D$ forward-mode products), and :func:`hutchinson_divergence` the
unbiased Hutchinson estimate $\frac1P\sum_p\mathbf v_p^\top(\partial\mathbf f/\partial\mathbf x)\mathbf v_p$ with
Rademacher probes $\mathbf v_p\in\{\pm1\}^D$ (one product per probe). With Rademacher probes
the diagonal of the Jacobian enters exactly ($v_i^2 = 1$); only the off-diagonal entries add
noise, of variance $\sum_{i<j}(J_{ij} + J_{ji})^2$ per probe.

**Entropy production of the VP process.** With $\partial_s p = -\nabla\cdot(\mathbf b_+p) + \frac\beta2\Delta p$,
$\mathbf b_+ = -\frac\beta2\mathbf x$ (Eq. 2), differentiating $H(\mathbf X_s) = -\int p_s\log p_s$ and integrating by
parts once ($\int\Delta p\,\log p = -\mathbb E\|\nabla\log p\|^2$,
$\int\nabla\cdot(\mathbf b_+p)\log p = \mathbb E\,\nabla\cdot\mathbf b_+$):

$$\frac{dH(\mathbf X_s)}{ds} = \frac\beta2\Big(\mathbb E\|\nabla\log p_s\|^2 - D\Big)
 = -\frac\beta2\Big(D + \mathbb E\,\nabla\cdot\nabla\log p_s\Big)
 = -\frac\beta2\,\mathbb E\,\nabla\cdot\mathbf e ,$$

the middle form by a second integration by parts ($\mathbb E\|\nabla\log p\|^2 = -\mathbb E\,\nabla\cdot\nabla\log p$,
the Stein identity) and the last with the entropy-matching field $\mathbf e = \nabla\log p_s + \mathbf x$
(Eq. 9), whose divergence is $\nabla\cdot\nabla\log p_s + D$. Nats per unit $s$.

**Generative bandwidth.** During generation ($s$ running from $T$ to 0) the uncertainty left
about the final sample is
$H(\mathbf X_0\mid\mathbf X_s) = H(\mathbf X_0) + H(\mathbf X_s\mid\mathbf X_0) - H(\mathbf X_s)$ with
$H(\mathbf X_s\mid\mathbf X_0) = \frac D2\log(2\pi e(1-\alpha))$, so the information produced per unit of
(reverse) time is

$$B(s) = \frac{d}{ds}H(\mathbf X_0\mid\mathbf X_s) = -\frac{d}{ds}I(\mathbf X_0;\mathbf X_s)
 = \frac\beta2\Big(\frac{D}{1-\alpha} + \mathbb E\,\nabla\cdot\nabla\log p_s\Big)
 = \frac\beta2\Big(\frac{D\alpha}{1-\alpha} + \mathbb E\,\nabla\cdot\mathbf e\Big)\ \ge 0 .$$

By Tweedie's formula $\nabla\cdot\nabla\log p_s = -\frac{D}{1-\alpha} +
\frac{\alpha}{(1-\alpha)^2}\mathrm{tr}\,\mathrm{Cov}[\mathbf X_0\mid\mathbf x_s]$,
so $B = \frac{\beta\alpha}{2(1-\alpha)^2}\mathbb E\,\mathrm{tr}\,\mathrm{Cov}[\mathbf X_0\mid\mathbf X_s]$:
the bandwidth is high while
the posterior over clean samples is still wide and the score's divergence is less
negative than pure noise would make it. (This is the quantity the "information dynamics"
view of generation relates to the expected divergence of the score; the formula and its
sign conventions here are our own derivation.) For a label $\mathbf Y$ with
$\mathbf Y\to\mathbf X_0\to\mathbf X_s$,
$B(s) \ge -\frac{d}{ds}I(\mathbf X_s;\mathbf Y)$ at every $s$, because the gap is
$-\frac{d}{ds}I(\mathbf X_0;\mathbf X_s\mid\mathbf Y)\ge 0$.

All estimators take an entropy field ``field(x, s, y=None)`` (the convention of
:mod:`kellynotes.entropy`: exact fields such as :func:`kellynotes.gaussian.exact_entropy_field`
or a trained :meth:`~kellynotes.entropy.EntropyModel.entropy_field`), so conditional
versions ($H(\mathbf X_s\mid\mathbf Y)$, $H(\mathbf X_0\mid\mathbf X_s,\mathbf Y)$) come from passing ``y``.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from . import montecarlo
from .montecarlo import RateCurve
from .sde import VPSDE

__all__ = [
    "FORMS",
    "entropy_production_rate",
    "exact_divergence",
    "generative_bandwidth",
    "hutchinson_divergence",
]

Field = Callable[..., Float[Array, "N D"]]

FORMS = ("divergence", "score_norm")

# Directions pushed through the field at once by exact_divergence: D of them would hold
# D copies of the batch's activations in memory; 16 keeps that bounded for networks.
_DIRECTIONS_PER_PASS = 16


# --------------------------------------------------------------------------- #
# Divergences
# --------------------------------------------------------------------------- #


def _batch(x, s, y):
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got shape {x.shape}")
    x = x.astype(jnp.result_type(x.dtype, jnp.float32))
    s = jnp.asarray(s, dtype=x.dtype)
    if s.shape != x.shape[:1]:
        raise ValueError(f"s must have shape (N,) = {x.shape[:1]} to match x, got shape {s.shape}")
    if y is not None and jnp.shape(y)[:1] != x.shape[:1]:
        raise ValueError(f"y must have one row per row of x ({x.shape[0]}), got shape {jnp.shape(y)}")
    return x, s


def exact_divergence(
    field: Field,
    x: Float[Array, "N D"],
    s: Float[Array, " N"],
    y=None,
) -> Float[Array, " N"]:
    r"""$\nabla_{\mathbf x}\cdot\mathbf f(\mathbf x_n, s_n;\mathbf y_n) = \sum_d \partial f_d/\partial x_d$
    for every row $n$.

    Exact (up to rounding): one Jacobian-vector product per coordinate direction, each
    applied to the whole batch. Assumes ``field`` acts on rows independently (row $n$ of
    the output depends only on row $n$ of the input), as every field in this package does.
    """
    x, s = _batch(x, s, y)
    dim = x.shape[1]
    apply = lambda points: field(points, s, y)  # noqa: E731

    def diagonal_entry(direction):
        _, column = jax.jvp(apply, (x,), (jnp.broadcast_to(direction, x.shape),))
        return column @ direction  # row n: (J_n e_d)_d

    entries = jax.lax.map(diagonal_entry, jnp.eye(dim, dtype=x.dtype), batch_size=min(dim, _DIRECTIONS_PER_PASS))
    return jnp.sum(entries, axis=0)


def hutchinson_divergence(
    field: Field,
    x: Float[Array, "N D"],
    s: Float[Array, " N"],
    *,
    key: PRNGKeyArray,
    num_probes: int,
    y=None,
) -> Float[Array, " N"]:
    r"""Hutchinson's estimate $\frac1P\sum_{p=1}^P\mathbf v_p^\top J_n\mathbf v_p$ of $\mathrm{tr}\,J_n$,
    $J_n = \partial\mathbf f/\partial\mathbf x$ at row $n$.

    Probes are Rademacher ($\pm1$ entries, independent across probes and rows), so the
    estimate is unbiased, exact when $J_n$ is diagonal, and otherwise has variance
    $\frac1P\sum_{i<j}(J_{ij} + J_{ji})^2$. Costs ``num_probes`` Jacobian-vector products.
    """
    num_probes = check.positive_int(num_probes, "num_probes")
    x, s = _batch(x, s, y)
    apply = lambda points: field(points, s, y)  # noqa: E731
    probes = jax.random.rademacher(key, (num_probes,) + x.shape, dtype=x.dtype)

    def quadratic_form(probe):
        _, image = jax.jvp(apply, (x,), (probe,))
        return jnp.sum(probe * image, axis=-1)

    return jnp.mean(jax.lax.map(quadratic_form, probes, batch_size=min(num_probes, _DIRECTIONS_PER_PASS)), axis=0)


# --------------------------------------------------------------------------- #
# Rates
# --------------------------------------------------------------------------- #


class _ProductionIntegrand(eqx.Module):
    r"""Per-sample $g$ whose mean times $\beta/2$ is the rate (nats per unit $s$), for one ``kind``
    (see :mod:`kellynotes.montecarlo`). A pytree, so a field that is an Equinox module is
    traced rather than baked into the compiled code as constants."""

    field: Callable
    sde: VPSDE = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    num_probes: int | None = eqx.field(static=True)

    @property
    def uses_key(self) -> bool:
        """Hutchinson's probes need a key per batch."""
        return self.kind != "score_norm" and self.num_probes is not None

    def divergence(self, x_s, s, y, key):
        if self.num_probes is None:
            return exact_divergence(self.field, x_s, s, y)
        return hutchinson_divergence(self.field, x_s, s, y=y, key=key, num_probes=self.num_probes)

    def __call__(self, x_s, s, y, key=None):
        dim = x_s.shape[1]
        if self.kind == "score_norm":  # ‖∇log p‖² − D, ∇log p = e − x
            score = self.field(x_s, s, y) - x_s
            return jnp.sum(score**2, axis=-1) - dim
        divergence = self.divergence(x_s, s, y, key)
        if self.kind == "divergence":  # −∇·e
            return -divergence
        snr = jnp.exp(self.sde.log_snr(s))  # α/(1−α), exact for small s where 1−α is tiny
        return dim * snr + divergence  # "bandwidth"


def _check_probes(num_probes):
    return None if num_probes is None else check.positive_int(num_probes, "num_probes")


def entropy_production_rate(
    field: Field,
    sde: VPSDE,
    x: Float[Array, "N D"],
    s_grid: Float[np.ndarray, " G"],
    *,
    key: PRNGKeyArray,
    y=None,
    samples_per_point: int = 4096,
    form: str = "divergence",
    num_probes: int | None = None,
) -> RateCurve:
    r"""$dH(\mathbf X_s)/ds$ in nats per unit $s$ on ``s_grid``, with ``x`` the clean data (noised here).

    ``form="divergence"``: $-\frac\beta2\,\mathbb E\,\nabla\cdot\mathbf e(\tilde{\mathbf x}_s, s)$,
    with the exact trace, or
    Hutchinson's with ``num_probes`` Rademacher probes (for large $D$).
    ``form="score_norm"``:
    $\frac\beta2(\mathbb E\|\mathbf e(\tilde{\mathbf x}_s, s) - \tilde{\mathbf x}_s\|^2 - D)$, i.e.
    $\frac\beta2(\mathbb E\|\nabla\log p_s\|^2 - D)$. For exact fields the two agree (integration by
    parts, see the module docstring); for a learned field they differ by how far it is
    from being a gradient of a log-density. With ``y``: $dH(\mathbf X_s\mid\mathbf Y)/ds$. Negative
    values mean the entropy falls as noise is added (impossible for the OU process started
    from $\mathcal N(0, I)$-like data, common for data more spread out than that).
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "score_norm" and num_probes is not None:
        raise ValueError("num_probes applies only to form='divergence' (the score-norm form needs no trace)")
    integrand = _ProductionIntegrand(field, sde, form, _check_probes(num_probes))
    return montecarlo.rate_curve(integrand, sde, x, y, s_grid, key=key, samples_per_point=samples_per_point)


def generative_bandwidth(
    field: Field,
    sde: VPSDE,
    x: Float[Array, "N D"],
    s_grid: Float[np.ndarray, " G"],
    *,
    key: PRNGKeyArray,
    y=None,
    samples_per_point: int = 4096,
    num_probes: int | None = None,
) -> RateCurve:
    r"""The generative bandwidth $B(s) = \frac{d}{ds}H(\mathbf X_0\mid\mathbf X_s)
    = \frac\beta2\big(\frac{D\alpha}{1-\alpha} + \mathbb E\,\nabla\cdot\mathbf e(\tilde{\mathbf x}_s, s)\big)\ge0$,
    nats per unit $s$.

    The information about the final sample that generation produces per unit of time
    at $s$ (positive: generation runs from $T$ to 0, and $H(\mathbf X_0\mid\mathbf X_s)$ shrinks as it
    goes). Its integral from $s$ to $T$ is
    $I(\mathbf X_0;\mathbf X_s) - I(\mathbf X_0;\mathbf X_T)$. With ``y``: the same
    given the label, $\frac{d}{ds}H(\mathbf X_0\mid\mathbf X_s,\mathbf Y)$. ``num_probes`` switches the exact trace to
    Hutchinson's estimate.
    """
    integrand = _ProductionIntegrand(field, sde, "bandwidth", _check_probes(num_probes))
    return montecarlo.rate_curve(integrand, sde, x, y, s_grid, key=key, samples_per_point=samples_per_point)
