"""The Kelly module against closed forms (float64, so exact up to ~1e-12) and
simulations against exact rates at fixed seeds."""

import jax
import numpy as np
import pytest
from helpers import Z_MAX

from kellynotes import kelly

LOADED = np.array([0.35, 0.25, 0.15, 0.10, 0.10, 0.05])
# Closed forms are float64 sums of six terms: agreement to 1e-12 leaves ~4 orders
# of magnitude above round-off (~1e-16 per term).
EXACT = 1e-12


def random_distribution(rng, k=6):
    return rng.dirichlet(np.ones(k))


def test_entropy_of_fair_and_certain_dice():
    assert kelly.entropy(np.full(6, 1 / 6)) == pytest.approx(np.log2(6), abs=EXACT)
    assert kelly.entropy([0, 0, 1, 0, 0, 0]) == 0.0
    assert kelly.entropy(np.full(6, 1 / 6), base=np.e) == pytest.approx(np.log(6), abs=EXACT)


def test_kelly_doubling_rate_is_log_odds_minus_entropy():
    assert kelly.doubling_rate(LOADED, LOADED) == pytest.approx(np.log2(6) - kelly.entropy(LOADED), abs=EXACT)
    # Non-uniform odds: W* = sum p log2 o - H(X).
    odds = np.array([2.0, 4.0, 8.0, 8.0, 16.0, 16.0])
    assert kelly.doubling_rate(LOADED, LOADED, odds) == pytest.approx(
        np.sum(LOADED * np.log2(odds)) - kelly.entropy(LOADED), abs=EXACT
    )


def test_wrong_model_loses_exactly_the_kl_divergence():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = random_distribution(rng), random_distribution(rng)
        loss = kelly.doubling_rate(p, p) - kelly.doubling_rate(p, q)
        assert loss == pytest.approx(kelly.kl_divergence(p, q), abs=EXACT)
        assert loss >= 0


def test_fractional_kelly_matches_closed_form_and_is_below_full_kelly():
    for f in [0.0, 0.3, 0.7, 1.0]:
        closed_form = np.sum(LOADED * np.log2(1 - f + 6 * f * LOADED))
        assert (kelly.doubling_rate(LOADED, kelly.fractional_kelly_bets(LOADED, f))
                == pytest.approx(closed_form, abs=EXACT))
    rates = [kelly.doubling_rate(LOADED, f * LOADED) for f in np.linspace(0, 1, 21)]
    assert np.argmax(rates) == 20


def test_alternatives_grow_slower_than_kelly():
    best = kelly.doubling_rate(LOADED, kelly.kelly_bets(LOADED))
    assert kelly.doubling_rate(LOADED, kelly.uniform_bets(6)) == pytest.approx(0.0, abs=EXACT)
    assert kelly.doubling_rate(LOADED, kelly.mode_bets(LOADED)) == float("-inf")
    assert kelly.doubling_rate(LOADED, kelly.fractional_kelly_bets(LOADED, 0.5)) < best
    assert best > 0


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_side_information_gain_is_mutual_information(noise):
    channel = kelly.symmetric_channel(6, noise)
    joint = kelly.joint_distribution(LOADED, channel)
    gain = kelly.doubling_rate(LOADED, kelly.posterior(LOADED, channel), channel=channel) - kelly.doubling_rate(
        LOADED, LOADED
    )
    information = kelly.mutual_information(joint)
    assert gain == pytest.approx(information, abs=EXACT)
    assert information == pytest.approx(kelly.mutual_information(joint.T), abs=EXACT)  # symmetric
    if noise == 0.0:
        assert information == pytest.approx(kelly.entropy(LOADED), abs=EXACT)
        assert kelly.doubling_rate(LOADED, kelly.posterior(LOADED, channel), channel=channel) == pytest.approx(
            np.log2(6), abs=EXACT
        )
    if noise == 1.0:
        assert information == pytest.approx(0.0, abs=EXACT)


def test_mutual_information_of_a_binary_symmetric_channel():
    # Uniform input through a BSC with flip probability e: I = 1 - h2(e) bits.
    e = 0.11
    joint = 0.5 * np.array([[1 - e, e], [e, 1 - e]])
    h2 = -e * np.log2(e) - (1 - e) * np.log2(1 - e)
    assert kelly.mutual_information(joint) == pytest.approx(1 - h2, abs=EXACT)


def test_posterior_rows_are_distributions_even_for_impossible_signals():
    p = np.array([0.5, 0.5, 0.0])
    post = kelly.posterior(p, kelly.symmetric_channel(3, 0.0))
    np.testing.assert_allclose(post.sum(axis=1), 1.0, atol=EXACT)
    np.testing.assert_allclose(post[2], p)  # y = 2 never happens: prior


