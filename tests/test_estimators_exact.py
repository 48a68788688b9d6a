"""The estimators of kellynotes.entropy against closed forms of the joint Gaussian:
fed the exact fields they must recover the truth; a short training run must land near it."""

from functools import partial

import jax
import numpy as np
import pytest
from helpers import SDE, Z_MAX

import kellynotes
from kellynotes import entropy, gaussian

S_MIN = 1e-3


@pytest.fixture(scope="module")
def joint():
    g = gaussian.full_rank(jax.random.key(0), dim_x=8, dim_y=4, noise_std=0.6)
    x, y = g.sample(jax.random.key(1), 40_000)
    return g, partial(gaussian.exact_entropy_field, g, SDE), x, y


def within(estimate, exact):
    return abs(estimate.value - exact) < Z_MAX * estimate.stderr


def test_exact_fields_recover_the_cut_closed_forms(joint):
    g, field, x, y = joint
    options = dict(key=jax.random.key(2), s_min=S_MIN, num_samples=40_000)
    assert within(entropy.neural_entropy(field, SDE, x, **options), gaussian.total_entropy_x(g, SDE, S_MIN))
    assert within(entropy.neural_entropy(field, SDE, x, y=y, **options),
                  gaussian.total_entropy_x_given_y(g, SDE, S_MIN))
    truth = gaussian.mutual_information(g, SDE, S_MIN)
    assert within(entropy.mutual_information_minde(field, SDE, x, y, **options), truth)
    assert within(entropy.mutual_information_entropy_difference(field, SDE, x, y, **options), truth)


def test_exact_fields_recover_the_rate_curves(joint):
    g, field, x, y = joint
    s_grid = np.array([0.003, 0.05, 0.3, 0.8])
    curves = {
        "x": (entropy.neural_entropy_rate(field, SDE, x, s_grid, key=jax.random.key(3)),
              gaussian.entropy_rate_x(g, SDE, s_grid)),
        "x|y": (entropy.neural_entropy_rate(field, SDE, x, s_grid, key=jax.random.key(3), y=y),
                gaussian.entropy_rate_x_given_y(g, SDE, s_grid)),
        "I": (entropy.mutual_information_rate(field, SDE, x, y, s_grid, key=jax.random.key(3)),
              gaussian.mutual_information_rate(g, SDE, s_grid)),
    }
    for name, (curve, exact) in curves.items():
        assert np.all(np.abs(curve.rate - exact) < Z_MAX * curve.stderr), name


def test_short_training_run_estimates_mutual_information():
    g = gaussian.full_rank(jax.random.key(4), dim_x=5, dim_y=3, noise_std=1.0)
    x, y = g.sample(jax.random.key(5), 20_000)
    config = kellynotes.VectorInformationConfig(train=entropy.TrainConfig(steps=2000, batch_size=512, progress=False),
                                                num_samples=50_000, rate_points=8)
    result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(6), config=config)
    truth = gaussian.mutual_information(g, SDE, S_MIN)
    # With the default one network and copula map, 2000 steps were measured at +1.5% (MINDE) and +3.5% (Eq. 52);
    # x is flattened here (smallest correlation eigenvalue 0.03), so the default whitens it: +1.6% and -0.2%;
    # 8% of the truth allows for that training bias plus 4 standard errors of Monte
    # Carlo, and is far below what a broken estimator gives (0, or several times the truth).
    assert abs(result.value - truth) < 0.08 * truth + Z_MAX * result.stderr
    assert abs(result.entropy_difference.value - truth) < 0.08 * truth + Z_MAX * result.entropy_difference.stderr
