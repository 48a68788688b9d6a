r"""A joint Gaussian whose entropies and mutual information are known exactly.

The model of Sec. 6 and App. E.1 of *Diffusion Models are Kelly Gamblers*:

$$\mathbf X\sim\mathcal N(0,\Sigma_X),\qquad \mathbf Y = A\mathbf X + \boldsymbol\varepsilon,\qquad
\boldsymbol\varepsilon\sim\mathcal N(0,\sigma_\varepsilon^2 I),$$

with $A$ of shape $(D_Y, D_X)$. Then $\Sigma_Y = A\Sigma_XA^\top + \sigma_\varepsilon^2 I$,
$\Sigma_{XY} = \mathrm{Cov}(\mathbf X,\mathbf Y) = \Sigma_XA^\top$ (Eq. 54) and
$\mathbf X\mid\mathbf y\sim\mathcal N(K\mathbf y, \Sigma_{X|Y})$ with $K = \Sigma_{XY}\Sigma_Y^{-1}$ and
$\Sigma_{X|Y} = \Sigma_X - \Sigma_{XY}\Sigma_Y^{-1}\Sigma_{XY}^\top$ (Eq. 59).

Under the VP process (see :mod:`kellynotes.sde`) the marginal and the conditional
stay Gaussian (Eqs. 61-62):

$$p_s(\mathbf x) = \mathcal N(0, \Sigma_s),\quad \Sigma_s = \alpha\Sigma_X + (1-\alpha)I;\qquad
p_s(\mathbf x\mid\mathbf y) = \mathcal N(\sqrt\alpha K\mathbf y, C_s),\quad C_s = \alpha\Sigma_{X|Y} + (1-\alpha)I,$$

so the ideal entropy-matching field $\mathbf e^* = \nabla\log p_s + \mathbf x$ (Eq. 9 with
$b_+ = -\beta\mathbf x/2$, $\sigma^2 = \beta$) is linear in $\mathbf x$ and every quantity below has a
closed form. All information quantities are in **nats**; rates are nats per unit of
diffusion time $s$. Exact values are float64 NumPy (the schedule is re-evaluated here
in float64, because JAX computes in float32 by default); the fields used for Monte
Carlo and for feeding estimators are JAX functions.

Numerical care: the eigenvalues of $\Sigma_s$ are $\mu = \alpha\lambda + (1-\alpha)$, and
$\mu - 1 = \alpha(\lambda - 1)$ is formed directly, with $1-\alpha$ from ``expm1``;
$\Sigma_{X|Y}$ and $\Sigma_X - \Sigma_{X|Y}$ are built from the whitened gain
$B = A\Sigma_X^{1/2}$ (no subtraction of nearly equal matrices).
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from .sde import VPSDE, as_vpsde

__all__ = [
    "JointGaussian",
    "conditional_covariance",
    "cumulative_curve",
    "entropy_rate_x",
    "entropy_rate_x_given_y",
    "exact_entropy_field",
    "exact_score",
    "flattened",
    "full_rank",
    "integrate_rate",
    "linear_1d",
    "marginal_divergence",
    "marginal_covariance",
    "mutual_information",
    "mutual_information_rate",
    "total_correlation",
    "total_entropy_x",
    "total_entropy_x_given_y",
]

# A covariance built in float64 (e.g. H @ H.T) is symmetric to a few ulps of its
# largest entry; 1e-10 relative accepts such round-off and rejects a real asymmetry.
SYMMETRY_TOLERANCE = 1e-10


# --------------------------------------------------------------------------- #
# Argument checks
# --------------------------------------------------------------------------- #


def _spd_matrix(value, name: str) -> np.ndarray:
    """A symmetric positive-definite float64 matrix (exactly symmetrised)."""
    m = check.as_float_array(value, name, ndim=2)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {m.shape}")
    scale = max(float(np.max(np.abs(m))), np.finfo(np.float64).tiny)
    asymmetry = float(np.max(np.abs(m - m.T)))
    if asymmetry > SYMMETRY_TOLERANCE * scale:
        raise ValueError(f"{name} must be symmetric, max |{name} - {name}.T| = {asymmetry:.3g}")
    m = 0.5 * (m + m.T)
    smallest = float(np.linalg.eigvalsh(m)[0])
    if not smallest > 0:
        raise ValueError(f"{name} must be positive definite, its smallest eigenvalue is {smallest:.3g}")
    return m


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, eq=False)
class JointGaussian:
    r"""$\mathbf X\sim\mathcal N(0,\Sigma_X)$, $\mathbf Y = A\mathbf X + \boldsymbol\varepsilon$,
    $\boldsymbol\varepsilon\sim\mathcal N(0,\sigma_\varepsilon^2 I)$ (Eq. 53).

    ``cov_x`` is $\Sigma_X$, shape ``(D_X, D_X)``, symmetric positive definite; ``A`` has
    shape ``(D_Y, D_X)`` (the paper writes $D_X\times D_Y$ in App. E.1, but $A\mathbf X$ needs
    $D_Y\times D_X$); ``noise_std`` is $\sigma_\varepsilon > 0$. Arrays are stored as read-only
    float64 copies. Equality is identity (NumPy fields have no scalar ``==``).
    """

    cov_x: np.ndarray
    A: np.ndarray
    noise_std: float

    def __post_init__(self):
        cov_x = _spd_matrix(self.cov_x, "cov_x")
        A = check.as_float_array(self.A, "A", ndim=2)
        if A.shape[1] != cov_x.shape[0]:
            raise ValueError(
                f"A must have shape (D_Y, D_X) with D_X = {cov_x.shape[0]} (the size of cov_x), got shape {A.shape}"
            )
        noise_std = check.positive_number(self.noise_std, "noise_std")
        object.__setattr__(self, "cov_x", check.frozen_float64(cov_x))
        object.__setattr__(self, "A", check.frozen_float64(A))
        object.__setattr__(self, "noise_std", noise_std)

    # -- sizes and second moments (float64) --------------------------------------

    @property
    def dim_x(self) -> int:
        return int(self.cov_x.shape[0])

    @property
    def dim_y(self) -> int:
        return int(self.A.shape[0])

    @cached_property
    def cov_y(self) -> Float[np.ndarray, "D_y D_y"]:
        r"""$\Sigma_Y = A\Sigma_XA^\top + \sigma_\varepsilon^2 I$ (Eq. 54)."""
        cov = self.A @ self.cov_x @ self.A.T
        return check.frozen_float64(0.5 * (cov + cov.T) + self.noise_std**2 * np.eye(self.dim_y))

    @cached_property
    def cov_xy(self) -> Float[np.ndarray, "D_x D_y"]:
        r"""$\Sigma_{XY} = \mathrm{Cov}(\mathbf X, \mathbf Y) = \Sigma_XA^\top$ (Eq. 54)."""
        return check.frozen_float64(self.cov_x @ self.A.T)

    @cached_property
    def gain(self) -> Float[np.ndarray, "D_x D_y"]:
        r"""$K = \Sigma_{XY}\Sigma_Y^{-1}$, so that $\mathbb E[\mathbf X\mid\mathbf y] = K\mathbf y$ (Eq. 59).

        Computed as $K = L(B^\top B + \sigma^2 I)^{-1}B^\top$ with $L = \Sigma_X^{1/2}$, $B = AL$
        (push-through identity), which never inverts the possibly ill-conditioned $\Sigma_Y$.
        """
        L, d, W = self._whitened
        return check.frozen_float64(L @ (W / (d + self.noise_std**2)) @ W.T @ (self.A @ L).T)

    @cached_property
    def cov_x_given_y(self) -> Float[np.ndarray, "D_x D_x"]:
        r"""$\Sigma_{X|Y} = \Sigma_X - \Sigma_X A^\top\Sigma_Y^{-1}A\Sigma_X$ (Eq. 59), the same for every $\mathbf y$.

        Computed as $L W\,\mathrm{diag}(\sigma^2/(\sigma^2 + d))\,W^\top L^\top$ where
        $B^\top B = W\mathrm{diag}(d)W^\top$,
        which is positive definite by construction.
        """
        L, d, W = self._whitened
        sigma2 = self.noise_std**2
        cov = L @ (W * (sigma2 / (sigma2 + d))) @ W.T @ L.T
        return check.frozen_float64(0.5 * (cov + cov.T))

    @cached_property
    def explained_cov(self) -> Float[np.ndarray, "D_x D_x"]:
        r"""$\Sigma_X - \Sigma_{X|Y} = \mathrm{Cov}(K\mathbf Y) = LW\,\mathrm{diag}(d/(\sigma^2+d))\,W^\top L^\top$,
        formed without cancellation."""
        L, d, W = self._whitened
        cov = L @ (W * (d / (self.noise_std**2 + d))) @ W.T @ L.T
        return check.frozen_float64(0.5 * (cov + cov.T))

    # -- sampling ---------------------------------------------------------------

    def sample(self, key: PRNGKeyArray, n: int) -> tuple[Float[Array, "n D_x"], Float[Array, "n D_y"]]:
        """Draw ``n`` i.i.d. pairs ``(x, y)`` as float32 JAX arrays of shapes ``(n, D_X)`` and ``(n, D_Y)``."""
        n = check.positive_int(n, "n")
        key_x, key_eps = jax.random.split(key)
        L, _, _ = self._whitened
        z = jax.random.normal(key_x, (n, self.dim_x), dtype=jnp.float32)
        x = z @ jnp.asarray(L.T, dtype=jnp.float32)
        eps = jax.random.normal(key_eps, (n, self.dim_y), dtype=jnp.float32)
        y = x @ jnp.asarray(self.A.T, dtype=jnp.float32) + jnp.float32(self.noise_std) * eps
        return x, y

    # -- cached decompositions (float64) ------------------------------------------

    @cached_property
    def _eig_x(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending, > 0) and orthonormal eigenvectors (columns) of Σ_X."""
        lam, V = np.linalg.eigh(self.cov_x)
        return np.maximum(lam, np.finfo(np.float64).tiny), V

    @cached_property
    def _eig_x_given_y(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues and eigenvectors of Σ_{X|Y}."""
        nu, W = np.linalg.eigh(self.cov_x_given_y)
        return np.maximum(nu, np.finfo(np.float64).tiny), W

    @cached_property
    def _whitened(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(L, d, W)``: L = V diag(sqrt λ) with Σ_X = L L^T, and B^T B = W diag(d) W^T for B = A L."""
        lam, V = self._eig_x
        L = V * np.sqrt(lam)
        B = self.A @ L
        d, W = np.linalg.eigh(B.T @ B)
        return L, np.maximum(d, 0.0), W


# --------------------------------------------------------------------------- #
# Constructors
# --------------------------------------------------------------------------- #


def full_rank(key: PRNGKeyArray, dim_x: int, dim_y: int, noise_std: float, jitter: float = 1e-3) -> JointGaussian:
    r"""The *determinism* experiment (Eq. 57): $\Sigma_X = HH^\top + \epsilon I$.

    $H\sim\mathcal N(0,1)^{D_X\times D_X}/\sqrt{D_X}$, $A\sim\mathcal N(0,1)^{D_Y\times D_X}$,
    $\epsilon$ = ``jitter`` > 0
    (guarantees positive definiteness). $S^X_{\rm tot}$ stays moderate; lowering ``noise_std``
    makes $\mathbf Y$ a more deterministic function of $\mathbf X$ and $I(\mathbf X;\mathbf Y)$ grows without bound.
    """
    dim_x = check.positive_int(dim_x, "dim_x")
    dim_y = check.positive_int(dim_y, "dim_y")
    jitter = check.positive_number(jitter, "jitter")
    key_h, key_a = jax.random.split(key)
    H = np.asarray(jax.random.normal(key_h, (dim_x, dim_x)), dtype=np.float64) / np.sqrt(dim_x)
    A = np.asarray(jax.random.normal(key_a, (dim_y, dim_x)), dtype=np.float64)
    return JointGaussian(H @ H.T + jitter * np.eye(dim_x), A, noise_std)


def flattened(
    key: PRNGKeyArray,
    dim_x: int,
    dim_y: int,
    k: int,
    lambda_delta: float,
    noise_std: float,
    sigma_delta: float = 0.0,
    jitter: float = 1e-6,
) -> JointGaussian:
    r"""The *flattening* experiment (Eq. 18 / Eq. 58): $\Sigma_X = U\Lambda U^\top + \epsilon I$.

    Reading adopted here (Eq. 58 as printed lists $D_X + 1$ diagonal entries, so it cannot
    be taken literally; the Fig. 11 caption says $\lambda_\delta$ "controls the spread of X in
    $D_X - k$ directions", as in Eq. 18):

    * $k$ informative eigenvalues $\lambda_i = |z_i|/\sqrt k$, $z_i\sim\mathcal N(0,1)$. The paper draws
      $\mathcal N(0,1)/\sqrt k$, which can be negative; taking the absolute value keeps $\Sigma_X$
      positive definite (Eq. 18 requires $\lambda_\bullet > 0$) with the same magnitudes.
    * $D_X - k$ small eigenvalues $\lambda_\delta\,e^{\sigma_\delta w_j}$, $w_j\sim\mathcal N(0,1)$: ``sigma_delta``
      is an optional log-normal spread around $\lambda_\delta$ (our reading of Eq. 58's $\sigma_\delta$);
      the default ``sigma_delta = 0`` gives Eq. 18 exactly (all equal to $\lambda_\delta$).
    * $U$ Haar-random orthogonal: the Q factor of a QR decomposition of a Gaussian matrix,
      with column signs fixed by $\mathrm{sign}(\mathrm{diag}\,R)$.
    * $\epsilon$ = ``jitter`` $\ge 0$ (default 1e-6, below any $\lambda_\delta$ one would try; the smallest
      eigenvalue of $\Sigma_X$ is then about $\lambda_\delta + \epsilon$); $A\sim\mathcal N(0,1)^{D_Y\times D_X}$.

    Smaller ``lambda_delta`` flattens $\mathbf X$ onto a $k$-dimensional subspace: $S^X_{\rm tot}$
    grows like $\tfrac12(D_X-k)\log(1/\lambda_\delta)$ while $I(\mathbf X;\mathbf Y)$ stays finite
    (for ``noise_std`` of order one).
    """
    dim_x = check.positive_int(dim_x, "dim_x")
    dim_y = check.positive_int(dim_y, "dim_y")
    k = check.positive_int(k, "k")
    if k > dim_x:
        raise ValueError(f"k must be at most dim_x={dim_x}, got k={k}")
    lambda_delta = check.positive_number(lambda_delta, "lambda_delta")
    sigma_delta = check.non_negative_number(sigma_delta, "sigma_delta")
    jitter = check.non_negative_number(jitter, "jitter")
    key_lam, key_delta, key_u, key_a = jax.random.split(key, 4)
    as64 = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
    informative = np.abs(as64(jax.random.normal(key_lam, (k,)))) / np.sqrt(k)
    small = lambda_delta * np.exp(sigma_delta * as64(jax.random.normal(key_delta, (dim_x - k,))))
    Q, R = np.linalg.qr(as64(jax.random.normal(key_u, (dim_x, dim_x))))
    U = Q * np.where(np.diag(R) < 0, -1.0, 1.0)
    eigenvalues = np.concatenate([informative, small])
    cov_x = (U * eigenvalues) @ U.T + jitter * np.eye(dim_x)
    A = as64(jax.random.normal(key_a, (dim_y, dim_x)))
    return JointGaussian(cov_x, A, noise_std)


def linear_1d(a: float, var_x: float = 1.0, noise_var: float = 1.0) -> JointGaussian:
    r"""The scalar linear model $Y = aX + \varepsilon$ (Eq. 22), $X\sim\mathcal N(0,\sigma_X^2)$,
    $\varepsilon\sim\mathcal N(0,\sigma_\varepsilon^2)$, for which
    $I(X;Y) = \tfrac12\log(1 + a^2\sigma_X^2/\sigma_\varepsilon^2)$ (Eq. 25).
    """
    try:
        a = float(a)
    except (TypeError, ValueError) as error:
        raise ValueError(f"a must be a number, got {a!r}") from error
    if not np.isfinite(a):
        raise ValueError(f"a must be finite, got {a!r}")
    var_x = check.positive_number(var_x, "var_x")
    noise_var = check.positive_number(noise_var, "noise_var")
    return JointGaussian(np.array([[var_x]]), np.array([[a]]), np.sqrt(noise_var))


# --------------------------------------------------------------------------- #
# Covariances along the forward process
# --------------------------------------------------------------------------- #


def marginal_covariance(g: JointGaussian, sde: VPSDE, s: Float[np.ndarray, "*S"]) -> Float[np.ndarray, "*S D_x D_x"]:
    r"""$\Sigma_s = \alpha(s)\Sigma_X + (1-\alpha(s))I$ (Eq. 62), float64."""
    sde = as_vpsde(sde)
    s = sde.float64.times(s)
    _, alpha, var = sde.float64.schedule(s)
    return alpha[..., None, None] * g.cov_x + var[..., None, None] * np.eye(g.dim_x)


def conditional_covariance(
    g: JointGaussian, sde: VPSDE, s: Float[np.ndarray, "*S"]
) -> Float[np.ndarray, "*S D_x D_x"]:
    r"""$C_s = \alpha(s)\Sigma_{X|Y} + (1-\alpha(s))I$ (Eq. 61), float64; the mean is $\sqrt{\alpha}K\mathbf y$."""
    sde = as_vpsde(sde)
    s = sde.float64.times(s)
    _, alpha, var = sde.float64.schedule(s)
    return alpha[..., None, None] * g.cov_x_given_y + var[..., None, None] * np.eye(g.dim_x)


def shifted_eigenvalues(eigenvalues: np.ndarray, alpha: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues μ = α λ + (1-α) of α Σ + (1-α) I and μ - 1 = α (λ - 1), shape (*S, D)."""
    a = alpha[..., None]
    return a * eigenvalues + var[..., None], a * (eigenvalues - 1.0)


# --------------------------------------------------------------------------- #
# Rates (nats per unit s)
# --------------------------------------------------------------------------- #


def entropy_rate_x(g: JointGaussian, sde: VPSDE, s: Float[np.ndarray, "*S"]) -> Float[np.ndarray, "*S"]:
    r"""Entropy rate of the ideal unconditional field, nats per unit $s$ (integrand of Eq. 12):

    $$\frac{\beta}{2}\mathbb E\|\mathbf e^*\|^2 = \frac{\beta}{2}\mathrm{tr}(\Sigma_s - 2I + \Sigma_s^{-1})
    = \frac{\beta}{2}\sum_k \frac{\alpha^2(\lambda_k - 1)^2}{\alpha\lambda_k + 1 - \alpha},$$

    since $\mathbf e^* = (I - \Sigma_s^{-1})\mathbf x$ with $\mathbf x\sim\mathcal N(0,\Sigma_s)$;
    $\lambda_k$ are the eigenvalues of $\Sigma_X$. Equals $-\frac{d}{ds}D_{\rm KL}(p_s\,\|\,\mathcal N(0,I))$.
    """
    sde = as_vpsde(sde)
    s = sde.float64.times(s)
    beta, alpha, var = sde.float64.schedule(s)
    mu, mu_minus_one = shifted_eigenvalues(g._eig_x[0], alpha, var)
    return 0.5 * beta * np.sum(mu_minus_one**2 / mu, axis=-1)


def entropy_rate_x_given_y(g: JointGaussian, sde: VPSDE, s: Float[np.ndarray, "*S"]) -> Float[np.ndarray, "*S"]:
    r"""Entropy rate of the ideal conditional field, averaged over $\mathbf y$, nats per unit $s$:

    $$\frac{\beta}{2}\mathbb E\|\mathbf e^*(\cdot;\mathbf y)\|^2 = \frac{\beta}{2}\big[\mathrm{tr}(C_s - 2I + C_s^{-1})
    + \alpha\,\mathrm{tr}(\Sigma_X - \Sigma_{X|Y})\big],$$

    since $\mathbf e^* = (I - C_s^{-1})\mathbf u + \mathbf m$ with $\mathbf u\sim\mathcal N(0,C_s)$ and the mean
    $\mathbf m = \sqrt\alpha K\mathbf y$ has $\mathbb E\,\mathbf m\mathbf m^\top = \alpha(\Sigma_X - \Sigma_{X|Y})$.
    """
    sde = as_vpsde(sde)
    s = sde.float64.times(s)
    beta, alpha, var = sde.float64.schedule(s)
    c, c_minus_one = shifted_eigenvalues(g._eig_x_given_y[0], alpha, var)
    return 0.5 * beta * (np.sum(c_minus_one**2 / c, axis=-1) + alpha * np.trace(g.explained_cov))


def mutual_information_rate(g: JointGaussian, sde: VPSDE, s: Float[np.ndarray, "*S"]) -> Float[np.ndarray, "*S"]:
    r"""MINDE integrand (Eq. 13), nats per unit $s$:
    $\frac{\beta}{2}\mathbb E\|\nabla\log p_s(\mathbf x|\mathbf y) - \nabla\log p_s(\mathbf x)\|^2$.

    With $M = \alpha(\Sigma_X - \Sigma_{X|Y})$ and $\Sigma_s = C_s + M$, writing $\mathbf x = \mathbf m + \mathbf u$,
    the score difference is $(\Sigma_s^{-1} - C_s^{-1})\mathbf u + \Sigma_s^{-1}\mathbf m$, so

    $$\mathbb E\|\cdot\|^2 = \mathrm{tr}(\Sigma_s^{-1}M\Sigma_s^{-1})
    + \mathrm{tr}\big((\Sigma_s^{-1} - C_s^{-1})C_s(\Sigma_s^{-1} - C_s^{-1})\big)
    = \mathrm{tr}\,C_s^{-1} - \mathrm{tr}\,\Sigma_s^{-1}$$

    (expand and use $C_s + M = \Sigma_s$). It equals ``entropy_rate_x_given_y - entropy_rate_x``
    (Eq. 11 per unit time) and $-\frac{d}{ds}I(\mathbf X_s;\mathbf Y)$. Evaluated as
    $\frac{\beta}{2}\alpha\big[\sum_k (1-\nu_k)/c_k - \sum_k(1-\lambda_k)/\mu_k\big]$ ($\nu_k$: eigenvalues of
    $\Sigma_{X|Y}$), which factors out the small $\alpha$ at late $s$. Both sums grow like
    $1/\min_k\lambda_k$ near $s=0$, so the absolute error is about $10^{-16}\,\mathrm{tr}\,C_s^{-1}$.
    """
    sde = as_vpsde(sde)
    s = sde.float64.times(s)
    beta, alpha, var = sde.float64.schedule(s)
    lam = g._eig_x[0]
    nu = g._eig_x_given_y[0]
    mu, _ = shifted_eigenvalues(lam, alpha, var)
    c, _ = shifted_eigenvalues(nu, alpha, var)
    return 0.5 * beta * alpha * (np.sum((1.0 - nu) / c, axis=-1) - np.sum((1.0 - lam) / mu, axis=-1))


# --------------------------------------------------------------------------- #
# Totals (nats)
# --------------------------------------------------------------------------- #


def _kl_from_shift(shift: np.ndarray) -> np.ndarray:
    r"""$D_{\rm KL}(\mathcal N(0,\Sigma)\|\mathcal N(0,I)) = \tfrac12\sum_k(\mu_k - 1 - \log\mu_k)$ from $\mu_k - 1$."""
    return 0.5 * np.sum(shift - np.log1p(shift), axis=-1)


def _kl_x_at(g: JointGaussian, sde: VPSDE, s: float) -> float:
    _, alpha, var = sde.float64.schedule(np.float64(s))
    _, shift = shifted_eigenvalues(g._eig_x[0], alpha, var)
    return float(_kl_from_shift(shift))


def _kl_x_given_y_at(g: JointGaussian, sde: VPSDE, s: float) -> float:
    _, alpha, var = sde.float64.schedule(np.float64(s))
    _, shift = shifted_eigenvalues(g._eig_x_given_y[0], alpha, var)
    return float(_kl_from_shift(shift) + 0.5 * alpha * np.trace(g.explained_cov))


def _mutual_information_at(g: JointGaussian, sde: VPSDE, s: float) -> float:
    _, alpha, var = sde.float64.schedule(np.float64(s))
    _, shift_x = shifted_eigenvalues(g._eig_x[0], alpha, var)
    _, shift_c = shifted_eigenvalues(g._eig_x_given_y[0], alpha, var)
    return float(0.5 * (np.sum(np.log1p(shift_x)) - np.sum(np.log1p(shift_c))))


def _uncut_or_difference(g, sde, s_min, uncut: Callable[[], float], at: Callable) -> float:
    if sde is None:
        if not (isinstance(s_min, (int, float, np.number)) and s_min == 0):
            raise ValueError(f"s_min={s_min!r} needs an sde: without one the total is the uncut closed form")
        return uncut()
    sde = as_vpsde(sde)
    s_min = sde.float64.times(s_min, "s_min")  # a lower cut in [0, T]
    if s_min.ndim != 0:
        raise ValueError(f"s_min must be a scalar, got shape {s_min.shape}")
    s_min = float(s_min)
    return at(g, sde, s_min) - at(g, sde, sde.T)


def total_entropy_x(g: JointGaussian, sde: VPSDE | None = None, s_min: float = 0.0) -> float:
    r"""Total entropy $S^X_{\rm tot}$ in nats.

    Without ``sde``: $D_{\rm KL}(\mathcal N(0,\Sigma_X)\|\mathcal N(0,I))
    = \tfrac12(\mathrm{tr}\,\Sigma_X - \log|\Sigma_X| - D_X)$ (Eq. 56).
    With ``sde``: $\int_{s_{\min}}^T\!ds\,$ :func:`entropy_rate_x` $= D_{\rm KL}(p_{s_{\min}}\|\mathcal N(0,I)) -
    D_{\rm KL}(p_T\|\mathcal N(0,I))$ (de Bruijn identity for the OU process), which tends to Eq. 56
    minus the tiny $D_{\rm KL}(p_T\|\mathcal N(0,I))$ as $s_{\min}\to 0$.
    """

    def uncut() -> float:
        _, logdet = np.linalg.slogdet(g.cov_x)
        return float(0.5 * (np.trace(g.cov_x) - logdet - g.dim_x))

    return _uncut_or_difference(g, sde, s_min, uncut, _kl_x_at)


def total_entropy_x_given_y(g: JointGaussian, sde: VPSDE | None = None, s_min: float = 0.0) -> float:
    r"""Conditional total entropy, in nats (Eq. 10):
    $S^{X|Y}_{\rm tot} = \mathbb E_{\mathbf y}D_{\rm KL}(\mathcal N(K\mathbf y,\Sigma_{X|Y})\|\mathcal N(0,I))$.

    Using $\mathbb E\|K\mathbf y\|^2 = \mathrm{tr}(\Sigma_X - \Sigma_{X|Y})$ this is
    $\tfrac12(\mathrm{tr}\,\Sigma_X - \log|\Sigma_{X|Y}| - D_X)$, and
    $S^{X|Y}_{\rm tot} - S^X_{\rm tot} = I(\mathbf X;\mathbf Y)$ (Eq. 11).
    With ``sde``: $\int_{s_{\min}}^T$ :func:`entropy_rate_x_given_y`
    $= \mathbb E_{\mathbf y}D_{\rm KL}(p_{s_{\min}}(\cdot|\mathbf y)\|\mathcal N(0,I)) - (\text{same at }T)$, where
    $\mathbb E_{\mathbf y}D_{\rm KL}(p_s(\cdot|\mathbf y)\|\mathcal N(0,I))
    = \tfrac12[\mathrm{tr}(C_s - I) - \log|C_s| + \alpha\,\mathrm{tr}(\Sigma_X - \Sigma_{X|Y})]$.
    """

    def uncut() -> float:
        _, logdet = np.linalg.slogdet(g.cov_x_given_y)
        return float(0.5 * (np.trace(g.cov_x) - logdet - g.dim_x))

    return _uncut_or_difference(g, sde, s_min, uncut, _kl_x_given_y_at)


def mutual_information(g: JointGaussian, sde: VPSDE | None = None, s_min: float = 0.0) -> float:
    r"""$I(\mathbf X;\mathbf Y)$ in nats.

    Without ``sde``: $\tfrac12\log(|\Sigma_Y|/|\sigma_\varepsilon^2 I|)$ (Eq. 55, with ``slogdet``).
    With ``sde``: $\int_{s_{\min}}^T$ :func:`mutual_information_rate`
    $= I(\mathbf X_{s_{\min}};\mathbf Y) - I(\mathbf X_T;\mathbf Y)$
    with $I(\mathbf X_s;\mathbf Y) = \tfrac12\log(|\Sigma_s|/|C_s|)$ (MINDE, Eq. 13).
    """

    def uncut() -> float:
        _, logdet = np.linalg.slogdet(g.cov_y)
        return float(0.5 * (logdet - g.dim_y * np.log(g.noise_std**2)))

    return _uncut_or_difference(g, sde, s_min, uncut, _mutual_information_at)


def total_correlation(cov: Float[np.ndarray, "D D"]) -> float:
    r"""Total correlation of $\mathcal N(0,\Sigma)$ in nats (the last term of Eq. 8):

    $$\mathrm{TC} = D_{\rm KL}\big(p(x_1,\dots,x_D)\,\|\,\textstyle\prod_k p(x_k)\big)
    = \tfrac12\big(\sum_k\log\Sigma_{kk} - \log|\Sigma|\big) \ge 0.$$
    """
    cov = _spd_matrix(cov, "cov")
    _, logdet = np.linalg.slogdet(cov)
    return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def marginal_divergence(cov: Float[np.ndarray, "D D"]) -> float:
    r"""The first sum of Eq. 8 for $\mathcal N(0,\Sigma)$, in nats: the divergence of each
    one-dimensional marginal from the standard normal,

    $$\sum_k D_{\rm KL}\big(\mathcal N(0,\Sigma_{kk})\,\|\,\mathcal N(0,1)\big)
    = \tfrac12\sum_k\big(\Sigma_{kk} - 1 - \log\Sigma_{kk}\big),$$

    so that ``marginal_divergence(cov) + total_correlation(cov)`` is
    $D_{\rm KL}(\mathcal N(0,\Sigma)\,\|\,\mathcal N(0,I))$, the uncut :func:`total_entropy_x`.
    """
    cov = _spd_matrix(cov, "cov")
    diagonal = np.diag(cov)
    return float(0.5 * np.sum(diagonal - 1.0 - np.log(diagonal)))


# --------------------------------------------------------------------------- #
# Quadrature in log-SNR
# --------------------------------------------------------------------------- #


def _gauss_legendre(rate_fn, sde: VPSDE, s_low: np.ndarray, s_high: float, nodes: int) -> np.ndarray:
    r"""$\int_{s_{\rm low}}^{s_{\rm high}} f\,ds
    = \int_{\lambda(s_{\rm high})}^{\lambda(s_{\rm low})} f(s(\lambda))\,\frac{1-\alpha}{\beta}\,d\lambda$
    for each entry of ``s_low`` (all > 0), Gauss-Legendre with ``nodes`` points."""
    t, w = np.polynomial.legendre.leggauss(nodes)
    lam_hi = sde.float64.log_snr(s_low)[..., None]  # λ decreases with s
    lam_lo = sde.float64.log_snr(np.float64(s_high))
    half = 0.5 * (lam_hi - lam_lo)
    lam = 0.5 * (lam_hi + lam_lo) + half * t
    s = sde.float64.s_from_log_snr(lam)
    one_minus_alpha = np.exp(-np.logaddexp(0.0, lam))  # 1 - α = sigmoid(-λ)
    ds_dlam = one_minus_alpha / sde.float64.beta(s)  # |ds/dλ| = (1-α)/β
    values = np.asarray(rate_fn(s.reshape(-1)), dtype=np.float64).reshape(s.shape)
    return np.sum(w * values * ds_dlam, axis=-1) * half[..., 0]


def integrate_rate(
    rate_fn: Callable[[np.ndarray], np.ndarray],
    sde: VPSDE,
    s_min: float,
    s_max: float | None = None,
    nodes: int = 200,
) -> float:
    r"""$\int_{s_{\min}}^{s_{\max}} f(s)\,ds$ by Gauss-Legendre quadrature in the log-SNR $\lambda$ (float64).

    With $s\to\lambda(s)$, $ds = \frac{1-\alpha}{\beta}d\lambda$: near $s=0$ the rates decay like
    $1-\alpha\approx e^{-\lambda}$, so the integrand is smooth and spread evenly over $\lambda$ and the rule
    converges exponentially in ``nodes``. ``rate_fn`` maps a 1-D float64 array of times to an
    array of the same shape (e.g. ``lambda s: entropy_rate_x(g, sde, s)``). Needs
    $0 < s_{\min} < s_{\max}\le T$ ($\lambda(0) = +\infty$); ``s_max`` defaults to $T$.
    """
    sde = as_vpsde(sde)
    s_max = sde.T if s_max is None else s_max
    s_min, s_max = float(s_min), float(s_max)
    if not (0.0 < s_min < s_max <= sde.T):
        raise ValueError(f"need 0 < s_min < s_max <= T={sde.T}, got s_min={s_min}, s_max={s_max}")
    nodes = check.positive_int(nodes, "nodes")
    return float(_gauss_legendre(rate_fn, sde, np.array([s_min]), s_max, nodes)[0])


def cumulative_curve(
    rate_fn: Callable[[np.ndarray], np.ndarray],
    sde: VPSDE,
    s_grid: Float[np.ndarray, " G"],
    nodes: int = 200,
) -> Float[np.ndarray, " G"]:
    r"""$S(s) = \int_s^T f(u)\,du$ for every $s$ in ``s_grid`` (all in $(0, T]$), e.g. the
    information still to be supplied by the generative process at time $s$. Each entry
    is its own :func:`integrate_rate` rule (``rate_fn`` is called once, on all nodes); $S(T) = 0$.
    """
    sde = as_vpsde(sde)
    s_grid = check.as_float_array(s_grid, "s_grid", ndim=1)
    if np.any(s_grid <= 0) or np.any(s_grid > sde.T):
        raise ValueError(f"s_grid must lie in (0, T={sde.T}], got values in [{s_grid.min()}, {s_grid.max()}]")
    nodes = check.positive_int(nodes, "nodes")
    return _gauss_legendre(rate_fn, sde, s_grid, sde.T, nodes)


# --------------------------------------------------------------------------- #
# Analytic fields (JAX, batched)
# --------------------------------------------------------------------------- #


def _field_inputs(g: JointGaussian, x, s, y):
    x = jnp.asarray(x)
    dtype = jnp.result_type(x.dtype, jnp.float32)
    x = x.astype(dtype)
    if x.ndim < 1 or x.shape[-1] != g.dim_x:
        raise ValueError(f"x must have shape (..., D_X={g.dim_x}), got shape {x.shape}")
    try:
        s = jnp.broadcast_to(jnp.asarray(s, dtype=dtype), x.shape[:-1])[..., None]
    except ValueError as error:
        raise ValueError(f"s must broadcast to x.shape[:-1]={x.shape[:-1]}, got shape {jnp.shape(s)}") from error
    if y is not None:
        y = jnp.asarray(y).astype(dtype)
        if y.shape != x.shape[:-1] + (g.dim_y,):
            raise ValueError(f"y must have shape {x.shape[:-1] + (g.dim_y,)} to match x, got shape {y.shape}")
    return x, s, y, dtype


def _parts(g: JointGaussian, sde: VPSDE, x, s, y):
    """Shared pieces: (x in eigenbasis, eigenbasis, μ, μ-1, mean in eigenbasis or None)."""
    x, s, y, dtype = _field_inputs(g, x, s, y)
    alpha, var = sde.alpha(s), sde.variance(s)
    lam, V = g._eig_x if y is None else g._eig_x_given_y
    lam, V = jnp.asarray(lam, dtype), jnp.asarray(V, dtype)
    mu = alpha * lam + var
    shift = alpha * (lam - 1.0)
    mean = None if y is None else (sde.mean_coefficient(s) * (y @ jnp.asarray(g.gain.T, dtype))) @ V
    return x @ V, V, mu, shift, mean


def exact_score(
    g: JointGaussian,
    sde: VPSDE,
    x: Float[Array, "N D_x"],
    s: Float[Array, " N"],
    y: Float[Array, "N D_y"] | None = None,
) -> Float[Array, "N D_x"]:
    r"""The exact scores (Eq. 64): $\nabla\log p_s(\mathbf x) = -\Sigma_s^{-1}\mathbf x$ and, given ``y``,
    $\nabla\log p_s(\mathbf x\mid\mathbf y) = -C_s^{-1}(\mathbf x - \sqrt\alpha K\mathbf y)$.

    Batched JAX (jit-able with ``g`` and ``sde`` closed over); the inverses are diagonal in the
    eigenbasis of $\Sigma_X$ (resp. $\Sigma_{X|Y}$), e.g.
    $\Sigma_s^{-1} = V\mathrm{diag}(1/(\alpha\lambda + 1-\alpha))V^\top$.
    ``s`` may be a scalar or have shape ``x.shape[:-1]``.
    """
    xv, V, mu, _, mean = _parts(g, sde, x, s, y)
    centred = xv if mean is None else xv - mean
    return -(centred / mu) @ V.T


def exact_entropy_field(
    g: JointGaussian,
    sde: VPSDE,
    x: Float[Array, "N D_x"],
    s: Float[Array, " N"],
    y: Float[Array, "N D_y"] | None = None,
) -> Float[Array, "N D_x"]:
    r"""The ideal entropy-matching field
    $\mathbf e^* = \nabla\log p_s - \nabla\log p_{\rm eq} = \nabla\log p_s + \mathbf x$
    (Eq. 9 for the VP process), unconditional (``y=None``) or conditional on ``y``.

    Formed without cancellation: $\mathbf e^* = V\mathrm{diag}\big(\alpha(\lambda-1)/\mu\big)V^\top\mathbf x$
    $\big[+\,V\mathrm{diag}(1/\mu)V^\top\sqrt\alpha K\mathbf y\big]$, with $\mu = \alpha\lambda + 1 - \alpha$ and
    $(\lambda, V)$ the eigenpairs of $\Sigma_X$ (or $\Sigma_{X|Y}$). $\frac\beta2\mathbb E\|\mathbf e^*\|^2$ is
    :func:`entropy_rate_x` (or :func:`entropy_rate_x_given_y`).
    """
    xv, V, mu, shift, mean = _parts(g, sde, x, s, y)
    coords = xv * (shift / mu)
    if mean is not None:
        coords = coords + mean / mu
    return coords @ V.T
