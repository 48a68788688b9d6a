r"""The autoencoder tower (App. C, Eqs. 40-46; Figs. 18-19): $-\log p_d(\mathbf x)$ from denoising at every noise level.

Each forward time $s$ is an autoencoder: encode
$\mathbf x\mapsto\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x + \sqrt{1-\alpha}\,\mathbf z$,
decode with the exact denoiser
$\hat{\mathbf x}(\tilde{\mathbf x}_s) = \mathbb E[\mathbf X_0\mid\tilde{\mathbf x}_s]$ (Tweedie /
Miyasawa, Eq. 40; :func:`kellynotes.mixture.posterior_mean`). The tower's reconstruction integral for one
point is (Eq. 45)

$$R(\mathbf x; s_{\min}) = \int_{s_{\min}}^T
ds\,B(s)\,\mathbb E_{\tilde{\mathbf x}_s\mid\mathbf x}\|\hat{\mathbf x}(\tilde{\mathbf x}_s) - \mathbf x\|^2,
\qquad B(s) = \frac{\sigma^2}{2}\frac{\mu^2}{\Sigma^2} =
\frac{\beta\,\alpha}{2(1-\alpha)^2} = -\frac12\frac{d\,\mathrm{SNR}}{ds}$$

(Eq. 42 with $\sigma^2 = \beta$, $\mu = \sqrt\alpha$, $\Sigma = 1-\alpha$,
$\mathrm{SNR} = \alpha/(1-\alpha) = e^{\lambda}$). In
log-SNR, $B\,ds = \tfrac12\mathrm{SNR}\,|d\lambda|$, so
$R = \int\tfrac12\,\mathbb E\|\sqrt{\mathrm{SNR}}(\hat{\mathbf x} - \mathbf x)\|^2\,d\lambda$,
whose integrand tends to $D/2$ per unit $\lambda$ as $s\to0$: $R$ grows like $\tfrac D2\log(1/s_{\min})$.

**The exact identity at any cut.** Let
$F_s(\mathbf x) = \mathbb E_{\tilde{\mathbf x}_s\mid\mathbf x}\log p_s(\tilde{\mathbf x}_s)$ (the
log-density smoothed by the kernel; $F_0 = \log p_d$). With the Fokker-Planck equation for both $p_s$ and the
kernel $q_s(\cdot\mid\mathbf x)$ and two integrations by parts,

$$\frac{dF_s}{ds} = -\nabla\cdot b_+ + \frac{\beta}{2}\,\mathbb E_q\big[\|\nabla\log p_s -
\nabla\log q_s\|^2 - \|\nabla\log q_s\|^2\big]
= B(s)\,\mathbb E_q\|\hat{\mathbf x} - \mathbf x\|^2 - \frac D2\frac{\beta\alpha}{1-\alpha},$$

using $\nabla\log p_s - \nabla\log q_s = \sqrt\alpha(\hat{\mathbf x} - \mathbf x)/(1-\alpha)$
(Eqs. 39-40), $\nabla\cdot b_+ = -\beta D/2$ and
$\mathbb E_q\|\nabla\log q_s\|^2 = D/(1-\alpha)$. Since
$\frac{d}{ds}\log(1-\alpha) = \beta\alpha/(1-\alpha)$, integrating gives, exactly,

$$R(\mathbf x; s_{\min}) = F_T(\mathbf x) - F_{s_{\min}}(\mathbf x) +
\frac D2\log\frac{1-\alpha(T)}{1-\alpha(s_{\min})}. \tag{T1}$$

Hence $R(\mathbf x) = -\log p_d(\mathbf x) + c'(\mathbf x; s_{\min})$ (Eq. 45) with

$$c'(\mathbf x; s_{\min}) =
\underbrace{\frac D2\log\frac{1-\alpha(T)}{1-\alpha(s_{\min})}}_{\text{diverges as }s_{\min}\to0}
+ \underbrace{F_T(\mathbf x)}_{\text{prior term}} +
\underbrace{\log p_d(\mathbf x) - F_{s_{\min}}(\mathbf x)}_{\text{cut term}} ,$$

the prior term being $-\tfrac D2\log(2\pi e) + O(\alpha(T))$ (since $p_T\approx\mathcal N(0,I)$) and the cut term
$-u\,\kappa(\mathbf x) + O(u^2)$ with
$u = \int_0^{s_{\min}}\beta = -\log\alpha(s_{\min})\approx\beta_{\min}s_{\min}$ and
$\kappa = \tfrac D2 + \Delta\log p_d + \tfrac12\|\nabla\log p_d\|^2$ (the same Fokker-Planck computation gives
$dF_s/ds = \beta[\tfrac D2 + \mathbb E_q\Delta\log p_s + \tfrac12\mathbb E_q\|\nabla\log p_s\|^2]$, evaluated at $s=0$).
So $c'(\mathbf x; s_{\min})\approx\tfrac D2\big[\log\frac{1-\alpha(T)}{1-\alpha(s_{\min})} - \log(2\pi e)\big]$
(:func:`asymptotic_cut_constant`), the same for every $\mathbf x$, and differences of tower integrals give
differences of log-densities:
$R(\mathbf x_a) - R(\mathbf x_b) = \log p_d(\mathbf x_b) - \log p_d(\mathbf x_a) + [\text{cut}_a -
\text{cut}_b] + [F_T(\mathbf x_a) - F_T(\mathbf x_b)]$
(:func:`tower_identity`).

Exact values ($F_s$ by Gauss-Hermite quadrature of the exact $\log p_s$, float64) and Monte Carlo estimates
(float32 JAX, :class:`~kellynotes.montecarlo.Estimate`) are both here, in **nats**. The Monte Carlo uses
$\hat{\mathbf x} - \mathbf x$ in the cancellation-free form
$\sqrt{\mathrm{SNR}}(\hat{\mathbf x} - \mathbf x) = \sqrt\alpha\sum_k r_k[\sqrt{1-\alpha}(\mathbf m_k - \mathbf x) +
\sqrt\alpha\,\mathbf v_k\mathbf z]/\mathbf c_k$
(from $\hat{\mathbf x}$ of :mod:`kellynotes.mixture` with
$\tilde{\mathbf x}_s = \sqrt\alpha\mathbf x + \sqrt{1-\alpha}\mathbf z$), which stays
accurate at $s_{\min}\sim10^{-5}$ where $\hat{\mathbf x} - \mathbf x$ is $10^3$ times smaller than $\mathbf x$.
"""

