r"""Generation by the reverse SDE in the entropy-matching parameterisation.

Eq. 5 of the paper: with reverse time $t = T - s$,
$d\mathbf X_t = \big(b_+ + \sigma^2\mathbf e(\mathbf X_t, s)\big)dt + \sigma\,d\mathbf B_t$, which for the VP
process is $\big(-\tfrac12\beta\mathbf x + \beta\,\mathbf e\big)dt + \sqrt\beta\,d\mathbf B_t$.
With $\mathbf e = 0$ this is the forward process again: an entropy-matching model that
stores nothing leaves the equilibrium distribution where it is.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .sde import VPSDE

__all__ = ["reverse_sde_paths"]


def reverse_sde_paths(
    key: PRNGKeyArray,
    field,
    sde: VPSDE,
    x_T: Float[Array, "N D"],
    *,
    num_steps: int = 500,
    s_min: float = 1e-3,
    y=None,
) -> tuple[Float[Array, " K"], Float[Array, "K N D"]]:
    r"""Euler–Maruyama solution of the reverse SDE from $s = T$ down to ``s_min``.

    ``field(x, s, y)`` is an entropy field (a trained :class:`~kellynotes.entropy.EntropyModel`'s
    ``entropy_field`` or an exact one). Steps are uniform in $s$. Returns the times
    (decreasing, shape (K,)) and the states at those times (K, N, D), K = num_steps + 1.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be positive, got {num_steps}")
    if not 0.0 < s_min < sde.T:
        raise ValueError(f"s_min must lie in (0, T={sde.T}), got {s_min}")
    s_grid = jnp.linspace(sde.T, s_min, num_steps + 1)
    dt = (sde.T - s_min) / num_steps
    n = x_T.shape[0]

    def step(x, inputs):
        key, s = inputs
        beta = sde.beta(s)
        e = field(x, jnp.full((n,), s), y)
        x = x + (-0.5 * beta * x + beta * e) * dt + jnp.sqrt(beta * dt) * jax.random.normal(key, x.shape)
        return x, x

    keys = jax.random.split(key, num_steps)
    _, path = jax.lax.scan(step, x_T, (keys, s_grid[:-1]))
    return s_grid, jnp.concatenate([x_T[None], path])
