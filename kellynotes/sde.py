r"""The variance-preserving (VP) forward process.

$$d\tilde{\mathbf X}_s = -\tfrac12\beta(s)\,\tilde{\mathbf X}_s\,ds + \sqrt{\beta(s)}\,d\mathbf B_s,
\qquad \beta(s) = \beta_{\min} + s(\beta_{\max} - \beta_{\min}),\quad s\in[0, T].$$

In the paper's notation (Eq. 2) the drift is $b_+ = -\tfrac12\beta\mathbf x$ and
$\sigma(s)^2 = \beta(s)$. The perturbation kernel is
$p(\tilde{\mathbf x}_s\mid\mathbf x_0) = \mathcal N(\sqrt{\alpha(s)}\,\mathbf x_0, (1-\alpha(s))I)$ with
$\log\alpha(s) = -\int_0^s\beta = -\beta_{\min}s - \tfrac12(\beta_{\max}-\beta_{\min})s^2$,
and the equilibrium (quasi-invariant) state is $p_{\rm eq} = \mathcal N(0, I)$, whose
score is $-\mathbf x$. The log signal-to-noise ratio is
$\lambda(s) = \log\alpha - \log(1-\alpha)$, decreasing in $s$, with
$d\lambda/ds = -\beta/(1-\alpha)$.

$1-\alpha$ is computed as ``-expm1(log_alpha)``: near $s=0$, ``1 - exp(log_alpha)``
loses precision (at $s=10^{-6}$ in float32 it gives 1.19e-7 instead of 1.00e-7,
a 19% error).

Each formula is written once, over an array namespace: :class:`VPSDE`'s methods evaluate it in JAX
(float32 by default, differentiable, jit-able), and ``sde.float64`` (a :class:`Float64Schedule`)
evaluates the same formula in NumPy float64 for the exact laws (:mod:`kellynotes.gaussian`,
:mod:`kellynotes.mixture`, :mod:`kellynotes.spectrum`, :mod:`kellynotes.tower`).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

__all__ = ["VPSDE", "Float64Schedule", "as_vpsde"]


# --------------------------------------------------------------------------- #
# The formulas, once, over an array namespace ``xp`` (jax.numpy or numpy)
# --------------------------------------------------------------------------- #


def _beta(xp, sde, s):
    return sde.beta_min + s * (sde.beta_max - sde.beta_min)


def _log_alpha(xp, sde, s):
    return -sde.beta_min * s - 0.5 * (sde.beta_max - sde.beta_min) * s**2


def _log_snr(xp, sde, s):
    log_alpha = _log_alpha(xp, sde, s)
    return log_alpha - xp.log(-xp.expm1(log_alpha))


def _s_from_log_snr(xp, sde, log_snr):
    c = xp.logaddexp(0.0, -log_snr)  # softplus(-λ) = -log α
    a = 0.5 * (sde.beta_max - sde.beta_min)
    return 2.0 * c / (sde.beta_min + xp.sqrt(sde.beta_min**2 + 4.0 * a * c))


@dataclass(frozen=True)
class VPSDE:
    """VP process with a linear β schedule on ``[0, T]`` (defaults: β from 0.1 to 20, T = 1)."""

    beta_min: float = 0.1
    beta_max: float = 20.0
    T: float = 1.0

    def __post_init__(self):
        if not (self.beta_min > 0 and self.beta_max >= self.beta_min):
            raise ValueError(f"need 0 < beta_min <= beta_max, got beta_min={self.beta_min}, beta_max={self.beta_max}")
        if not self.T > 0:
            raise ValueError(f"T must be positive, got {self.T}")

    @property
    def float64(self) -> "Float64Schedule":
        """The same schedule in NumPy float64 (:class:`Float64Schedule`)."""
        return Float64Schedule(self)

    # -- schedule -------------------------------------------------------------

    def beta(self, s: ArrayLike) -> Array:
        r"""$\beta(s) = \sigma(s)^2$."""
        return _beta(jnp, self, jnp.asarray(s))

    def log_alpha(self, s: ArrayLike) -> Array:
        r"""$\log\alpha(s) = -\int_0^s\beta(u)\,du$."""
        return _log_alpha(jnp, self, jnp.asarray(s))

    def alpha(self, s: ArrayLike) -> Array:
        r"""$\alpha(s)$: the kernel mean is $\sqrt{\alpha}\,\mathbf x_0$."""
        return jnp.exp(self.log_alpha(s))

    def variance(self, s: ArrayLike) -> Array:
        r"""$1 - \alpha(s)$, the kernel variance, computed stably with ``expm1``."""
        return -jnp.expm1(self.log_alpha(s))

    def mean_coefficient(self, s: ArrayLike) -> Array:
        r"""$\sqrt{\alpha(s)}$."""
        return jnp.exp(0.5 * self.log_alpha(s))

    def std(self, s: ArrayLike) -> Array:
        r"""$\sqrt{1-\alpha(s)}$."""
        return jnp.sqrt(self.variance(s))

    # -- log-SNR --------------------------------------------------------------

    def log_snr(self, s: ArrayLike) -> Array:
        r"""$\lambda(s) = \log\frac{\alpha}{1-\alpha} = \log\alpha - \log(-\mathrm{expm1}(\log\alpha))$."""
        return _log_snr(jnp, self, jnp.asarray(s))

    def s_from_log_snr(self, log_snr: ArrayLike) -> Array:
        r"""Inverse of :meth:`log_snr`: solve $\tfrac12(\beta_{\max}-\beta_{\min})s^2 + \beta_{\min}s = c$
        with $c = -\log\alpha = \mathrm{softplus}(-\lambda)$, taking the positive root in a
        cancellation-free form."""
        return _s_from_log_snr(jnp, self, jnp.asarray(log_snr))

    def dlog_snr_ds(self, s: ArrayLike) -> Array:
        r"""$d\lambda/ds = -\beta(s)/(1-\alpha(s))$."""
        return -self.beta(s) / self.variance(s)

    # -- sampling -------------------------------------------------------------

    def perturb(self, key: PRNGKeyArray, x0: Float[Array, "*batch D"], s: Float[Array, "*batch"]):
        r"""Draw $\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x_0 + \sqrt{1-\alpha}\,\mathbf z$,
        $\mathbf z\sim\mathcal N(0,I)$.

        Returns ``(x_s, z)``.
        """
        z = jax.random.normal(key, jnp.shape(x0), dtype=jnp.result_type(x0, jnp.float32))
        s = jnp.asarray(s)[..., None]
        return self.mean_coefficient(s) * x0 + self.std(s) * z, z

    def sample_path(self, key: PRNGKeyArray, x0: Float[Array, "N D"], s_grid: Float[Array, " K"]):
        r"""Forward paths sampled exactly at the increasing times ``s_grid`` (first entry ≥ 0).

        The VP process is Ornstein–Uhlenbeck, so between $s_1 < s_2$ the transition is
        exact: $\tilde{\mathbf x}_{s_2} = \sqrt{a}\,\tilde{\mathbf x}_{s_1} + \sqrt{1-a}\,\mathbf z$ with
        $a = \alpha(s_2)/\alpha(s_1)$. Returns an array of shape (K, N, D), starting from
        the exact marginal at ``s_grid[0]``.
        """
        s_grid = jnp.asarray(s_grid)
        key_first, key_rest = jax.random.split(key)
        first, _ = self.perturb(key_first, x0, jnp.full(x0.shape[:-1], s_grid[0]))

        def step(x, inputs):
            key, s_from, s_to = inputs
            log_a = self.log_alpha(s_to) - self.log_alpha(s_from)
            x = jnp.exp(0.5 * log_a) * x + jnp.sqrt(-jnp.expm1(log_a)) * jax.random.normal(key, x.shape)
            return x, x

        keys = jax.random.split(key_rest, s_grid.shape[0] - 1)
        _, rest = jax.lax.scan(step, first, (keys, s_grid[:-1], s_grid[1:]))
        return jnp.concatenate([first[None], rest])

    @staticmethod
    def equilibrium_score(x: Float[Array, "*batch D"]) -> Float[Array, "*batch D"]:
        r"""$\nabla\log p_{\rm eq}(\mathbf x) = -\mathbf x$ for $p_{\rm eq} = \mathcal N(0, I)$."""
        return -x

    def sample_time_uniform_log_snr(self, key: PRNGKeyArray, shape, s_min: float, s_max: float | None = None):
        r"""Draw $s$ with $\lambda(s)$ uniform on $[\lambda(s_{\max}), \lambda(s_{\min})]$.

        Returns ``(s, weight)`` with ``weight`` $= |ds/d\lambda|\,(\lambda(s_{\min}) - \lambda(s_{\max}))$,
        so that $\int_{s_{\min}}^{s_{\max}} f(s)\,ds = \mathbb E[\text{weight}\cdot f(s)]$ (importance
        sampling). For the VP process the weight is $(1-\alpha)\,\Delta\lambda/\beta$.
        """
        s_max = self.T if s_max is None else s_max
        if not (0.0 < s_min < s_max <= self.T):
            raise ValueError(f"need 0 < s_min < s_max <= T={self.T}, got s_min={s_min}, s_max={s_max}")
        high, low = self.log_snr(s_min), self.log_snr(s_max)
        u = jax.random.uniform(key, shape)
        s = self.s_from_log_snr(low + u * (high - low))
        weight = (high - low) / (-self.dlog_snr_ds(s))
        return s, weight


@dataclass(frozen=True)
class Float64Schedule:
    """The schedule of ``sde`` in NumPy float64: the formulas of :class:`VPSDE`, for the exact laws.

    ``times`` checks and converts user-supplied times; the other methods take float64 arrays.
    """

    sde: VPSDE

    def times(self, s, name: str = "s") -> np.ndarray:
        """``s`` as a float64 array, checked to be finite and in $[0, T]$ (a ``ValueError`` naming ``name``)."""
        try:
            s = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be numeric, got {s!r}") from error
        if not np.all(np.isfinite(s)):
            raise ValueError(f"{name} contains NaN or infinite values")
        if np.any(s < 0) or np.any(s > self.sde.T):
            raise ValueError(f"{name} must lie in [0, T={self.sde.T}], got values in [{s.min()}, {s.max()}]")
        return s

    def beta(self, s: np.ndarray) -> np.ndarray:
        r"""$\beta(s)$."""
        return _beta(np, self.sde, s)

    def log_alpha(self, s: np.ndarray) -> np.ndarray:
        r"""$\log\alpha(s)$."""
        return _log_alpha(np, self.sde, s)

    def log_snr(self, s: np.ndarray) -> np.ndarray:
        r"""$\lambda(s) = \log\alpha - \log(1-\alpha)$."""
        return _log_snr(np, self.sde, s)

    def s_from_log_snr(self, log_snr: np.ndarray) -> np.ndarray:
        r"""The inverse of :meth:`log_snr`."""
        return _s_from_log_snr(np, self.sde, log_snr)

    def schedule(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""$(\beta, \alpha, 1-\alpha)$ at ``s``, the last via ``expm1``."""
        log_alpha = self.log_alpha(s)
        return self.beta(s), np.exp(log_alpha), -np.expm1(log_alpha)


def as_vpsde(sde) -> VPSDE:
    """``sde`` itself if it is a VP process (it has ``beta_min``, ``beta_max`` and ``T``), else a ``ValueError``."""
    if not all(hasattr(sde, name) for name in ("beta_min", "beta_max", "T")):
        raise ValueError(f"sde must be a VPSDE, got {sde!r}")
    return sde
