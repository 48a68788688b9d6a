r"""Figures for the autoencoder tower (App. C, Figs. 18-19), for Gaussian mixtures with exact denoisers.

Every function draws onto a :class:`matplotlib.figure.Figure` it is given (never pyplot state) and
returns it. The Monte Carlo runs inside (keys are explicit), through :mod:`kellynotes.tower`.
"""

import jax
import numpy as np

from .. import tower
from ..mixture import GaussianMixture
from ..sde import VPSDE

__all__ = ["draw_denoised_density_1d", "draw_denoised_scatter_2d", "draw_tower_integrands"]

DATA_COLOR, NOISY_COLOR, DENOISED_COLOR = "0.6", "C0", "C3"


def _check_dimension(mixture: GaussianMixture, dimension: int):
    if mixture.dimension != dimension:
        raise ValueError(f"this figure needs a {dimension}-D mixture, got D={mixture.dimension}")


def draw_denoised_density_1d(fig, mixture: GaussianMixture, sde: VPSDE, x0: float, s_values, *,
                             key, num_draws: int = 4000, bins: int = 80):
    r"""Fig. 18/19 style, one panel per level $s$ (rows, deepest on top): the data density $p_d$ (grey),
    the forward-diffused $\tilde x_s$ (blue histogram) and the density of denoised means $\hat x(\tilde x_s)$ (red),
    which sharpens onto $x_0$ (black line) as $s\to0$ and sits at the mixture mean as $s\to T$."""
    _check_dimension(mixture, 1)
    s_values = np.sort(np.asarray(s_values, dtype=np.float64))[::-1]
    x_s, x_hat = tower.forward_and_denoised(mixture, sde, np.array([x0]), s_values, key=key, num_draws=num_draws)
    x_s, x_hat = np.asarray(x_s)[..., 0], np.asarray(x_hat)[..., 0]
    std = np.sqrt(mixture.variances[:, 0])
    low = min(float(np.min(mixture.means[:, 0] - 4 * std)), float(x0) - 1.0)
    high = max(float(np.max(mixture.means[:, 0] + 4 * std)), float(x0) + 1.0)
    grid = np.linspace(low, high, 600)
    density = np.exp(np.asarray(mixture.log_prob(grid[:, None]), np.float64))
    edges = np.linspace(low, high, bins + 1)
    axes = fig.subplots(len(s_values), 1, sharex=True, squeeze=False)[:, 0]
    for ax, s, noisy, means in zip(axes, s_values, x_s, x_hat):
        ax.fill_between(grid, density, color=DATA_COLOR, alpha=0.4, lw=0, label="$p_d$")
        ax.hist(noisy, bins=edges, density=True, color=NOISY_COLOR, alpha=0.35, label=r"$\tilde x_s$")
        ax.hist(means, bins=edges, density=True, histtype="step", color=DENOISED_COLOR, lw=1.5,
                label=r"$\hat x(\tilde x_s)$")
        ax.axvline(float(x0), color="k", lw=1.0)
        ax.set_ylim(0, 1.6 * float(density.max()))
        ax.set_yticks([])
        ax.text(0.01, 0.85, f"s = {s:.3g}", transform=ax.transAxes, fontsize=9)
    axes[0].legend(loc="upper right", fontsize=8, frameon=False)
    axes[-1].set_xlabel("x")
    return fig


def draw_denoised_scatter_2d(fig, mixture: GaussianMixture, sde: VPSDE, x0, s_values, *,
                             key, num_draws: int = 600, num_data: int = 2000):
    r"""Fig. 19 style in 2-D, one panel per level $s$ (deepest first): data samples (grey), the forward-diffused
    $\tilde{\mathbf x}_s$ (blue) and their denoised means $\hat{\mathbf x}(\tilde{\mathbf x}_s)$
    (red) around $\mathbf x_0$ (black star)."""
    _check_dimension(mixture, 2)
    key_data, key_rays = jax.random.split(key)
    s_values = np.sort(np.asarray(s_values, dtype=np.float64))[::-1]
    x0 = np.asarray(x0, dtype=np.float64)
    data = np.asarray(mixture.sample(key_data, num_data)[0])
    x_s, x_hat = (np.asarray(a) for a in tower.forward_and_denoised(mixture, sde, x0, s_values, key=key_rays,
                                                                    num_draws=num_draws))
    axes = fig.subplots(1, len(s_values), sharex=True, sharey=True, squeeze=False)[0]
    for ax, s, noisy, means in zip(axes, s_values, x_s, x_hat):
        ax.scatter(data[:, 0], data[:, 1], s=2, color=DATA_COLOR, alpha=0.3, lw=0)
        ax.scatter(noisy[:, 0], noisy[:, 1], s=3, color=NOISY_COLOR, alpha=0.3, lw=0, label=r"$\tilde{x}_s$")
        ax.scatter(means[:, 0], means[:, 1], s=3, color=DENOISED_COLOR, alpha=0.6, lw=0,
                   label=r"$\hat{x}(\tilde{x}_s)$")
        ax.plot(*x0, marker="*", color="k", ms=10, ls="none")
        ax.set_title(f"s = {s:.3g}", fontsize=9)
        ax.set_aspect("equal", adjustable="box")
    axes[0].legend(loc="lower left", fontsize=8, markerscale=4, frameon=False)
    return fig


