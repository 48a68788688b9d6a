"""Exact classifier-free guidance of the joint Gaussian against independent computations."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE
from scipy.integrate import solve_ivp

from kellynotes import gaussian, guidance


@pytest.fixture(scope="module")
def joint():
    return gaussian.full_rank(jax.random.key(0), dim_x=6, dim_y=3, noise_std=1.0)


def test_no_guidance_reproduces_the_data(joint):
    exact = guidance.guided_gaussian(joint, 0.0, SDE)
    # The flow is solved with rtol 1e-10 from the exact p_T(x|y): agreement to 1e-9
    # leaves a margin of 10 over the solver tolerance.
    np.testing.assert_allclose(exact.cov_x_given_y, joint.cov_x_given_y, atol=1e-9)
    np.testing.assert_allclose(exact.gain, joint.gain, atol=1e-9)
    assert exact.mutual_information() == pytest.approx(gaussian.mutual_information(joint), abs=1e-8)
    assert exact.kl_from(joint) == pytest.approx(0.0, abs=1e-8)


def test_guidance_raises_information_and_distorts_the_marginal(joint):
    results = [guidance.guided_gaussian(joint, w, SDE) for w in (0.0, 1.0, 3.0)]
    information = [r.mutual_information() for r in results]
    assert information[0] < information[1] < information[2]
    assert 0 < results[1].kl_from(joint) < results[2].kl_from(joint)
    # Forward noise at s caps what an estimator integrating from s can see.
    for r in results[1:]:
        assert r.noised_mutual_information(SDE, 1e-3) < r.mutual_information()
    alpha, var = float(SDE.alpha(1e-3)), float(SDE.variance(1e-3))
    eye = np.eye(joint.dim_x)
    direct = 0.5 * (np.linalg.slogdet(alpha * joint.cov_x + var * eye)[1]
                    - np.linalg.slogdet(alpha * joint.cov_x_given_y + var * eye)[1])
    # alpha and var come from float32 here: 1e-5 relative covers that round-off.
    assert results[0].noised_mutual_information(SDE, 1e-3) == pytest.approx(direct, rel=1e-5)


def test_one_dimensional_closed_form_matches_integrated_samples():
    """Integrate the guided probability-flow ODE sample by sample in float64 with scalar
    formulas written out here (independent of the module), and compare moments."""
    a, var_x, noise_var, w = 1.5, 1.0, 0.5, 2.0
    g = gaussian.linear_1d(a, var_x, noise_var)
    exact = guidance.guided_gaussian(g, w, SDE)
    k = a * var_x / (a * a * var_x + noise_var)  # E[X|y] = k y
    c = var_x - k * a * var_x  # Var(X|y)

    def schedule(s):
        log_alpha = -0.1 * s - 0.5 * 19.9 * s * s
        return np.exp(log_alpha), -np.expm1(log_alpha), 0.1 + 19.9 * s

    def rhs(s, x, y):
        alpha, v, beta = schedule(s)
        e_cond = x - (x - np.sqrt(alpha) * k * y) / (alpha * c + v)
        e_marg = x - x / (alpha * var_x + v)
        return -0.5 * beta * ((1 + w) * e_cond - w * e_marg)

    # The flow is affine, x0 = G y + F z for x_T = sqrt(α_T) k y + sqrt(α_T c + 1 - α_T) z, so two
    # solves give G (y = 1, z = 0) and F (y = 0, z = 1), and Var(X | y) = F².
    alpha_T, v_T, _ = schedule(1.0)

    def flow(x_T, y):
        return solve_ivp(rhs, (1.0, 0.0), [x_T], args=(y,), method="Radau", rtol=1e-11, atol=1e-13).y[0, -1]

    gain = flow(np.sqrt(alpha_T) * k, 1.0)
    spread = flow(np.sqrt(alpha_T * c + v_T), 0.0)
    # Both solvers run at rtol <= 1e-10: 1e-7 relative is loose against them and tight
    # against any mistake in the formulas (w enters at order one).
    assert gain == pytest.approx(exact.gain[0, 0], rel=1e-7)
    assert spread**2 == pytest.approx(exact.cov_x_given_y[0, 0], rel=1e-7)


def test_guided_field_combines_conditional_and_unconditional(joint):
    field = partial(gaussian.exact_entropy_field, joint, SDE)
    x, y = joint.sample(jax.random.key(1), 16)
    s = jnp.full(16, 0.3)
    guided = guidance.guided_field(field, 2.0)
    np.testing.assert_allclose(guided(x, s, y), 3.0 * field(x, s, y) - 2.0 * field(x, s, None), rtol=1e-6)
    np.testing.assert_allclose(guidance.guided_field(field, 0.0)(x, s, y), field(x, s, y))
    np.testing.assert_allclose(guided(x, s, None), field(x, s, None))


@pytest.mark.parametrize("w", [-0.5, float("nan"), float("inf")])
def test_bad_guidance_weight(joint, w):
    with pytest.raises(ValueError, match="guidance weight"):
        guidance.guided_gaussian(joint, w, SDE)
    with pytest.raises(ValueError, match="guidance weight"):
        guidance.guided_field(lambda x, s, y: x, w)


def test_bad_end_time(joint):
    with pytest.raises(ValueError, match="s_end"):
        guidance.guided_gaussian(joint, 1.0, SDE, s_end=1.0)


def test_exact_guided_samples_have_the_exact_moments(joint):
    law = guidance.guided_gaussian(joint, 2.0, SDE)
    n = 200_000
    x, y = law.sample(jax.random.key(3), n)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = law.cov_x
    # Standard error of a sample covariance entry: sqrt((C_ii C_jj + C_ij²) / n); 5 of them
    # bounds all 21 distinct entries with room to spare at a fixed seed.
    stderr = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(x.T) - cov) < 5 * stderr)
    assert x.shape == (n, joint.dim_x) and y.shape == (n, joint.dim_y)
