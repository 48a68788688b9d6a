"""The VP forward process (kellynotes.sde) against float64 references and simulations.

VPSDE computes in JAX's default float32 (relative precision 6e-8); references are
float64 NumPy evaluations of the same formulas. Tolerances are stated where used.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SDE, Z_MAX

from kellynotes.sde import VPSDE, as_vpsde

# A float32 result after a handful of operations is within a few ulps (~1e-7 relative)
# of the float64 value; 2e-6 leaves an order of magnitude to spare.
F32 = 2e-6
S = np.array([1e-6, 1e-4, 1e-2, 0.1, 0.3, 0.5, 0.8, 1.0])


def log_alpha64(s, sde=SDE):
    s = np.asarray(s, np.float64)
    return -sde.beta_min * s - 0.5 * (sde.beta_max - sde.beta_min) * s**2


def test_schedule_matches_float64_reference():
    la = log_alpha64(S)
    assert np.allclose(SDE.beta(S), SDE.beta_min + S * (SDE.beta_max - SDE.beta_min), rtol=F32)
    assert np.allclose(SDE.log_alpha(S), la, rtol=F32)
    assert np.allclose(SDE.alpha(S), np.exp(la), rtol=F32)
    assert np.allclose(SDE.variance(S), -np.expm1(la), rtol=F32)
    assert np.allclose(SDE.mean_coefficient(S), np.exp(0.5 * la), rtol=F32)
    assert np.allclose(SDE.std(S), np.sqrt(-np.expm1(la)), rtol=F32)
    # alpha(0) = 1, and alpha + (1 - alpha) = 1 up to float32 rounding.
    assert float(SDE.alpha(0.0)) == 1.0 and float(SDE.variance(0.0)) == 0.0
    assert np.allclose(SDE.alpha(S) + SDE.variance(S), 1.0, atol=1e-6)
    assert np.array_equal(SDE.equilibrium_score(jnp.arange(3.0)), -jnp.arange(3.0))


def test_float64_schedule_is_the_same_formula_in_float64():
    schedule = SDE.float64
    la = log_alpha64(S)
    # The same expressions evaluated by NumPy in float64: equal to the hand-written reference up to
    # float64 rounding (1e-15 relative), and to the float32 JAX methods within F32.
    assert np.allclose(schedule.log_alpha(S), la, rtol=1e-15)
    assert np.allclose(schedule.log_alpha(S), SDE.log_alpha(S), rtol=F32)
    assert np.allclose(schedule.beta(S), SDE.beta(S), rtol=F32)
    beta, alpha, variance = schedule.schedule(S)
    assert np.allclose(alpha, np.exp(la), rtol=1e-15) and np.allclose(variance, -np.expm1(la), rtol=1e-15)
    assert np.allclose(beta, SDE.beta_min + S * (SDE.beta_max - SDE.beta_min), rtol=1e-15)
    lam = schedule.log_snr(S)
    assert lam.dtype == np.float64
    assert np.allclose(lam, SDE.log_snr(S), rtol=1e-5)  # float32 log of a difference: ~1e-6 relative
    assert np.allclose(schedule.s_from_log_snr(lam), S, rtol=1e-13)  # float64 round trip
    assert np.allclose(schedule.s_from_log_snr(lam), SDE.s_from_log_snr(lam.astype(np.float32)), rtol=1e-5)


@pytest.mark.parametrize("s, problem", [([0.5, float("nan")], "NaN"), ([-0.1], r"\[0, T"), ([1.5], r"\[0, T"),
                                        ("soon", "numeric")])
def test_float64_times_name_the_problem(s, problem):
    with pytest.raises(ValueError, match=rf"s_min.*{problem}|{problem}.*s_min|s_min must be {problem}"):
        SDE.float64.times(s, "s_min")


def test_as_vpsde_rejects_what_is_not_a_process():
    assert as_vpsde(SDE) is SDE
    with pytest.raises(ValueError, match="sde must be a VPSDE"):
        as_vpsde("vp")


def test_variance_near_zero_needs_expm1():
    # At s = 1e-6, 1 - alpha ~ 1e-7: float32 "1 - exp(log_alpha)" keeps only the
    # last bits of 1.0 and is off by ~20%, while expm1 stays at float32 precision.
    for s in [1e-7, 1e-6, 1e-5]:
        reference = -np.expm1(log_alpha64(s))
        assert float(SDE.variance(s)) == pytest.approx(reference, rel=F32)
    naive = 1.0 - float(SDE.alpha(1e-6))
    assert abs(naive / -np.expm1(log_alpha64(1e-6)) - 1) > 0.05


def test_log_snr_its_inverse_and_derivative():
    la = log_alpha64(S)
    reference = la - np.log(-np.expm1(la))
    lam = SDE.log_snr(S)
    # log-SNR passes through 0 near s ~ 0.2, so compare with an absolute floor: the
    # float32 error is ~1e-7 |log alpha| + 1e-7 |log(1 - alpha)| <= 2e-6 here.
    assert np.allclose(lam, reference, rtol=F32, atol=2e-6)
    assert np.all(np.diff(np.asarray(lam)) < 0)  # decreasing in s
    # Round trip s -> lambda -> s. Rounding lambda by ~1e-7 |lambda| moves s by
    # |ds/dlambda| 1e-7 |lambda| = (1 - alpha)/beta 1e-7 |lambda|, <~1e-6 relative.
    assert np.allclose(SDE.s_from_log_snr(lam), S, rtol=1e-5)
    assert np.allclose(SDE.s_from_log_snr(reference.astype(np.float32)), S, rtol=1e-5)
    # dlambda/ds = -beta/(1 - alpha) against a central difference of log_snr (float32,
    # h = 1e-3: truncation ~h^2 |lambda'''|/6 and rounding ~1e-7 |lambda|/h give
    # <~1e-4 relative on s in [0.1, 0.9]; 1e-3 is safe) ...
    s = np.linspace(0.1, 0.9, 9).astype(np.float32)
    h = np.float32(1e-3)
    finite_difference = (np.asarray(SDE.log_snr(s + h), np.float64) - np.asarray(SDE.log_snr(s - h), np.float64)) / (
        2 * float(h)
    )
    assert np.allclose(SDE.dlog_snr_ds(s), finite_difference, rtol=1e-3)
    # ... and against autodiff everywhere, including near s = 0 where it grows like 1/s.
    autodiff = jax.vmap(jax.grad(SDE.log_snr))(jnp.asarray(S, jnp.float32))
    assert np.allclose(SDE.dlog_snr_ds(S), autodiff, rtol=1e-4)
    assert np.allclose(SDE.dlog_snr_ds(S), -SDE.beta(S) / -np.expm1(log_alpha64(S)), rtol=F32)


def test_perturb_draws_from_the_kernel():
    n, s = 100_000, 0.3
    x0 = jnp.broadcast_to(jnp.array([2.0, -1.0, 0.5]), (n, 3))
    x_s, z = SDE.perturb(jax.random.PRNGKey(0), x0, jnp.full(n, s))
    assert x_s.shape == x0.shape == z.shape and x_s.dtype == jnp.float32
    mean, var = float(SDE.mean_coefficient(s)), float(SDE.variance(s))
    # x_s = sqrt(alpha) x0 + sqrt(1 - alpha) z exactly (float32 rounding only).
    assert np.allclose(x_s, mean * x0 + np.sqrt(var) * z, atol=1e-6)
    x_s = np.asarray(x_s, np.float64)
    # Mean: SE sqrt(var/n). Variance of a Gaussian sample: SE var sqrt(2/n).
    assert np.all(np.abs(x_s.mean(axis=0) - mean * np.array([2.0, -1.0, 0.5])) < Z_MAX * np.sqrt(var / n))
    assert np.all(np.abs(x_s.var(axis=0) - var) < Z_MAX * var * np.sqrt(2 / n))
    # A per-sample time array broadcasts over the feature axis.
    times = jnp.linspace(0.0, 1.0, 5)
    x_t, z_t = SDE.perturb(jax.random.PRNGKey(1), jnp.ones((5, 2)), times)
    expected = SDE.mean_coefficient(times)[:, None] + SDE.std(times)[:, None] * z_t
    assert np.allclose(x_t, expected, atol=1e-6)
    assert np.allclose(x_t[0], 1.0)  # s = 0: no noise


@pytest.mark.parametrize("s_min, s_max", [(1e-4, None), (1e-3, 0.5), (0.2, 0.9)])
def test_importance_weights_integrate_beta(s_min, s_max):
    n = 100_000
    s, weight = SDE.sample_time_uniform_log_snr(jax.random.PRNGKey(2), (n,), s_min, s_max)
    upper = SDE.T if s_max is None else s_max
    s = np.asarray(s, np.float64)
    # float32 round trip through log-SNR: endpoints hold to ~1e-6 relative.
    assert s.min() >= s_min * (1 - 1e-5) and s.max() <= upper * (1 + 1e-5)
    # int_{s_min}^{s_max} beta ds = log alpha(s_min) - log alpha(s_max), exactly.
    values = np.asarray(weight, np.float64) * np.asarray(SDE.beta(s), np.float64)
    exact = log_alpha64(s_min) - log_alpha64(upper)
    se = values.std(ddof=1) / np.sqrt(n)
    assert abs(values.mean() - exact) < Z_MAX * se
    assert se < 0.05 * exact  # the test has power: a 20% error would be >4 SE
    # And a constant: E[weight] = s_max - s_min.
    w = np.asarray(weight, np.float64)
    assert abs(w.mean() - (upper - s_min)) < Z_MAX * w.std(ddof=1) / np.sqrt(n)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(beta_min=0.0), "beta_min"),
        (dict(beta_min=-1.0), "beta_min"),
        (dict(beta_min=float("nan")), "beta_min"),
        (dict(beta_min=5.0, beta_max=1.0), "beta_max"),
        (dict(T=0.0), "T"),
        (dict(T=float("nan")), "T"),
    ],
)
def test_bad_schedules_raise(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        VPSDE(**kwargs)


@pytest.mark.parametrize("s_min, s_max", [(0.0, None), (-0.1, None), (0.5, 0.5), (0.6, 0.2), (0.1, 1.5)])
def test_bad_time_ranges_raise(s_min, s_max):
    with pytest.raises(ValueError, match=r"s_min.*s_max"):
        SDE.sample_time_uniform_log_snr(jax.random.PRNGKey(0), (4,), s_min, s_max)


def test_vpsde_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SDE.T = 2.0
