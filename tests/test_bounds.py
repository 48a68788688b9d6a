"""The label sandwich (kellynotes.bounds) against exact values."""

import numpy as np
import pytest

from kellynotes import bounds


def discrete_joint(rng, n):
    """X uniform on {0, 1, 2, 3}; Y | X with the known table below: exact I(X;Y) and posterior."""
    table = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    x = rng.integers(0, 4, n)
    y = np.array([rng.choice(3, p=table[i]) for i in x])
    p_y = table.mean(axis=0)
    exact = float(np.mean(np.sum(table * np.log(table / p_y), axis=1)))
    return x, y, table, exact


def test_barber_agakov_with_the_true_posterior_recovers_the_exact_information():
    rng = np.random.default_rng(0)
    x, y, table, exact = discrete_joint(rng, 20_000)
    bound = bounds.barber_agakov_bound(y, table[x])
    # With q the true posterior the bound is tight: only sampling error remains (4 s.e.).
    assert abs(bound.value - exact) < 4 * bound.stderr
    # A worse classifier (posterior flattened toward uniform) gives a lower bound, below I.
    flat = 0.5 * table[x] + 0.5 / 3
    assert bounds.barber_agakov_bound(y, flat).value < exact - 4 * bound.stderr


def test_label_entropy_and_sandwich():
    rng = np.random.default_rng(1)
    x, y, table, exact = discrete_joint(rng, 20_000)
    h = bounds.label_entropy(y)
    p = np.bincount(y) / y.size
    assert h.value == pytest.approx(-np.sum(p * np.log(p)), abs=1e-12)  # the plug-in, exactly
    sandwich = bounds.label_sandwich(y, log_probabilities=np.log(table[x]))
    assert sandwich.lower.value <= sandwich.upper.value <= sandwich.log_num_classes + 1e-12
    assert sandwich.contains(exact) and not sandwich.contains(sandwich.upper.value + 1.0)
    assert sandwich.accuracy == pytest.approx(np.mean(np.argmax(table[x], axis=1) == y))
    assert sandwich.cross_entropy == pytest.approx(-np.mean(np.log(table[x, y])))


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 3, 3]), r"classes \[2\] never occur"),
    (np.array([-1, 0, 1]), "minimum of -1"),
    (np.array([0.0, 1.0]), "must be integers"),
    (np.array([[0, 1]]), "shape"),
])
def test_bad_labels_are_named(labels, message):
    with pytest.raises(ValueError, match=message):
        bounds.label_entropy(labels)


def test_bad_probabilities_are_named():
    y = np.array([0, 1, 1, 0])
    good = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match="rows .* sum to"):
        bounds.barber_agakov_bound(y, good * 1.2)
    with pytest.raises(ValueError, match=r"shape \(N=4, K=2\)"):
        bounds.barber_agakov_bound(y, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="exactly one"):
        bounds.barber_agakov_bound(y, good, log_probabilities=np.log(good))
    with pytest.raises(ValueError, match="below num_classes"):
        bounds.barber_agakov_bound(np.array([0, 2, 1, 0]), good)