def z_score(estimate, stderr, exact):
    return abs(estimate - exact) / stderr


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("strategy", ["kelly", "half", "wrong"])
def test_simulated_rate_matches_exact_rate(seed, strategy):
    bets = {"kelly": LOADED, "half": 0.5 * LOADED, "wrong": LOADED[::-1]}[strategy]
    run = kelly.simulate_wealth(jax.random.key(seed), LOADED, bets, rounds=5000, paths=40)
    estimate, stderr = run.doubling_rate()
    assert z_score(estimate, stderr, kelly.doubling_rate(LOADED, bets)) < Z_MAX


@pytest.mark.parametrize("noise", [0.2, 0.6])
def test_simulated_side_information_gain(noise):
    channel = kelly.symmetric_channel(6, noise)
    key = jax.random.key(3)
    informed = kelly.simulate_wealth(key, LOADED, kelly.posterior(LOADED, channel), rounds=5000, paths=40,
                                     channel=channel)
    blind = kelly.simulate_wealth(key, LOADED, LOADED, rounds=5000, paths=40, channel=channel)
    gain, stderr = kelly.rate_difference(informed, blind)
    assert z_score(gain, stderr, kelly.mutual_information(kelly.joint_distribution(LOADED, channel))) < Z_MAX


def test_simulation_is_deterministic_per_key_and_tracks_ruin():
    a = kelly.simulate_wealth(jax.random.key(7), LOADED, LOADED, rounds=100, paths=3)
    b = kelly.simulate_wealth(jax.random.key(7), LOADED, LOADED, rounds=100, paths=3)
    c = kelly.simulate_wealth(jax.random.key(8), LOADED, LOADED, rounds=100, paths=3)
    np.testing.assert_array_equal(a.log2_wealth, b.log2_wealth)
    assert not np.array_equal(a.log2_wealth, c.log2_wealth)
    assert a.log2_wealth.shape == (3, 101) and np.all(a.log2_wealth[:, 0] == 0)
    ruin = kelly.simulate_wealth(jax.random.key(7), LOADED, kelly.mode_bets(LOADED), rounds=200, paths=5)
    assert ruin.ruined.all()
    assert ruin.doubling_rate() == (float("-inf"), 0.0)
    with pytest.raises(ValueError, match="ruined"):
        kelly.rate_difference(a, kelly.simulate_wealth(jax.random.key(7), LOADED, kelly.mode_bets(LOADED),
                                                       rounds=100, paths=3))


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: kelly.entropy([0.5, 0.6, -0.1]), "p"),
        (lambda: kelly.entropy([0.5, 0.6]), "p"),
        (lambda: kelly.entropy([[0.5, 0.5]]), "p"),
        (lambda: kelly.entropy([0.5, np.nan]), "p"),
        (lambda: kelly.kl_divergence([0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]), "q"),
        (lambda: kelly.symmetric_channel(6, 1.5), "noise"),
        (lambda: kelly.symmetric_channel(6, -0.1), "noise"),
        (lambda: kelly.symmetric_channel(6, float("nan")), "noise"),
        (lambda: kelly.symmetric_channel(0, 0.1), "num_outcomes"),
        (lambda: kelly.joint_distribution(LOADED, kelly.symmetric_channel(5, 0.1)), "channel"),
        (lambda: kelly.joint_distribution(LOADED, np.ones((6, 6))), "channel"),
        (lambda: kelly.fractional_kelly_bets(LOADED, 1.2), "fraction"),
        (lambda: kelly.doubling_rate([0.2, 0.3, 0.6], [0.2, 0.3, 0.5]), "p_x"),
        (lambda: kelly.doubling_rate(LOADED, [0.5, 0.5]), "bets"),
        (lambda: kelly.doubling_rate(LOADED, LOADED * 1.5), "bets"),
        (lambda: kelly.doubling_rate(LOADED, -LOADED), "bets"),
        (lambda: kelly.doubling_rate(LOADED, np.tile(LOADED, (6, 1))), "bets"),
        (lambda: kelly.doubling_rate(LOADED, np.tile(LOADED, (5, 1)), channel=np.eye(6)), "bets"),
        (lambda: kelly.doubling_rate(LOADED, LOADED, odds=[6.0] * 5), "odds"),
        (lambda: kelly.doubling_rate(LOADED, LOADED, odds=[6.0] * 5 + [-1.0]), "odds"),
        (lambda: kelly.simulate_wealth(jax.random.key(0), LOADED, LOADED, rounds=0, paths=1), "rounds"),
        (lambda: kelly.simulate_wealth(jax.random.key(0), LOADED, LOADED, rounds=10, paths=2.5), "paths"),
        (lambda: kelly.entropy(LOADED, base=1.0), "base"),
    ],
)
def test_invalid_input_raises_value_error_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        call()


def test_rate_difference_needs_matching_shapes():
    a = kelly.simulate_wealth(jax.random.key(0), LOADED, LOADED, rounds=10, paths=2)
    b = kelly.simulate_wealth(jax.random.key(0), LOADED, LOADED, rounds=11, paths=2)
    with pytest.raises(ValueError, match="same size"):
        kelly.rate_difference(a, b)
