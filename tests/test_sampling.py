"""Forward paths, the reverse SDE and the probability-flow ODE against exact Gaussian moments."""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE, backend_compilations

from kellynotes import gaussian, guidance, sampling

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


def test_reverse_sde_matches_the_plain_scan_loop_bit_for_bit():
    # The compiled implementation must keep the paths of the original eager loop for every key:
    # same keys, same operations in the same order, so the comparison is exact (tolerance 0).
    g = gaussian.linear_1d(2.0, var_x=1.0, noise_var=0.25)
    field = partial(gaussian.exact_entropy_field, g, SDE)
    start = jax.random.normal(jax.random.key(5), (64, 1))
    y = jnp.ones((64, 1))
    num_steps, s_min = 37, 0.0123

    def step(x, inputs):
        key, s = inputs
        beta = SDE.beta(s)
        x = x + (-0.5 * beta * x + beta * field(x, jnp.full((64,), s), y)) * dt
        return x + jnp.sqrt(beta * dt) * jax.random.normal(key, x.shape), None

    dt = (SDE.T - s_min) / num_steps
    s_grid = jnp.linspace(SDE.T, s_min, num_steps + 1)
    expected, _ = jax.lax.scan(step, start, (jax.random.split(jax.random.key(6), num_steps), s_grid[:-1]))
    times, path = sampling.reverse_sde_paths(jax.random.key(6), field, SDE, start, num_steps=num_steps,
                                             s_min=s_min, y=y)
    np.testing.assert_array_equal(np.asarray(times), np.asarray(s_grid))
    np.testing.assert_array_equal(np.asarray(path[-1]), np.asarray(expected))


# --------------------------------------------------------------------------- #
# Probability-flow ODE
# --------------------------------------------------------------------------- #


def _basis_starts(g):
    r"""Starts that read off the flow's affine map $\mathbf x = \Phi\mathbf x_T + \Psi\mathbf y$.

    Rows ``j < D_Y``: $\mathbf y = \mathbf e_j$, $\mathbf x_T = \sqrt{\alpha_T}K\mathbf e_j$ (the mean of the exact
    $p_T(\mathbf x|\mathbf y)$), mapped to $G\mathbf e_j$. Rows ``D_Y + k``: $\mathbf y = 0$,
    $\mathbf x_T = L_T\mathbf e_k$ with $C_T = L_TL_T^\top$, mapped to $\Phi L_T\mathbf e_k$, so that
    $\Sigma = \sum_k(\Phi L_T\mathbf e_k)(\Phi L_T\mathbf e_k)^\top = \Phi C_T\Phi^\top$, exactly what
    :func:`guidance.guided_gaussian` computes.
    """
    alpha_T, var_T = float(SDE.alpha(SDE.T)), float(SDE.variance(SDE.T))
    chol = np.linalg.cholesky(alpha_T * g.cov_x_given_y + var_T * np.eye(g.dim_x))
    x_T = np.concatenate([np.sqrt(alpha_T) * g.gain.T, chol.T])
    y = np.concatenate([np.eye(g.dim_y), np.zeros((g.dim_x, g.dim_y))])
    return jnp.asarray(x_T, jnp.float32), jnp.asarray(y, jnp.float32)


def _gain_and_covariance(out, g):
    out = np.asarray(out, np.float64)
    rows = out[g.dim_y:]
    return out[:g.dim_y].T, rows.T @ rows


def _relative_error(estimate, exact):
    return float(np.abs(estimate - exact).max() / np.abs(exact).max())


def _conditional_kl(gain, cov, exact):
    r"""$\mathbb E_{\mathbf y}D_{\rm KL}(\mathcal N(\hat G\mathbf y, \hat\Sigma)\,\|\,\mathcal N(G\mathbf y, \Sigma))$
    in nats.

    Unlike the relative errors above it weighs every direction by the exact spread there, so it
    also sees errors along the narrow directions that guidance squeezes.
    """
    chol = np.linalg.cholesky(exact.cov_x_given_y)
    whitened = np.linalg.solve(chol, np.linalg.solve(chol, cov).T)
    shift = np.linalg.eigvalsh(whitened - np.eye(len(whitened)))
    mean_error = np.linalg.solve(chol, gain - exact.gain)
    return float(0.5 * np.sum(shift - np.log1p(shift)) + 0.5 * np.trace(mean_error @ exact.cov_y @ mean_error.T))


# Default tolerances rtol = atol = 1e-5 in float32: each state is off by ~1e-5 after ~15
# steps (measured: at most 2e-5 relative on G, 2.3e-4 on Σ). Σ is a product of two rows of
# size sqrt(Σ), so its relative error is twice theirs, and atol weighs most on the smallest
# Σ (w=2 for linear_1d squeezes Σ to 2e-4, whose rows are 0.014). 1e-3 leaves a 4x margin.
FLOW_TOLERANCE = 1e-3
# The same runs measured at most 1.5e-6 nats (full_rank, w=2, whitened covariance error 9e-4).
# The KL is quadratic in the error, so 1e-5 nats allows errors 2.5x larger than measured.
KL_TOLERANCE = 1e-5


