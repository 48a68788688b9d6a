"""Forward paths and the reverse SDE against exact Gaussian moments."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kellynotes import gaussian, sampling
from kellynotes.sde import VPSDE

SDE = VPSDE()
N = 20_000
# Standard error of a sample variance is var*sqrt(2/N) ~ 1% at N = 2e4; 5% allows ~5
# standard errors plus the O(dt) bias of 400 Euler–Maruyama steps (~1% here).
VARIANCE_TOLERANCE = 0.05


def test_forward_paths_have_the_exact_marginals():
    x0 = jnp.full((N, 1), 2.0)
    s_grid = jnp.array([0.0, 0.1, 0.4, 1.0])
    paths = SDE.sample_path(jax.random.key(0), x0, s_grid)
    assert paths.shape == (4, N, 1)
    for k, s in enumerate(np.asarray(s_grid)):
        mean, var = float(SDE.mean_coefficient(s)) * 2.0, float(SDE.variance(s))
        assert abs(float(paths[k].mean()) - mean) < 5 * np.sqrt(var / N) + 1e-6
        assert abs(float(paths[k].var()) - var) <= VARIANCE_TOLERANCE * var + 1e-6


def test_reverse_sde_with_the_exact_field_regenerates_the_data():
    g = gaussian.linear_1d(2.0, var_x=1.0, noise_var=0.25)
    field = partial(gaussian.exact_entropy_field, g, SDE)
    start = jax.random.normal(jax.random.key(1), (N, 1))
    times, path = sampling.reverse_sde_paths(jax.random.key(2), field, SDE, start, num_steps=400)
    assert path.shape == (401, N, 1) and float(times[0]) == SDE.T
    assert abs(float(path[-1].var()) - 1.0) < VARIANCE_TOLERANCE
    # Conditional generation given y = 1: mean K y, variance Σ_{X|Y}.
    y = jnp.ones((N, 1))
    _, path = sampling.reverse_sde_paths(jax.random.key(2), field, SDE, start, num_steps=400, y=y)
    target_var = float(g.cov_x_given_y[0, 0])
    assert abs(float(path[-1].mean()) - float(g.gain[0, 0])) < 5 * np.sqrt(target_var / N) + 0.01
    assert abs(float(path[-1].var()) - target_var) < VARIANCE_TOLERANCE * target_var


def test_zero_field_keeps_equilibrium():
    start = jax.random.normal(jax.random.key(3), (N, 2))
    _, path = sampling.reverse_sde_paths(jax.random.key(4), lambda x, s, y: jnp.zeros_like(x), SDE, start,
                                         num_steps=200)
    assert abs(float(path[-1].var()) - 1.0) < VARIANCE_TOLERANCE


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_steps"):
        sampling.reverse_sde_paths(jax.random.key(0), lambda x, s, y: x, SDE, jnp.zeros((2, 1)), num_steps=0)
    with pytest.raises(ValueError, match="s_min"):
        sampling.reverse_sde_paths(jax.random.key(0), lambda x, s, y: x, SDE, jnp.zeros((2, 1)), s_min=1.5)
