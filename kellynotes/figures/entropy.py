"""Figures for the entropy-matching chapter: rate curves, exact against learned."""

import numpy as np

__all__ = ["plot_rate", "plot_paths"]


def plot_rate(ax, s_exact, exact, learned=None, *, color="C0", label=""):
    r"""An exact rate curve $dS/ds$ (line) and, if given, a learned
    :class:`~kellynotes.entropy.RateCurve` (dots with ± 2 standard errors), on a log-$s$ axis."""
    ax.plot(s_exact, exact, color=color, lw=1.5, label=f"{label} exact".strip())
    if learned is not None:
        ax.errorbar(learned.s, learned.rate, yerr=2 * learned.stderr, fmt="o", ms=3, color=color, alpha=0.8,
                    label=f"{label} learned (± 2 s.e.)".strip())
    ax.set_xscale("log")
    ax.set_xlabel("forward time s")
    ax.set_ylabel("rate (nats per unit s)")


def plot_paths(ax, times, paths, *, max_paths: int = 40, color="C0", alpha=0.35):
    """Sample paths of one coordinate: ``paths`` has shape (K, N, D); plots coordinate 0."""
    paths = np.asarray(paths)
    ax.plot(np.asarray(times), paths[:, :max_paths, 0], color=color, lw=0.6, alpha=alpha)
