r"""The Kelly criterion: betting on a die, with and without side information.

One round of the game: a die shows face $x$ with probability $p(x)$ and the house
pays $o(x)$-for-1 on it. A gambler keeps a fraction $c$ of her wealth as cash and
stakes $b(x)$ on each face, with $c + \sum_x b(x) = 1$, so her wealth is multiplied
by $S(x) = c + b(x)\,o(x)$. After $n$ independent rounds $V_n \approx 2^{nW} V_0$,
with the *doubling rate* (bits per round)

$$W(b, p) = \sum_x p(x) \log_2 S(x).$$

With fair odds ($\sum_x 1/o(x) = 1$, e.g. 6-for-1 on a die) the best bets are
proportional, $b = p$ (Kelly, 1956; Cover & Thomas, 2006, ch. 6), giving
$W^* = \sum_x p(x)\log_2 o(x) - H(X)$, i.e. $\log_2 6 - H(X)$ for the die.
Betting $b = q$ instead loses exactly $D(p\,\|\,q)$ bits per round. A signal $Y$
from a channel $p(y\mid x)$ lets the gambler bet $b(x\mid y) = p(x\mid y)$ and raises
the doubling rate by $I(X;Y)$ (Eq. 1 of *Diffusion Models are Kelly Gamblers*).

Closed forms are computed in float64 NumPy; simulations draw outcomes with JAX
from an explicit PRNG key. Every quantity is in **bits** unless ``base`` says
otherwise (``base=np.e`` gives nats).
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check

__all__ = [
    "WealthPaths",
    "conditional_entropy",
    "doubling_rate",
    "entropy",
    "fair_odds",
    "fractional_kelly_bets",
    "joint_distribution",
    "kelly_bets",
    "kl_divergence",
    "loaded_die",
    "mode_bets",
    "mutual_information",
    "posterior",
    "rate_difference",
    "simulate_wealth",
    "symmetric_channel",
    "uniform_bets",
]


def _log(values: np.ndarray, base: float) -> np.ndarray:
    return np.log(values) / np.log(base)


def _check_base(base: float) -> float:
    base = float(base)
    if not base > 1.0:
        raise ValueError(f"base must be > 1 (2 for bits, e for nats), got {base}")
    return base


# --------------------------------------------------------------------------- #
# Information measures of discrete distributions
# --------------------------------------------------------------------------- #


def entropy(p: Float[np.ndarray, " K"], *, base: float = 2.0) -> float:
    r"""Shannon entropy $H(X) = -\sum_x p(x)\log p(x)$ (bits for base 2)."""
    p = check.probability_vector(p, "p")
    base = _check_base(base)
    nonzero = p[p > 0]
    return float(-np.sum(nonzero * _log(nonzero, base)))


def conditional_entropy(joint: Float[np.ndarray, "K_x K_y"], *, base: float = 2.0) -> float:
    r"""$H(X\mid Y) = -\sum_{x,y} p(x,y)\log p(x\mid y)$ for ``joint[x, y]`` $= p(x,y)$."""
    joint = _joint(joint)
    base = _check_base(base)
    p_y = joint.sum(axis=0)
    mask = joint > 0
    p_x_given_y = np.where(mask, joint / np.where(p_y > 0, p_y, 1.0)[None, :], 1.0)
    return float(-np.sum(joint[mask] * _log(p_x_given_y[mask], base)))


def mutual_information(joint: Float[np.ndarray, "K_x K_y"], *, base: float = 2.0) -> float:
    r"""$I(X;Y) = H(X) - H(X\mid Y)$ for ``joint[x, y]`` $= p(x,y)$; never negative."""
    joint = _joint(joint)
    value = entropy(joint.sum(axis=1), base=base) - conditional_entropy(joint, base=base)
    return max(value, 0.0)  # clip float64 round-off (|error| ~ 1e-16) below zero


def kl_divergence(p: Float[np.ndarray, " K"], q: Float[np.ndarray, " K"], *, base: float = 2.0) -> float:
    r"""$D(p\,\|\,q) = \sum_x p(x)\log\frac{p(x)}{q(x)}$; infinite if $q(x)=0 < p(x)$."""
    p = check.probability_vector(p, "p")
    q = check.probability_vector(q, "q")
    _same_length(p, "p", q, "q")
    base = _check_base(base)
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(np.sum(p[support] * _log(p[support] / q[support], base)))


def _joint(joint) -> np.ndarray:
    joint = check.as_float_array(joint, "joint", ndim=2)
    if np.any(joint < 0):
        raise ValueError("joint has negative probabilities")
    if abs(joint.sum() - 1.0) > check.SUM_TOLERANCE:
        raise ValueError(f"joint must sum to 1, sums to {joint.sum():.8g}")
    return joint / joint.sum()


def _same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"{a_name} and {b_name} must cover the same outcomes: "
            f"{a_name} has {a.shape[-1]}, {b_name} has {b.shape[-1]}"
        )


# --------------------------------------------------------------------------- #
# The game: dice, odds and channels
# --------------------------------------------------------------------------- #


def fair_odds(num_outcomes: int) -> Float[np.ndarray, " K"]:
    """The odds a house offers believing every outcome equally likely: K-for-1."""
    k = check.positive_int(num_outcomes, "num_outcomes")
    return np.full(k, float(k))


def loaded_die(tilt: float, num_faces: int = 6) -> Float[np.ndarray, " K"]:
    r"""A die with $p(x) \propto e^{-\text{tilt}\,x}$ for faces $x = 0, \dots, K-1$.

    ``tilt = 0`` is a fair die; larger tilts favour the low faces.
    """
    tilt = check.in_closed_interval(tilt, "tilt", 0.0, 50.0)
    k = check.positive_int(num_faces, "num_faces")
    weights = np.exp(-tilt * np.arange(k))
    return weights / weights.sum()


def symmetric_channel(num_outcomes: int, noise: float) -> Float[np.ndarray, "K K"]:
    r"""A channel that reports the true face with probability $1-\varepsilon$ and a
    uniformly random face (possibly the true one) with probability $\varepsilon$.

    Returns ``channel[x, y]`` $= p(y\mid x) = (1-\varepsilon)\,\delta_{xy} + \varepsilon/K$.
    ``noise = 0`` is a perfect channel, ``noise = 1`` carries no information.
    """
    k = check.positive_int(num_outcomes, "num_outcomes")
    eps = check.in_closed_interval(noise, "noise", 0.0, 1.0)
    return (1.0 - eps) * np.eye(k) + eps / k


def joint_distribution(
    p_x: Float[np.ndarray, " K_x"], channel: Float[np.ndarray, "K_x K_y"]
) -> Float[np.ndarray, "K_x K_y"]:
    r"""$p(x, y) = p(x)\,p(y\mid x)$ as ``joint[x, y]``."""
    p_x = check.probability_vector(p_x, "p_x")
    channel = check.stochastic_matrix(channel, "channel")
    if channel.shape[0] != p_x.shape[0]:
        raise ValueError(
            f"channel must have one row per outcome of p_x: p_x has {p_x.shape[0]} "
            f"outcomes, channel has shape {channel.shape}"
        )
    return p_x[:, None] * channel


def posterior(
    p_x: Float[np.ndarray, " K_x"], channel: Float[np.ndarray, "K_x K_y"]
) -> Float[np.ndarray, "K_y K_x"]:
    r"""Bayes' rule, $p(x\mid y) = p(x)p(y\mid x)/p(y)$, as ``posterior[y, x]``.

    A signal that can never be received ($p(y) = 0$) gets the prior $p(x)$, so the
    result is always a valid row-stochastic matrix.
    """
    joint = joint_distribution(p_x, channel)
    p_y = joint.sum(axis=0)
    prior = joint.sum(axis=1)
    rows = np.where(p_y[:, None] > 0, joint.T / np.where(p_y > 0, p_y, 1.0)[:, None], prior[None, :])
    return rows


# --------------------------------------------------------------------------- #
# Betting strategies: stakes b(x) (or b(x|y)), cash is whatever is left
# --------------------------------------------------------------------------- #


def kelly_bets(p: Float[np.ndarray, " K"]) -> Float[np.ndarray, " K"]:
    """Proportional betting, b(x) = p(x): everything staked, spread like the belief."""
    return check.probability_vector(p, "p").copy()


def fractional_kelly_bets(p: Float[np.ndarray, " K"], fraction: float) -> Float[np.ndarray, " K"]:
    """Stake ``fraction`` of wealth proportionally, b(x) = f p(x), and keep 1 - f as cash."""
    f = check.in_closed_interval(fraction, "fraction", 0.0, 1.0)
    return f * check.probability_vector(p, "p")


def mode_bets(p: Float[np.ndarray, " K"]) -> Float[np.ndarray, " K"]:
    """Everything on the most likely outcome (ruinous whenever another outcome can occur)."""
    p = check.probability_vector(p, "p")
    stakes = np.zeros_like(p)
    stakes[np.argmax(p)] = 1.0
    return stakes


def uniform_bets(num_outcomes: int) -> Float[np.ndarray, " K"]:
    """Equal stakes on every outcome: with fair odds this just returns the stake."""
    k = check.positive_int(num_outcomes, "num_outcomes")
    return np.full(k, 1.0 / k)


def _stakes_matrix(bets, num_outcomes: int, num_signals: int | None) -> np.ndarray:
    """Validate ``bets`` and return it as (signals, outcomes) (one row if no side information)."""
    bets = np.asarray(bets, dtype=np.float64)
    if bets.ndim == 1:
        bets = bets[None, :]
        expected_rows = 1
    elif bets.ndim == 2:
        if num_signals is None:
            raise ValueError(
                "bets has one row per signal (2-D), but no channel was given: "
                "pass channel=... or give 1-D bets"
            )
        expected_rows = bets.shape[0]
        if expected_rows != num_signals:
            raise ValueError(
                f"bets must have one row per channel output: channel has {num_signals} "
                f"outputs, bets has shape {bets.shape}"
            )
    else:
        raise ValueError(f"bets must be 1-D (outcomes) or 2-D (signals, outcomes), got shape {bets.shape}")
    if bets.shape[1] != num_outcomes:
        raise ValueError(
            f"bets must have one stake per outcome: p_x has {num_outcomes} outcomes, "
            f"bets has shape {bets.shape}"
        )
    if not np.all(np.isfinite(bets)):
        raise ValueError("bets contains NaN or infinite values")
    if np.any(bets < 0):
        raise ValueError("bets has negative stakes (short selling is not part of this game)")
    totals = bets.sum(axis=1)
    if np.any(totals > 1.0 + check.SUM_TOLERANCE):
        raise ValueError(f"bets stake more than the whole wealth: stakes sum to {totals.max():.8g} > 1")
    return bets


def _odds(odds, num_outcomes: int) -> np.ndarray:
    if odds is None:
        return fair_odds(num_outcomes)
    odds = check.as_float_array(odds, "odds", ndim=1)
    if odds.shape[0] != num_outcomes:
        raise ValueError(f"odds must have one entry per outcome ({num_outcomes}), got shape {odds.shape}")
    if np.any(odds <= 0):
        raise ValueError(f"odds must be positive, got {odds}")
    return odds


def _wealth_factors(p_x, bets, odds, channel):
    """Validated p(x), p(y|x) (or None) and the log2 wealth factor table [y, x]."""
    p_x = check.probability_vector(p_x, "p_x")
    k = p_x.shape[0]
    if channel is not None:
        channel = check.stochastic_matrix(channel, "channel")
        if channel.shape[0] != k:
            raise ValueError(
                f"channel must have one row per outcome of p_x: p_x has {k} outcomes, "
                f"channel has shape {channel.shape}"
            )
    stakes = _stakes_matrix(bets, k, None if channel is None else channel.shape[1])
    if channel is not None and stakes.shape[0] == 1:
        stakes = np.repeat(stakes, channel.shape[1], axis=0)  # bets that ignore the signal
    odds = _odds(odds, k)
    cash = np.clip(1.0 - stakes.sum(axis=1, keepdims=True), 0.0, None)
    factors = cash + stakes * odds[None, :]  # S(x | y), shape (signals, outcomes)
    with np.errstate(divide="ignore"):
        log2_factors = np.log2(factors)  # -inf where a bet leaves nothing: ruin
    return p_x, channel, log2_factors


def doubling_rate(p_x, bets, odds=None, *, channel=None) -> float:
    r"""Exact doubling rate in bits per round.

    Without ``channel``: $W = \sum_x p(x)\log_2\big(c + b(x)o(x)\big)$ for 1-D ``bets``.
    With ``channel[x, y]`` $= p(y\mid x)$ and ``bets[y, x]`` $= b(x\mid y)$:
    $W = \sum_{x,y} p(x)p(y\mid x)\log_2\big(c_y + b(x\mid y)o(x)\big)$.
    ``odds`` defaults to fair K-for-1 odds. Returns $-\infty$ when some outcome
    that can occur leaves the gambler with nothing.
    """
    p_x, channel, log2_factors = _wealth_factors(p_x, bets, odds, channel)
    weights = p_x[None, :] if channel is None else (p_x[:, None] * channel).T  # [y, x]
    support = weights > 0
    if np.any(np.isneginf(log2_factors[support])):
        return float("-inf")
    return float(np.sum(weights[support] * log2_factors[support]))


# --------------------------------------------------------------------------- #
# Simulation
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class WealthPaths:
    r"""Simulated wealth of independent gamblers, $\log_2 V_n$ with $V_0 = 1$.

    ``log2_wealth[i, n]`` is path ``i`` after ``n`` rounds (column 0 is 0).
    A ruined path stays at $-\infty$.
    """

    log2_wealth: Float[np.ndarray, "paths rounds_plus_one"]

    @property
    def paths(self) -> int:
        return self.log2_wealth.shape[0]

    @property
    def rounds(self) -> int:
        return self.log2_wealth.shape[1] - 1

    @property
    def ruined(self) -> np.ndarray:
        """Boolean per path: did the wealth hit zero?"""
        return np.isneginf(self.log2_wealth[:, -1])

    def running_rate(self) -> Float[np.ndarray, "paths rounds"]:
        r"""$\frac{1}{n}\log_2 V_n$ for $n = 1, \dots, N$: converges to the doubling rate."""
        n = np.arange(1, self.rounds + 1)
        return self.log2_wealth[:, 1:] / n[None, :]

    def doubling_rate(self) -> tuple[float, float]:
        r"""Estimated doubling rate and its standard error (bits per round).

        Rounds are independent, so the per-round gains $\log_2 S$ over all paths and
        rounds are i.i.d.: the estimate is their mean and the standard error is
        their standard deviation over $\sqrt{\text{paths}\times\text{rounds}}$.
        If any path was ruined the rate is $-\infty$ (with standard error 0).
        """
        if np.any(self.ruined):
            return float("-inf"), 0.0
        gains = np.diff(self.log2_wealth, axis=1).ravel()
        return float(gains.mean()), float(gains.std(ddof=1) / np.sqrt(gains.size))


@partial(jax.jit, static_argnames=("paths", "rounds"))
def _draw_outcomes(
    key: PRNGKeyArray,
    log_p_x: Float[Array, " K_x"],
    log_channel: Float[Array, "K_x K_y"],
    *,
    paths: int,
    rounds: int,
):
    key_x, key_y = jax.random.split(key)
    x = jax.random.categorical(key_x, log_p_x, shape=(paths, rounds))
    y = jax.random.categorical(key_y, log_channel[x], axis=-1)
    return x, y


def simulate_wealth(
    key: PRNGKeyArray,
    p_x,
    bets,
    odds=None,
    *,
    rounds: int,
    paths: int,
    channel=None,
) -> WealthPaths:
    """Play ``rounds`` rounds of the game for ``paths`` independent gamblers.

    Arguments are as in :func:`doubling_rate`; ``key`` is a JAX PRNG key. The same
    key gives the same outcomes (and signals) whatever the bets, so strategies
    compared under one key face identical dice: common random numbers.
    """
    rounds = check.positive_int(rounds, "rounds")
    paths = check.positive_int(paths, "paths")
    p_x, channel, log2_factors = _wealth_factors(p_x, bets, odds, channel)
    channel_for_draws = np.ones((p_x.shape[0], 1)) if channel is None else channel
    with np.errstate(divide="ignore"):
        x, y = _draw_outcomes(
            key,
            jnp.asarray(np.log(p_x)),
            jnp.asarray(np.log(channel_for_draws)),
            paths=paths,
            rounds=rounds,
        )
    x, y = np.asarray(x), np.asarray(y)
    gains = log2_factors[y, x]  # float64 lookup of the exact log2 S(x | y)
    log2_wealth = np.concatenate([np.zeros((paths, 1)), np.cumsum(gains, axis=1)], axis=1)
    return WealthPaths(log2_wealth=log2_wealth)


def rate_difference(a: WealthPaths, b: WealthPaths) -> tuple[float, float]:
    r"""Estimated $W_a - W_b$ (bits per round) and its standard error.

    Meant for two strategies simulated with the same key (common random numbers):
    the per-round differences $\log_2 S_a - \log_2 S_b$ are then paired, i.i.d.
    over rounds and paths, and much less noisy than either gain alone.
    """
    if a.log2_wealth.shape != b.log2_wealth.shape:
        raise ValueError(
            f"a and b must come from simulations of the same size, got shapes "
            f"{a.log2_wealth.shape} and {b.log2_wealth.shape}"
        )
    if np.any(a.ruined) or np.any(b.ruined):
        raise ValueError("a or b has ruined paths: the difference of doubling rates is not finite")
    difference = (np.diff(a.log2_wealth, axis=1) - np.diff(b.log2_wealth, axis=1)).ravel()
    return float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(difference.size))
