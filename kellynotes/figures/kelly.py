"""Figures for the Kelly chapter: they draw what :mod:`kellynotes.kelly` computes."""

from collections.abc import Mapping

import jax
import numpy as np

from .. import kelly

__all__ = ["draw_kelly_game", "plot_running_rates", "kelly_game_sliders"]


def plot_running_rates(ax, runs: Mapping[str, "kelly.WealthPaths"], exact: Mapping[str, float], *, colors=None):
    r"""Median and 10–90 % band over paths of $\frac1n\log_2 V_n$ against rounds $n$,
    with the exact doubling rate of each strategy dashed. Ruined strategies are
    marked by the round at which half the paths had lost everything."""
    colors = dict(colors or {})
    for i, (name, run) in enumerate(runs.items()):
        color = colors.get(name, f"C{i}")
        rate = run.running_rate()
        n = np.arange(1, run.rounds + 1)
        if np.any(run.ruined):
            ruin_round = np.argmax(np.isneginf(run.log2_wealth), axis=1)
            ax.axvline(np.median(ruin_round), color=color, lw=1.5, ls=":",
                       label=f"{name}: ruined (median round {np.median(ruin_round):.0f})")
            continue
        low, mid, high = np.percentile(rate, [10, 50, 90], axis=0)
        ax.fill_between(n, low, high, color=color, alpha=0.2, lw=0)
        ax.plot(n, mid, color=color, lw=1.5, label=f"{name}: exact {exact[name]:+.3f}")
        ax.axhline(exact[name], color=color, lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("rounds n")
    ax.set_ylabel(r"$\frac{1}{n}\log_2 V_n$ (bits per round)")


def draw_kelly_game(fig, tilt: float, noise: float, fraction: float, *, seed: int = 0,
                    rounds: int = 400, paths: int = 8) -> None:
    r"""The die game for one setting: a die of the given ``tilt`` (see
    :func:`kellynotes.kelly.loaded_die`), a side channel of the given ``noise``
    (:func:`kellynotes.kelly.symmetric_channel`) and a gambler who stakes
    ``fraction`` of her wealth proportionally each round.

    Left: simulated $\log_2 V_n$ with and without the signal (same dice), with the
    exact slopes. Right: exact doubling rate against the staked fraction, with the
    simulated estimate (± 2 standard errors) at the chosen fraction.
    """
    p = kelly.loaded_die(tilt)
    channel = kelly.symmetric_channel(6, noise)
    bets_given_y = kelly.posterior(p, channel)
    key = jax.random.key(seed)
    blind = kelly.simulate_wealth(key, p, kelly.fractional_kelly_bets(p, fraction), rounds=rounds, paths=paths,
                                  channel=channel)
    informed = kelly.simulate_wealth(key, p, fraction * bets_given_y, rounds=rounds, paths=paths, channel=channel)
    rate_blind = kelly.doubling_rate(p, kelly.fractional_kelly_bets(p, fraction))
    rate_informed = kelly.doubling_rate(p, fraction * bets_given_y, channel=channel)

    ax_paths, ax_rate = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    n = np.arange(rounds + 1)
    for run, rate, color, name in [(blind, rate_blind, "C0", "bets on p(x)"),
                                   (informed, rate_informed, "C1", "bets on p(x|y)")]:
        ax_paths.plot(n, run.log2_wealth.T, color=color, lw=0.6, alpha=0.5)
        ax_paths.plot(n, rate * n, color=color, lw=2, ls="--", label=f"{name}: W = {rate:+.3f}")
    ax_paths.set_xlabel("rounds n")
    ax_paths.set_ylabel(r"$\log_2 V_n$ (bits)")
    ax_paths.legend(loc="upper left", fontsize=8)

    fractions = np.linspace(0.0, 1.0, 101)
    curve_blind = [kelly.doubling_rate(p, f * p) for f in fractions]
    curve_informed = [kelly.doubling_rate(p, f * bets_given_y, channel=channel) for f in fractions]
    ax_rate.plot(fractions, curve_blind, color="C0")
    ax_rate.plot(fractions, curve_informed, color="C1")
    for run, color in [(blind, "C0"), (informed, "C1")]:
        estimate, stderr = run.doubling_rate()
        ax_rate.errorbar([fraction], [estimate], yerr=[2 * stderr], fmt="o", color=color, ms=4)
    entropy = kelly.entropy(p)
    information = kelly.mutual_information(kelly.joint_distribution(p, channel))
    ax_rate.axhline(0, color="0.6", lw=0.8)
    ax_rate.set_xlabel("fraction staked f")
    ax_rate.set_ylabel("doubling rate (bits/round)")
    ax_rate.set_title(f"H(X) = {entropy:.2f}, I(X;Y) = {information:.2f} bits", fontsize=9)
    ax_rate.set_ylim(min(-0.5, min(curve_blind) - 0.05), np.log2(6) + 0.1)


def kelly_game_sliders():
    """ipywidgets sliders for :func:`draw_kelly_game` (needs a live kernel)."""
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    return {
        "tilt": widgets.FloatSlider(value=0.4, min=0.0, max=2.0, step=0.05, description="die tilt", style=style),
        "noise": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="channel noise ε",
                                     style=style),
        "fraction": widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="fraction staked f",
                                        style=style),
    }
