r"""Classifier-free guidance (CFG), for any entropy field and exactly for the joint Gaussian.

**The guided field.** CFG replaces the conditional score by
$(1+w)\nabla\log p_s(\mathbf x\mid\mathbf y) - w\nabla\log p_s(\mathbf x)$ (Eqs. 16, 51). Since
$\mathbf e = \nabla\log p_s + \mathbf x$ and the weights sum to one, the same combination of
entropy fields is the guided entropy field:
$\mathbf e_w = (1+w)\,\mathbf e(\mathbf x, s;\mathbf y) - w\,\mathbf e(\mathbf x, s)$.

**The probability-flow ODE** (Eq. 65) of the VP process in forward time is
$d\mathbf x/ds = -\tfrac12\beta(\mathbf x + \nabla\log p_s) = -\tfrac12\beta\,\mathbf e(\mathbf x, s)$,
integrated from $s=T$ down to $s_{\rm end}$.

**Exact guided Gaussian.** For the joint Gaussian the guided field is affine,
$\mathbf e_w = M(s)\,\mathbf x + B(s)\,\mathbf y$ with
$M = I - (1+w)C_s^{-1} + w\Sigma_s^{-1}$ and $B = (1+w)\,C_s^{-1}\sqrt{\alpha}K$
($\Sigma_s$, $C_s$ the marginal and conditional covariances at $s$, $K$ the gain with
$\mathbb E[\mathbf X\mid\mathbf y] = K\mathbf y$). So the flow maps the start $\mathbf x_T$ to
$\mathbf x = \Phi\mathbf x_T + \Psi\mathbf y$. The start is the exact conditional marginal at $T$,
$\mathbf x_T\mid\mathbf y\sim\mathcal N(\sqrt{\alpha_T}K\mathbf y, C_T)$, so that $w=0$ returns $p_d$ exactly (a
sampler starting from $\mathcal N(0, I)$ differs by $O(\alpha(T))\approx 5\cdot10^{-5}$). The guided
$\mathbf X\mid\mathbf y$ is then Gaussian with mean $G\mathbf y$, $G = \Phi\sqrt{\alpha_T}K + \Psi$, and covariance
$\Phi C_T\Phi^\top$, and $I(\mathbf X_{\rm CFG};\mathbf Y) = \tfrac12\log|\mathrm{Cov}\,\mathbf X| -
\tfrac12\log|\mathrm{Cov}(\mathbf X\mid\mathbf y)|$ (nats).
$\Phi$ and $\Psi$ come from the linear matrix ODE, solved in float64 with an implicit
Runge–Kutta method (the system is stiff near $s=0$, where guidance collapses variances).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from . import gaussian
from .sde import VPSDE

__all__ = ["GuidedGaussian", "guided_field", "guided_gaussian"]


def guided_field(field, w: float):
    r"""The CFG entropy field
    $\mathbf e_w = (1+w)\,\mathbf e(\cdot;\mathbf y) - w\,\mathbf e(\cdot)$ of ``field(x, s, y)``.

    With ``y=None`` the result is the unconditional field (guidance needs a condition).
    """
    w = float(w)
    if not np.isfinite(w) or w < 0:
        raise ValueError(f"guidance weight w must be a finite number >= 0, got {w}")

    def guided(x, s, y=None):
        if y is None:
            return field(x, s, None)
        return (1.0 + w) * field(x, s, y) - w * field(x, s, None)

    return guided


@dataclass(frozen=True)
class GuidedGaussian:
    r"""The exact law of guided samples of the joint Gaussian:
    $\mathbf X\mid\mathbf y\sim\mathcal N(G\mathbf y, \Sigma_{\rm CFG})$."""

    w: float
    s_end: float
    gain: np.ndarray  # G, (D_X, D_Y): E[X | y] = G y
    cov_x_given_y: np.ndarray  # Σ_CFG, (D_X, D_X)
    cov_y: np.ndarray  # Σ_Y, (D_Y, D_Y)

    @property
    def cov_x(self) -> np.ndarray:
        """Covariance of the guided X marginal (its mean is 0)."""
        return self.cov_x_given_y + self.gain @ self.cov_y @ self.gain.T

    def mutual_information(self) -> float:
        r"""$I(\mathbf X_{\rm CFG};\mathbf Y) = \frac12\log|\mathrm{Cov}\,\mathbf X| -
        \frac12\log|\mathrm{Cov}(\mathbf X\mid\mathbf y)|$, nats."""
        return 0.5 * (np.linalg.slogdet(self.cov_x)[1] - np.linalg.slogdet(self.cov_x_given_y)[1])

    def sample(self, key: PRNGKeyArray, n: int):
        r"""Draw ``n`` guided pairs: $\mathbf y\sim\mathcal N(0,\Sigma_Y)$,
        $\mathbf x\mid\mathbf y\sim\mathcal N(G\mathbf y, \Sigma_{\rm CFG})$.

        Exact samples of what the guided probability-flow ODE produces, as float32 JAX arrays
        of shapes (n, D_X) and (n, D_Y). Covariance square roots are taken by eigendecomposition
        (clipping round-off below zero), since guidance can collapse variances to ~1e-9.
        """
        key_y, key_x = jax.random.split(key)
        y = jax.random.normal(key_y, (n, self.cov_y.shape[0]))
        y = np.asarray(y, np.float64) @ _sqrt_psd(self.cov_y).T
        z = np.asarray(jax.random.normal(key_x, (n, self.cov_x_given_y.shape[0])), np.float64)
        x = y @ self.gain.T + z @ _sqrt_psd(self.cov_x_given_y).T
        return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

    def noised_mutual_information(self, sde: VPSDE, s: float) -> float:
        r"""$I(\tilde{\mathbf X}_s;\mathbf Y)$ for guided samples pushed forward to time $s$ by the VP
        process: what an estimator whose time integral starts at $s$ can see, nats."""
        log_alpha = -sde.beta_min * s - 0.5 * (sde.beta_max - sde.beta_min) * s**2
        alpha, var = np.exp(log_alpha), -np.expm1(log_alpha)
        eye = np.eye(self.cov_x.shape[0])
        return 0.5 * (np.linalg.slogdet(alpha * self.cov_x + var * eye)[1]
                      - np.linalg.slogdet(alpha * self.cov_x_given_y + var * eye)[1])

    def kl_from(self, g: gaussian.JointGaussian) -> float:
        r"""$D_{\rm KL}(p_{\rm CFG}(\mathbf x)\,\|\,p_d(\mathbf x))$, nats: how far guidance moves the X marginal."""
        cov, target = self.cov_x, g.cov_x
        solved = np.linalg.solve(target, cov)
        return max(0.0, 0.5 * (np.trace(solved) - np.linalg.slogdet(solved)[1] - cov.shape[0]))  # clip round-off


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def guided_gaussian(
    g: gaussian.JointGaussian, w: float, sde: VPSDE = VPSDE(), *, s_end: float = 0.0,
    rtol: float = 1e-10, atol: float = 1e-12,
) -> GuidedGaussian:
    r"""Solve the guided probability-flow ODE of the joint Gaussian exactly (float64), from
    $s = T$ (start: the exact $p_T(\mathbf x\mid\mathbf y)$) to ``s_end``; see the module docstring."""
    from scipy import sparse
    from scipy.integrate import solve_ivp

    w = float(w)
    if not np.isfinite(w) or w < 0:
        raise ValueError(f"guidance weight w must be a finite number >= 0, got {w}")
    if not 0.0 <= s_end < sde.T:
        raise ValueError(f"s_end must lie in [0, T={sde.T}), got {s_end}")
    dim_x, dim_y = g.dim_x, g.dim_y
    lam_x, vec_x = np.linalg.eigh(g.cov_x)
    lam_c, vec_c = np.linalg.eigh(g.cov_x_given_y)
    gain = g.gain

    def schedule(s):
        log_alpha = -sde.beta_min * s - 0.5 * (sde.beta_max - sde.beta_min) * s**2
        return np.exp(log_alpha), -np.expm1(log_alpha), sde.beta_min + s * (sde.beta_max - sde.beta_min)

    def coefficients(s):
        alpha, var, beta = schedule(s)
        inv_marginal = (vec_x / (alpha * lam_x + var)) @ vec_x.T
        inv_conditional = (vec_c / (alpha * lam_c + var)) @ vec_c.T
        m = np.eye(dim_x) - (1 + w) * inv_conditional + w * inv_marginal
        b = (1 + w) * np.sqrt(alpha) * inv_conditional @ gain
        return -0.5 * beta * m, -0.5 * beta * b  # d/ds of [Φ | Ψ] = A [Φ | Ψ] + [0 | B]

    def rhs(s, state):
        a, b = coefficients(s)
        state = state.reshape(dim_x, dim_x + dim_y)
        out = a @ state
        out[:, dim_x:] += b
        return out.ravel()

    def jacobian(s, state):
        a, _ = coefficients(s)
        # state is row-major (D_X, D_X + D_Y): d(a @ state)/d state = kron(a, I), which is
        # sparse; Radau then factorises it with a sparse LU (several times faster at D_X = 25).
        return sparse.kron(sparse.csc_matrix(a), sparse.identity(dim_x + dim_y), format="csc")

    start = np.concatenate([np.eye(dim_x), np.zeros((dim_x, dim_y))], axis=1).ravel()
    solution = solve_ivp(rhs, (sde.T, s_end), start, method="Radau", jac=jacobian, rtol=rtol, atol=atol)
    if not solution.success:
        raise RuntimeError(f"guided probability-flow ODE failed at w={w}: {solution.message}")
    state = solution.y[:, -1].reshape(dim_x, dim_x + dim_y)
    flow, psi = state[:, :dim_x], state[:, dim_x:]
    alpha_T, var_T, _ = schedule(sde.T)
    cov_T = alpha_T * g.cov_x_given_y + var_T * np.eye(dim_x)  # exact p_T(x | y)
    return GuidedGaussian(w, s_end, flow @ (np.sqrt(alpha_T) * gain) + psi, flow @ cov_T @ flow.T, g.cov_y)