@pytest.mark.parametrize("model", ["linear_1d", "full_rank"])
@pytest.mark.parametrize("w", [0.0, 2.0])
def test_flow_with_the_exact_field_gives_the_exact_guided_gaussian(model, w):
    g = (gaussian.linear_1d(2.0, var_x=1.0, noise_var=0.25) if model == "linear_1d"
         else gaussian.full_rank(jax.random.key(0), 4, 2, 1.0))
    field = guidance.guided_field(partial(gaussian.exact_entropy_field, g, SDE), w)
    x_T, y = _basis_starts(g)
    result = sampling.probability_flow(field, SDE, x_T, y=y, s_end=1e-3)
    assert result.x.shape == x_T.shape and result.solver == "tsit5" and result.num_steps > 0
    gain, cov = _gain_and_covariance(result.x, g)
    exact = guidance.guided_gaussian(g, w, SDE, s_end=1e-3)
    assert _relative_error(gain, exact.gain) < FLOW_TOLERANCE
    assert _relative_error(cov, exact.cov_x_given_y) < FLOW_TOLERANCE
    assert _conditional_kl(gain, cov, exact) < KL_TOLERANCE


def test_flow_to_s_end_zero_and_saved_times():
    # The exact field is finite at s = 0, so the flow may run to 0; the dense output at the
    # saved times must match the exact law there too (same tolerance as above).
    g = gaussian.full_rank(jax.random.key(0), 4, 2, 1.0)
    field = guidance.guided_field(partial(gaussian.exact_entropy_field, g, SDE), 2.0)
    x_T, y = _basis_starts(g)
    saveat = np.array([0.5, 0.1, 1e-3])
    result = sampling.probability_flow(field, SDE, x_T, y=y, s_end=0.0, saveat_s=saveat)
    assert result.path.shape == (3,) + x_T.shape and result.s_end == 0.0
    np.testing.assert_array_equal(result.s, saveat)
    for s, states in [*zip(saveat, result.path), (0.0, result.x)]:
        gain, cov = _gain_and_covariance(states, g)
        exact = guidance.guided_gaussian(g, 2.0, SDE, s_end=float(s))
        assert _relative_error(gain, exact.gain) < FLOW_TOLERANCE, s
        assert _relative_error(cov, exact.cov_x_given_y) < FLOW_TOLERANCE, s
        assert _conditional_kl(gain, cov, exact) < KL_TOLERANCE, s


def test_flow_from_standard_normal_starts_has_the_right_moments():
    # From N(0, 1) instead of the exact p_T(x|y) the output law differs by O(sqrt(alpha_T)) ≈ 7e-3
    # times the flow gain ≈ 0.24, i.e. ≲ 2e-3 in the mean; the rest is Monte Carlo error: 5 standard
    # errors for the mean, and 5% for the variance (its standard error is sqrt(2/N) = 1%).
    g = gaussian.linear_1d(2.0, var_x=1.0, noise_var=0.25)
    field = partial(gaussian.exact_entropy_field, g, SDE)
    start = jax.random.normal(jax.random.key(7), (N, 1))
    out = sampling.probability_flow(field, SDE, start, y=jnp.ones((N, 1))).x
    exact = guidance.guided_gaussian(g, 0.0, SDE, s_end=1e-3)
    target_var = float(exact.cov_x_given_y[0, 0])
    assert abs(float(out.mean()) - float(exact.gain[0, 0])) < 5 * np.sqrt(target_var / N) + 2e-3
    assert abs(float(out.var()) - target_var) < VARIANCE_TOLERANCE * target_var


def _network_field(key, dim_x=3, dim_y=2):
    from kellynotes import entropy, nets

    network = nets.EntropyMLP(dim_x, key=key, width=32, depth=2, num_fourier=8, condition=("vector", dim_y))
    # The last layer starts at zero (the no-information model); give it weights so that the
    # field, and guidance, actually move the samples.
    k_w, k_b = jax.random.split(jax.random.fold_in(key, 1))
    last = network.layers[-1]
    weights = (0.3 * jax.random.normal(k_w, last.weight.shape), 0.3 * jax.random.normal(k_b, last.bias.shape))
    network = eqx.tree_at(lambda n: (n.layers[-1].weight, n.layers[-1].bias), network, weights)
    return entropy.EntropyModel(network, SDE, 1e-3)