from dataclasses import dataclass
from itertools import product

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from .mixture import GaussianMixture, component_posterior, diffused_components, log_prob_float64, posterior_mean
from .montecarlo import Estimate, RateCurve
from .sde import VPSDE, as_vpsde

__all__ = [
    "TowerDifference",
    "asymptotic_cut_constant",
    "cut_constant",
    "denoised_means",
    "forward_and_denoised",
    "exact_reconstruction_integral",
    "reconstruction_integral",
    "reconstruction_integrand",
    "reconstruction_weight",
    "smoothed_log_density",
    "tower_identity",
    "tower_log_density_difference",
]

# Tensor-product Gauss-Hermite rules are limited to this many points (nodes ** D).
MAX_QUADRATURE_POINTS = 2_000_000


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _point(mixture: GaussianMixture, x, name: str) -> np.ndarray:
    x = check.as_float_array(x, name, ndim=1)
    if x.shape[0] != mixture.dimension:
        raise ValueError(f"{name} must have shape (D={mixture.dimension},), got {x.shape}")
    return x


def _cut(sde: VPSDE, s_min) -> float:
    s_min = check.number(s_min, "s_min")
    if not 0.0 < s_min < sde.T:
        raise ValueError(f"s_min must lie in (0, T={sde.T}), got {s_min}")
    return s_min


def _count(value, name: str, minimum: int = 2) -> int:
    value = check.positive_int(value, name)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _grid(sde: VPSDE, s_grid) -> np.ndarray:
    s_grid = check.as_float_array(s_grid, "s_grid", ndim=1)
    if np.any(s_grid <= 0) or np.any(s_grid > sde.T):
        raise ValueError(f"s_grid must lie in (0, T={sde.T}], got values in [{s_grid.min()}, {s_grid.max()}]")
    return s_grid