def draw_tower_integrands(fig, mixture: GaussianMixture, sde: VPSDE, x_a, x_b, *, key, s_min: float = 1e-3,
                          num_levels: int = 40, num_draws: int = 4000):
    r"""The tower integrand for two test points, per unit log-SNR $\lambda$ (left), and the running difference (right).

    Left: $\tfrac12\mathbb E\|\sqrt{\mathrm{SNR}}(\hat{\mathbf x} - \mathbf x)\|^2 = B(s)\,\mathbb E\|\hat{\mathbf x} -
    \mathbf x\|^2\,|ds/d\lambda|$ (± 2 s.e.),
    which tends to $D/2$ at shallow levels for every point (they only resolve local detail) and differs
    between the points at deep levels. Right: $\int_s^T$ of the difference (a minus b), which reaches
    $\log p_d(\mathbf x_b) - \log p_d(\mathbf x_a)$ (dashed; the finite-cut corrections of
    :func:`kellynotes.tower.tower_identity` are too small to see) as $s\to s_{\min}$: most of it is
    accumulated at the deep, component-deciding levels.
    Both curves use the same draws (common random numbers), so their difference is precise.
    """
    lam = np.linspace(float(sde.log_snr(sde.T)), float(sde.log_snr(s_min)), num_levels)
    s_grid = np.clip(np.asarray(sde.s_from_log_snr(lam), np.float64), s_min, sde.T)
    to_log_snr = np.asarray(sde.variance(s_grid), np.float64) / np.asarray(sde.beta(s_grid), np.float64)
    curves = [tower.reconstruction_integrand(mixture, sde, x, s_grid, key=key, num_draws=num_draws) for x in (x_a, x_b)]
    ax_rate, ax_cum = fig.subplots(1, 2, squeeze=True)
    for curve, name, color in zip(curves, ("a", "b"), ("C0", "C1")):
        rate, err = curve.rate * to_log_snr, curve.stderr * to_log_snr
        ax_rate.plot(s_grid, rate, color=color,
                     label=f"$x_{name}$ = {np.round(np.asarray(x_a if name == 'a' else x_b), 2)}")
        ax_rate.fill_between(s_grid, rate - 2 * err, rate + 2 * err, color=color, alpha=0.25, lw=0)
    ax_rate.axhline(0.5 * mixture.dimension, color="k", ls=":", lw=1, label="D/2")
    ax_rate.set_xscale("log")
    ax_rate.set_xlabel("forward time s")
    ax_rate.set_ylabel(r"nats per unit $\lambda$")
    ax_rate.legend(fontsize=8, frameon=False)
    # Running integral from T down to s of the difference, trapezoid in λ (λ increases as s decreases).
    difference = (curves[0].rate - curves[1].rate) * to_log_snr
    running = np.concatenate([[0.0], np.cumsum(0.5 * (difference[1:] + difference[:-1]) * np.diff(lam))])
    identity = tower.tower_identity(mixture, sde, x_a, x_b, s_min=s_min)
    ax_cum.plot(s_grid, running, color="C2", label=r"$\int_s^T$ (a $-$ b)")
    ax_cum.axhline(identity.log_density_difference, color="k", ls="--", lw=1,
                   label=r"$\log p_d(x_b) - \log p_d(x_a)$")
    ax_cum.set_xscale("log")
    ax_cum.set_xlabel("forward time s")
    ax_cum.set_ylabel("nats")
    ax_cum.legend(fontsize=8, frameon=False)
    return fig