def test_guided_flow_on_a_network_is_deterministic_and_reuses_the_compilation():
    model = _network_field(jax.random.key(8))
    x_T = jax.random.normal(jax.random.key(9), (64, 3))
    y = jax.random.normal(jax.random.key(10), (64, 2))
    guided = guidance.guided_field(model.entropy_field, 2.0)
    first = sampling.probability_flow(guided, SDE, x_T, y=y)
    again = sampling.probability_flow(guidance.guided_field(model.entropy_field, 2.0), SDE, x_T, y=y)
    # Deterministic: same inputs, bit-identical outputs and the same step counts.
    assert np.all(np.isfinite(np.asarray(first.x)))
    np.testing.assert_array_equal(np.asarray(first.x), np.asarray(again.x))
    assert (first.num_steps, first.num_rejected_steps) == (again.num_steps, again.num_rejected_steps)
    # Guidance matters, and so does the condition.
    plain = sampling.probability_flow(model.entropy_field, SDE, x_T, y=y).x
    assert float(jnp.abs(first.x - plain).max()) > 1e-2
    unconditional = sampling.probability_flow(model.entropy_field, SDE, x_T).x
    assert float(jnp.abs(unconditional - plain).max()) > 1e-2
    # Weights are runtime arguments: a model with other weights reuses the compiled solver
    # (no new cache entry) and gives other samples.
    other = guidance.guided_field(_network_field(jax.random.key(11)).entropy_field, 2.0)
    size = backend_compilations()
    moved = sampling.probability_flow(other, SDE, x_T, y=y).x
    assert backend_compilations() == size
    assert float(jnp.abs(moved - first.x).max()) > 1e-2


@pytest.mark.parametrize("solver, num_steps", [("tsit5", None), ("tsit5", 10), ("heun", 7), ("euler", 5)])
def test_field_evaluation_count_is_exact(solver, num_steps):
    # num_field_evaluations is derived from diffrax's step counts; count the real calls.
    g = gaussian.linear_1d(2.0, var_x=1.0, noise_var=0.25)
    exact = partial(gaussian.exact_entropy_field, g, SDE)
    calls = []

    def counted(x, s, y):
        jax.debug.callback(lambda: calls.append(1))
        return exact(x, s, y)

    result = sampling.probability_flow(counted, SDE, jnp.ones((2, 1)), y=jnp.ones((2, 1)), solver=solver,
                                       num_steps=num_steps)
    jax.effects_barrier()
    assert result.num_field_evaluations == len(calls)
    if num_steps is not None:
        assert (result.num_steps, result.num_rejected_steps) == (num_steps, 0)


def test_fixed_step_heun_converges_to_the_adaptive_solution():
    # Against adaptive Tsit5 at rtol = atol = 1e-7 (error ~1e-7, far below Heun's errors of
    # ≥ 1e-4 here): doubling the steps must cut the error by ~4 (order 2; measured 3.8-3.9).
    # The bounds [3, 5] allow for the not-yet-asymptotic coarse grid; at 200 steps the
    # measured error is 1.8e-4. (Euler's order 1 shows in benchmarks/guidance_solvers.py.)
    g = gaussian.full_rank(jax.random.key(0), 4, 2, 1.0)
    field = guidance.guided_field(partial(gaussian.exact_entropy_field, g, SDE), 2.0)
    x_T, y = _basis_starts(g)
    reference = sampling.probability_flow(field, SDE, x_T, y=y, rtol=1e-7, atol=1e-7).x

    def error(solver, num_steps):
        result = sampling.probability_flow(field, SDE, x_T, y=y, solver=solver, num_steps=num_steps)
        assert (result.num_steps, result.solver) == (num_steps, solver)
        return float(jnp.abs(result.x - reference).max())

    heun = [error("heun", n) for n in (50, 100, 200)]
    for coarse, fine in zip(heun, heun[1:]):
        assert 3.0 < coarse / fine < 5.0, heun
    assert heun[-1] < 1e-3


def test_flow_bad_arguments():
    field = lambda x, s, y: x  # noqa: E731
    x = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match="unknown solver"):
        sampling.probability_flow(field, SDE, x, solver="rk4")
    for solver in ("heun", "euler"):
        with pytest.raises(ValueError, match="num_steps"):
            sampling.probability_flow(field, SDE, x, solver=solver)
    with pytest.raises(ValueError, match="num_steps"):
        sampling.probability_flow(field, SDE, x, solver="heun", num_steps=0)
    for s_end in (-0.1, SDE.T, 2.0, float("nan")):
        with pytest.raises(ValueError, match="s_end"):
            sampling.probability_flow(field, SDE, x, s_end=s_end)
    with pytest.raises(ValueError, match="y must have the batch size"):
        sampling.probability_flow(field, SDE, x, y=jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match="x_T"):
        sampling.probability_flow(field, SDE, jnp.zeros(4))
    with pytest.raises(ValueError, match="rtol"):
        sampling.probability_flow(field, SDE, x, rtol=0.0)
    with pytest.raises(ValueError, match="decreasing"):
        sampling.probability_flow(field, SDE, x, saveat_s=[0.1, 0.5])
    with pytest.raises(ValueError, match="saveat_s"):
        sampling.probability_flow(field, SDE, x, s_end=0.2, saveat_s=[0.5, 0.1])
    with pytest.raises(ValueError, match="shape of x"):
        sampling.probability_flow(lambda x, s, y: x[:, :1], SDE, x)
    with pytest.raises(ValueError, match="sde"):
        sampling.probability_flow(field, None, x)
    # A field that cannot be integrated to the requested accuracy within max_steps.
    with pytest.raises(RuntimeError, match="max_steps"):
        sampling.probability_flow(lambda x, s, y: 1e3 * jnp.sin(1e3 * s)[:, None] * jnp.ones_like(x), SDE, x,
                                  max_steps=3)