# --------------------------------------------------------------------------- #
# The weight and the per-level reconstruction error (JAX)
# --------------------------------------------------------------------------- #


def reconstruction_weight(sde: VPSDE, s: Float[Array, "*S"]) -> Float[Array, "*S"]:
    r"""$B(s) = \frac{\beta\,\alpha}{2(1-\alpha)^2} = -\frac12\frac{d\,\mathrm{SNR}}{ds}$
    (Eq. 42 for the VP process), per unit $s$."""
    s = jnp.asarray(s)
    return 0.5 * sde.beta(s) * sde.alpha(s) / sde.variance(s) ** 2


def _scaled_error(mixture: GaussianMixture, sde: VPSDE, x0, s, z):
    r"""$\sqrt{\mathrm{SNR}}\,(\hat{\mathbf x}(\tilde{\mathbf x}_s) - \mathbf x_0)$ for
    $\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x_0 + \sqrt{1-\alpha}\,\mathbf z$,
    cancellation-free:
    $\sqrt\alpha\sum_k r_k[\sqrt{1-\alpha}(\mathbf m_k - \mathbf x_0) + \sqrt\alpha\,\mathbf v_k\mathbf z]/\mathbf c_k$.
    ``x0`` (D,), ``s`` (N,), ``z`` (N, D)."""
    d = diffused_components(mixture, sde, s, z.dtype)
    sigma = jnp.sqrt(d.one_minus_alpha)[..., 0]  # (N, 1)
    sqrt_alpha = d.sqrt_alpha[..., 0]
    x_s = sqrt_alpha * x0 + sigma * z
    r = component_posterior(d, x_s)  # (N, K)
    means = jnp.asarray(mixture.means, z.dtype)
    inner = (sigma[..., None] * (means - x0) + d.sqrt_alpha * d.prior_variances * z[..., None, :]) / d.variances
    return sqrt_alpha * jnp.sum(r[..., None] * inner, axis=-2)


@eqx.filter_jit
def _weighted_errors(mixture, sde, x0, s, z):
    r"""$B(s)\,\|\hat{\mathbf x} - \mathbf x_0\|^2 = \frac{\beta}{2(1-\alpha)}\|\sqrt{\mathrm{SNR}}(\hat{\mathbf x} -
    \mathbf x_0)\|^2$ per draw (nats per unit $s$)."""
    scaled = _scaled_error(mixture, sde, x0, s, z)
    return 0.5 * sde.beta(s) / sde.variance(s) * jnp.sum(scaled**2, axis=-1)


@eqx.filter_jit
def _integral_draws(mixture, sde, x0, key, lam_low, lam_high, batch_size: int):
    r"""Per-draw values $\tfrac12\Delta\lambda\,\|\sqrt{\mathrm{SNR}}(\hat{\mathbf x} - \mathbf x_0)\|^2$,
    $\lambda\sim\mathcal U[\lambda(T), \lambda(s_{\min})]$,
    for every row of ``x0`` (P, D), with common $(\lambda, \mathbf z)$ across rows: shape (P, batch)."""
    key_lam, key_z = jax.random.split(key)
    dtype = jnp.float32
    lam = lam_low + jax.random.uniform(key_lam, (batch_size,), dtype) * (lam_high - lam_low)
    s = sde.s_from_log_snr(lam)
    z = jax.random.normal(key_z, (batch_size, mixture.means.shape[1]), dtype)
    scaled = jax.vmap(lambda x: _scaled_error(mixture, sde, x, s, z))(x0)
    return 0.5 * (lam_high - lam_low) * jnp.sum(scaled**2, axis=-1)


def _log_snr_bounds(sde: VPSDE, s_min: float) -> tuple[Array, Array]:
    return jnp.float32(sde.log_snr(sde.T)), jnp.float32(sde.log_snr(s_min))


