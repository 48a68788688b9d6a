r"""Figures for the chapter on when class information is produced (:mod:`kellynotes.semantic`).

Every function draws onto axes or a figure it is given (never pyplot state). Times are
forward times $s$ on a log axis; generation runs from right to left.
"""

import jax
import numpy as np

from .. import semantic
from ..entropy import RateCurve
from ..mixture import GaussianMixture
from ..sde import VPSDE

__all__ = [
    "class_colors",
    "draw_posterior_map",
    "draw_semantic_explorer",
    "plot_class_rates",
    "plot_label_entropy",
    "plot_minde_bridge",
    "plot_thesis",
    "semantic_sliders",
    "share_per_log_time",
]


def class_colors(num_classes: int) -> np.ndarray:
    """One RGB colour per class (matplotlib's tab10, then tab20), shape (K, 3)."""
    from matplotlib import colormaps

    palette = colormaps["tab10" if num_classes <= 10 else "tab20"]
    return np.array([palette(k % palette.N)[:3] for k in range(num_classes)])


def draw_posterior_map(ax, mixture: GaussianMixture, sde: VPSDE = VPSDE(), *, s_range=(1e-3, 1.0), x_range=None,
                       resolution: int = 160) -> None:
    r"""The class posterior $p_s(y\mid x)$ of a 1-D mixture over (forward time $s$, position $x$).

    Each pixel's colour mixes the class colours with weights $p_s(y=k\mid x)$, and fades to white
    where the noisy density $p_s(x)$ is small (relative to its peak at that $s$), so the picture
    shows where samples are and which class they would be assigned to. Thin lines follow the
    noised class means $\sqrt{\alpha(s)}\,m_k$.
    """
    if mixture.dimension != 1:
        raise ValueError(f"draw_posterior_map needs a 1-D mixture, got dimension {mixture.dimension}")
    means, spread = np.asarray(mixture.means)[:, 0], np.sqrt(np.asarray(mixture.variances)[:, 0].max())
    if x_range is None:
        reach = max(np.abs(means).max() + 3 * spread, 3.0)
        x_range = (-reach, reach)
    s = np.geomspace(*s_range, resolution)
    x = np.linspace(*x_range, resolution)
    colors = class_colors(mixture.num_components)
    # The laws of X_s at every s, stacked into one mixture pytree with a leading time axis.
    laws = jax.tree.map(lambda *leaves: np.stack(leaves), *[mixture.diffuse(sde, float(t)) for t in s])
    log_joint = np.asarray(jax.vmap(lambda law: law.component_log_prob(x[:, None]))(laws), np.float64)  # (S, X, K)
    log_density = np.logaddexp.reduce(log_joint, axis=-1)
    posterior = np.exp(log_joint - log_density[..., None])
    opacity = np.sqrt(np.exp(log_density - log_density.max(axis=1, keepdims=True)))[..., None]
    image = 1.0 - opacity * (1.0 - posterior @ colors)  # (S, X, 3)
    ax.pcolormesh(s, x, np.swapaxes(image, 0, 1), shading="auto", rasterized=True)
    sqrt_alpha = np.asarray(sde.mean_coefficient(s))
    for k, m in enumerate(means):
        ax.plot(s, sqrt_alpha * m, color=colors[k] * 0.6, lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set(xlabel="forward time s  (generation runs ←)", ylabel="x", xlim=s_range, ylim=x_range)


def _band(ax, s, value, stderr, color, label, **style):
    ax.plot(s, value, color=color, label=label, **style)
    ax.fill_between(s, value - 2 * stderr, value + 2 * stderr, color=color, alpha=0.2, lw=0)


def plot_label_entropy(ax, profile: semantic.SemanticProfile, *, show_classes: bool = True) -> None:
    r"""$H(Y\mid X_s)$ (black, ± 2 s.e.), its ceiling $H(Y)$, and the per-class surprisals $h_k(s)$ (thin)."""
    h = profile.label_entropy
    if show_classes:
        colors = class_colors(len(profile.class_label_entropy))
        for k, curve in enumerate(profile.class_label_entropy):
            ax.plot(curve.s, curve.value, color=colors[k], lw=0.9, alpha=0.8, label=f"$h_{{{k}}}(s)$")
    _band(ax, h.s, h.value, h.stderr, "k", r"$H(Y\mid X_s)$", lw=1.8)
    ax.axhline(profile.label_prior_entropy, color="0.5", ls=":", lw=1, label=r"$H(Y)$")
    ax.set_xscale("log")
    ax.set(xlabel="forward time s", ylabel="nats")


def plot_class_rates(ax, profile: semantic.SemanticProfile, *, show_total: bool = True) -> np.ndarray:
    r"""Per-class semantic rates $R_k(s)$ and the total $R(s)$, with a marker at each peak.
    Returns the per-class peak times."""
    colors = class_colors(len(profile.class_rates))
    peaks = semantic.peak_times(profile.class_rates)
    for k, (curve, peak) in enumerate(zip(profile.class_rates, peaks)):
        ax.plot(curve.s, curve.rate, color=colors[k], lw=1.1, label=f"$R_{{{k}}}$, peak s = {peak:.3g}")
        ax.plot([peak], [np.interp(np.log(peak), np.log(curve.s), curve.rate)], "v", color=colors[k], ms=6)
    if show_total:
        total = profile.rate
        _band(ax, total.s, total.rate, total.stderr, "k", r"$R(s) = \sum_k w_k R_k$", lw=1.8)
        peak = semantic.peak_times(total)
        ax.axvline(peak, color="k", ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.set(xlabel="forward time s", ylabel="nats per unit s")
    return peaks


def plot_minde_bridge(ax, accumulated: semantic.InformationCurve, *, reference=None, ceiling: float | None = None,
                      label: str = "accumulated MINDE integrand", color="C2") -> None:
    r"""The MINDE integrand accumulated from $T$ down to $s$ (± 2 s.e.), optionally against a
    reference $I(X_s;Y)$ curve (dashed) and the ceiling $H(Y)$ that no true $I(X_s;Y)$ can exceed."""
    _band(ax, accumulated.s, accumulated.value, accumulated.stderr, color, label, lw=1.6)
    if reference is not None:
        ax.plot(reference.s, reference.value, color="k", ls="--", lw=1.2, label=r"$H(Y) - H(Y\mid X_s)$")
    if ceiling is not None:
        ax.axhline(ceiling, color="C3", ls=":", lw=1.2, label=f"$H(Y)$ = {ceiling:.2f} nats")
    ax.set_xscale("log")
    ax.set(xlabel="forward time s", ylabel="nats")


def share_per_log_time(curve: RateCurve) -> tuple[np.ndarray, np.ndarray]:
    r"""$s\,r(s)/\int r\,ds$ on the curve's grid: the share of the curve's total produced per unit $\ln s$
    (trapezoid rule in $\ln s$ over the grid), with its standard error. Curves of very different
    size become comparable in *where* they put their mass."""
    s, rate, stderr = (np.asarray(a, np.float64) for a in (curve.s, curve.rate, curve.stderr))
    total = np.trapezoid(s * rate, np.log(s))
    if not total > 0:
        raise ValueError("the curve integrates to a non-positive total; its shares are undefined")
    return s * rate / total, s * stderr / total


def plot_thesis(ax, semantic_rate: RateCurve, neural_rate: RateCurve, *,
                labels=("semantic rate $-dI(X_s;Y)/ds$", "neural-entropy rate $dS_{NN}/ds$")) -> tuple[float, float]:
    r"""Where class information and all information are produced: both rates as shares of their
    own totals per unit $\ln s$ (:func:`share_per_log_time`) on one log-$s$ axis, with their peaks
    marked. Returns the two peak times (of the shares, i.e. per unit $\ln s$)."""
    peaks = []
    for curve, label, color in zip((semantic_rate, neural_rate), labels, ("C2", "C0")):
        share, error = share_per_log_time(curve)
        _band(ax, curve.s, share, error, color, label, lw=1.6)
        peak = semantic.peak_times(RateCurve(curve.s, share, error))
        peaks.append(peak)
        ax.axvline(peak, color=color, ls=":", lw=1)
    ax.set_xscale("log")
    ax.set(xlabel="forward time s", ylabel="share of total per unit ln s")
    return tuple(peaks)


def draw_semantic_explorer(fig, separation: float, num_classes: int, *, sde: VPSDE = VPSDE(), variance: float = 0.05,
                           samples_per_class: int = 1500, num_times: int = 40, seed: int = 0) -> None:
    r"""Widget view: ``num_classes`` classes on a line, ``separation`` apart (:func:`semantic.line_mixture`).
    Left: the class posterior over $(s, x)$. Right: the per-class and total semantic rates with
    their peaks, and $I(X_s;Y)$ at the smallest time in the title."""
    mixture = semantic.line_mixture(int(num_classes), float(separation), variance)
    s_grid = np.geomspace(1e-3, sde.T, num_times)
    profile = semantic.semantic_profile(mixture, sde, s_grid, key=jax.random.key(seed),
                                        samples_per_class=samples_per_class)
    ax_map, ax_rates = fig.subplots(1, 2)
    draw_posterior_map(ax_map, mixture, sde, s_range=(1e-3, sde.T))
    ax_map.set_title(f"{int(num_classes)} classes, {separation:g} apart (variance {variance:g})", fontsize=9)
    plot_class_rates(ax_rates, profile)
    information = profile.label_prior_entropy - profile.label_entropy.value[0]
    ax_rates.set_title(f"R peaks at s = {semantic.peak_times(profile.rate):.3f}\n"
                       f"I(X_s;Y) at s = {s_grid[0]:g}: {information:.2f} "
                       f"of H(Y) = {profile.label_prior_entropy:.2f} nats",
                       fontsize=9)
    ax_rates.legend(fontsize=7, loc="upper left")


def semantic_sliders(separation: float = 2.0, num_classes: int = 3):
    """ipywidgets sliders for :func:`draw_semantic_explorer` (needs a live kernel)."""
    import ipywidgets as widgets

    style = {"description_width": "initial"}
    return {
        "separation": widgets.FloatLogSlider(value=separation, base=2, min=-2, max=2.5, step=0.25,
                                             description="separation d", style=style),
        "num_classes": widgets.IntSlider(value=num_classes, min=2, max=6, description="classes K", style=style),
    }