def _integral_samples(mixture, sde, x0s, *, s_min, key, num_samples, batch_size) -> np.ndarray:
    """Monte Carlo draws of the tower integrand for each point in ``x0s`` (P, D), shape (P, num_samples)."""
    batch_size = min(batch_size, num_samples)
    lam_low, lam_high = _log_snr_bounds(sde, s_min)
    x0s = jnp.asarray(x0s, jnp.float32)
    draws = [
        np.asarray(_integral_draws(mixture, sde, x0s, batch_key, lam_low, lam_high, batch_size), np.float64)
        for batch_key in jax.random.split(key, -(-num_samples // batch_size))
    ]
    return np.concatenate(draws, axis=1)[:, :num_samples]


# --------------------------------------------------------------------------- #
# Monte Carlo over the tower
# --------------------------------------------------------------------------- #


def forward_and_denoised(
    mixture: GaussianMixture,
    sde: VPSDE,
    x0: Float[Array, " D"],
    s_grid: Float[np.ndarray, " S"],
    *,
    key: PRNGKeyArray,
    num_draws: int,
) -> tuple[Float[Array, "S num_draws D"], Float[Array, "S num_draws D"]]:
    r"""Encoder and decoder of each level:
    $\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x_0 + \sqrt{1-\alpha}\,\mathbf z$ and
    $\hat{\mathbf x}(\tilde{\mathbf x}_s)$ (Eq. 40) at each $s$ of ``s_grid``, ``num_draws`` draws per level.

    The same $\mathbf z$ is used at every level (one forward "ray" per draw), so the levels are
    coupled the way a single forward path at fixed noise direction would be.
    """
    x0 = _point(mixture, x0, "x0")
    s_grid = _grid(as_vpsde(sde), s_grid)
    num_draws = _count(num_draws, "num_draws", 1)
    z = jax.random.normal(key, (num_draws, mixture.dimension), jnp.float32)
    return _denoise_rays(mixture, sde, jnp.asarray(x0, jnp.float32), jnp.asarray(s_grid, jnp.float32), z)


def denoised_means(
    mixture: GaussianMixture,
    sde: VPSDE,
    x0: Float[Array, " D"],
    s_grid: Float[np.ndarray, " S"],
    *,
    key: PRNGKeyArray,
    num_draws: int,
) -> Float[Array, "S num_draws D"]:
    r"""Samples of the decoder output $\hat{\mathbf x}(\tilde{\mathbf x}_s)$,
    $\tilde{\mathbf x}_s\sim p(\tilde{\mathbf x}_s\mid\mathbf x_0)$, at each $s$ of ``s_grid``.

    Their spread is the set of data-space candidates the autoencoder at level $s$ confuses with
    $\mathbf x_0$ (Figs. 18-19): about $\mathbf x_0$ itself as $s\to0$ (spread $\approx\sqrt{1-\alpha}$), about the
    mixture mean as $s\to T$ (where
    $\hat{\mathbf x}\approx\mathbb E\mathbf X + \sqrt\alpha\,\mathrm{Cov}(\mathbf X)\tilde{\mathbf x}_s$).
    See :func:`forward_and_denoised` for the noisy inputs as well.
    """
    return forward_and_denoised(mixture, sde, x0, s_grid, key=key, num_draws=num_draws)[1]


@eqx.filter_jit
def _denoise_rays(mixture, sde, x0, s_grid, z):
    def level(s):
        x_s = sde.mean_coefficient(s) * x0 + sde.std(s) * z
        return x_s, posterior_mean(mixture, sde, x_s, s)

    return jax.lax.map(level, s_grid)


def reconstruction_integrand(
    mixture: GaussianMixture,
    sde: VPSDE,
    x0: Float[Array, " D"],
    s_grid: Float[np.ndarray, " S"],
    *,
    key: PRNGKeyArray,
    num_draws: int,
) -> RateCurve:
    r"""The tower integrand
    $B(s)\,\mathbb E_{\tilde{\mathbf x}_s\mid\mathbf x_0}\|\hat{\mathbf x}(\tilde{\mathbf x}_s) - \mathbf x_0\|^2$
    (Eq. 45) on ``s_grid``,
    in nats per unit $s$, with Monte Carlo standard errors (``num_draws`` draws of $\tilde{\mathbf x}_s$ per level).

    Multiply by $(1-\alpha)/\beta = |ds/d\lambda|$ for the rate per unit log-SNR, which tends to $D/2$ as $s\to0$.
    """
    x0 = _point(mixture, x0, "x0")
    s_grid = _grid(as_vpsde(sde), s_grid)
    num_draws = _count(num_draws, "num_draws")
    rates, errors = [], []
    x0 = jnp.asarray(x0, jnp.float32)
    for level_key, s in zip(jax.random.split(key, s_grid.size), s_grid):
        z = jax.random.normal(level_key, (num_draws, mixture.dimension), jnp.float32)
        v = np.asarray(_weighted_errors(mixture, sde, x0, jnp.full(num_draws, s, jnp.float32), z), np.float64)
        rates.append(v.mean())
        errors.append(v.std(ddof=1) / np.sqrt(v.size))
    return RateCurve(s_grid, np.array(rates), np.array(errors))


def reconstruction_integral(
    mixture: GaussianMixture,
    sde: VPSDE,
    x0: Float[Array, " D"],
    *,
    s_min: float,
    key: PRNGKeyArray,
    num_samples: int,
    batch_size: int = 65_536,
) -> Estimate:
    r"""$R(\mathbf x_0; s_{\min}) = \int_{s_{\min}}^T ds\,B(s)\,\mathbb E\|\hat{\mathbf x}(\tilde{\mathbf x}_s) -
    \mathbf x_0\|^2$ (Eq. 45), nats.

    Monte Carlo with $\lambda$ uniform on $[\lambda(T), \lambda(s_{\min})]$ and one $\tilde{\mathbf x}_s$ per draw:
    $R = \mathbb E\big[\tfrac12\Delta\lambda\,\|\sqrt{\mathrm{SNR}}(\hat{\mathbf x} - \mathbf x_0)\|^2\big]$,
    unbiased; each draw is bounded
    by a constant times $\Delta\lambda(\|\mathbf z\|^2 + \|\mathbf x_0\|^2 + 1)$, so the variance is finite. Equals
    :func:`exact_reconstruction_integral` in expectation, at any ``s_min``.
    """
    x0 = _point(mixture, x0, "x0")
    s_min = _cut(as_vpsde(sde), s_min)
    num_samples = _count(num_samples, "num_samples")
    values = _integral_samples(mixture, sde, x0[None], s_min=s_min, key=key, num_samples=num_samples,
                               batch_size=check.positive_int(batch_size, "batch_size"))
    return Estimate.of_samples(values[0])


def tower_log_density_difference(
    mixture: GaussianMixture,
    sde: VPSDE,
    x_a: Float[Array, " D"],
    x_b: Float[Array, " D"],
    *,
    s_min: float,
    key: PRNGKeyArray,
    num_samples: int,
    batch_size: int = 65_536,
) -> Estimate:
    r"""$R(\mathbf x_a; s_{\min}) - R(\mathbf x_b; s_{\min})$ by Monte Carlo, nats, with common random numbers
    (the same $\lambda$ and $\mathbf z$ for both points, so the shared
    $\tfrac D2\log(1/s_{\min})$ growth cancels draw by draw).

    By the exact identity (T1) its expectation is :func:`tower_identity` ``(...).total``
    $= \log p_d(\mathbf x_b) - \log p_d(\mathbf x_a)$ + a cut term
    $O(\beta_{\min}s_{\min})$ + a prior term $O(\alpha(T))$.
    """
    x_a, x_b = _point(mixture, x_a, "x_a"), _point(mixture, x_b, "x_b")
    s_min = _cut(as_vpsde(sde), s_min)
    num_samples = _count(num_samples, "num_samples")
    values = _integral_samples(mixture, sde, np.stack([x_a, x_b]), s_min=s_min, key=key, num_samples=num_samples,
                               batch_size=check.positive_int(batch_size, "batch_size"))
    return Estimate.of_samples(values[0] - values[1])


# --------------------------------------------------------------------------- #
# Exact values (float64)
# --------------------------------------------------------------------------- #


def _hermite_rule(dimension: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Hermite rule for E[f(z)], z ~ N(0, I_D): points (nodes^D, D), weights summing to 1."""
    if nodes**dimension > MAX_QUADRATURE_POINTS:
        raise ValueError(
            f"a {nodes}-node Gauss-Hermite rule in D={dimension} needs {nodes}**{dimension} points "
            f"(limit {MAX_QUADRATURE_POINTS}); use fewer nodes, or Monte Carlo in high dimension"
        )
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / np.sqrt(2 * np.pi)
    grid = np.array(list(product(range(nodes), repeat=dimension)))
    return t[grid], np.prod(w[grid], axis=1)


def smoothed_log_density(
    mixture: GaussianMixture, sde: VPSDE, x0: Float[np.ndarray, " D"], s, *, nodes: int = 64
) -> Float[np.ndarray, "*S"]:
    r"""$F_s(\mathbf x_0) = \mathbb E_{\tilde{\mathbf x}_s\mid\mathbf x_0}\log p_s(\tilde{\mathbf x}_s)$ in nats,
    float64, for each $s$ in ``s`` (in $[0, T]$).

    Gauss-Hermite quadrature over $\mathbf z$ in
    $\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x_0 + \sqrt{1-\alpha}\,\mathbf z$ of the exact
    $\log p_s$ (a log-sum-exp of quadratics: smooth, quadratic growth, so the rule converges fast;
    ``nodes`` per axis, ``nodes ** D`` points). $F_0 = \log p_d(\mathbf x_0)$.
    """
    x0 = _point(mixture, x0, "x0")
    sde = as_vpsde(sde)
    s = sde.float64.times(s)
    nodes = check.positive_int(nodes, "nodes")
    z, w = _hermite_rule(mixture.dimension, nodes)
    values = []
    for level in s.reshape(-1):
        diffused = mixture.diffuse(sde, float(level))
        _, alpha, one_minus_alpha = sde.float64.schedule(level)
        x_s = np.sqrt(alpha) * x0 + np.sqrt(one_minus_alpha) * z
        values.append(w @ log_prob_float64(diffused, x_s))
    return np.array(values).reshape(s.shape)[()]


def _log_variance_ratio(sde: VPSDE, s_min) -> np.ndarray:
    """log((1 - alpha(T)) / (1 - alpha(s_min))), float64."""
    _, _, var_t = sde.float64.schedule(np.float64(sde.T))
    _, _, var_min = sde.float64.schedule(np.asarray(s_min, np.float64))
    return np.log(var_t) - np.log(var_min)


def _cuts(sde: VPSDE, s_min) -> np.ndarray:
    s_min = sde.float64.times(s_min, "s_min")
    if np.any(s_min <= 0) or np.any(s_min >= sde.T):
        raise ValueError(f"s_min must lie in (0, T={sde.T}), got {s_min}")
    return s_min


def exact_reconstruction_integral(
    mixture: GaussianMixture, sde: VPSDE, x0: Float[np.ndarray, " D"], *, s_min, nodes: int = 64
) -> Float[np.ndarray, "*S"]:
    r"""$R(\mathbf x_0; s_{\min})$ exactly (identity T1 in the module docstring), nats, float64:
    $F_T(\mathbf x_0) - F_{s_{\min}}(\mathbf x_0) + \tfrac D2\log\frac{1-\alpha(T)}{1-\alpha(s_{\min})}$.
    ``s_min`` may be an array."""
    sde = as_vpsde(sde)
    s_min = _cuts(sde, s_min)
    f_t = smoothed_log_density(mixture, sde, x0, sde.T, nodes=nodes)
    f_min = smoothed_log_density(mixture, sde, x0, s_min, nodes=nodes)
    return f_t - f_min + 0.5 * mixture.dimension * _log_variance_ratio(sde, s_min)


def cut_constant(
    mixture: GaussianMixture, sde: VPSDE, x0: Float[np.ndarray, " D"], *, s_min, nodes: int = 64
) -> Float[np.ndarray, "*S"]:
    r"""$c'(\mathbf x_0; s_{\min}) = R(\mathbf x_0; s_{\min}) + \log p_d(\mathbf x_0)$
    (Eq. 45), exact, nats. ``s_min`` may be an array.

    Tends to :func:`asymptotic_cut_constant` (independent of $\mathbf x_0$) with an error
    $O(\beta_{\min}s_{\min}) + O(\alpha(T))$,
    and grows like $\tfrac D2\log(1/s_{\min})$.
    """
    x0 = _point(mixture, x0, "x0")
    log_p = float(log_prob_float64(mixture, x0))
    return exact_reconstruction_integral(mixture, sde, x0, s_min=s_min, nodes=nodes) + log_p


def asymptotic_cut_constant(sde: VPSDE, dimension: int, s_min) -> Float[np.ndarray, "*S"]:
    r"""$\tfrac D2\big[\log\frac{1-\alpha(T)}{1-\alpha(s_{\min})} - \log(2\pi e)\big]$,
    nats: the $\mathbf x$-independent part of
    $c'(\mathbf x; s_{\min})$, i.e. (T1) with $F_T\to\log$ of the standard normal averaged
    over itself and $F_{s_{\min}}\to\log p_d$.
    For small $s_{\min}$ it is $\approx\tfrac D2[\log\frac{1}{\beta_{\min}s_{\min}} - \log(2\pi e)]$."""
    sde = as_vpsde(sde)
    dimension = check.positive_int(dimension, "dimension")
    s_min = _cuts(sde, s_min)
    return 0.5 * dimension * (_log_variance_ratio(sde, s_min) - np.log(2 * np.pi * np.e))


@dataclass(frozen=True)
class TowerDifference:
    r"""The exact value of $R(\mathbf x_a; s_{\min}) - R(\mathbf x_b; s_{\min})$, in nats, split into its parts:

    * ``log_density_difference`` $= \log p_d(\mathbf x_b) - \log p_d(\mathbf x_a)$,
      the $s_{\min}\to0$, $\alpha(T)\to0$ limit;
    * ``cut_correction`` $= [\log p_d - F_{s_{\min}}](\mathbf x_a) - [\log p_d - F_{s_{\min}}](\mathbf x_b)$,
      $O(\beta_{\min}s_{\min})$;
    * ``prior_correction`` $= F_T(\mathbf x_a) - F_T(\mathbf x_b)$, $O(\alpha(T))$ (zero
      if $p_T$ were exactly $\mathcal N(0, I)$).
    """

    log_density_difference: float
    cut_correction: float
    prior_correction: float

    @property
    def total(self) -> float:
        return self.log_density_difference + self.cut_correction + self.prior_correction


def tower_identity(
    mixture: GaussianMixture,
    sde: VPSDE,
    x_a: Float[np.ndarray, " D"],
    x_b: Float[np.ndarray, " D"],
    *,
    s_min: float,
    nodes: int = 64,
) -> TowerDifference:
    r"""The exact finite-cut identity for a pair of points (T1 applied to both; the divergent
    $\tfrac D2\log\frac{1-\alpha(T)}{1-\alpha(s_{\min})}$ cancels).
    :func:`tower_log_density_difference` estimates ``.total``."""
    sde = as_vpsde(sde)
    s_min = _cut(sde, s_min)
    x_a, x_b = _point(mixture, x_a, "x_a"), _point(mixture, x_b, "x_b")
    log_p = [float(log_prob_float64(mixture, x)) for x in (x_a, x_b)]
    f_min = [float(smoothed_log_density(mixture, sde, x, s_min, nodes=nodes)) for x in (x_a, x_b)]
    f_t = [float(smoothed_log_density(mixture, sde, x, sde.T, nodes=nodes)) for x in (x_a, x_b)]
    return TowerDifference(
        log_density_difference=log_p[1] - log_p[0],
        cut_correction=(log_p[0] - f_min[0]) - (log_p[1] - f_min[1]),
        prior_correction=f_t[0] - f_t[1],
    )
