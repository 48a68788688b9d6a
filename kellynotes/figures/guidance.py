"""Figures for the guidance chapter: guided samples of the 1-D linear model and I_CFG curves."""

import jax
import numpy as np

from .. import gaussian, guidance
from ..sde import VPSDE

__all__ = ["draw_guided_samples", "draw_guidance_panel"]


def draw_guided_samples(ax, g: gaussian.JointGaussian, w: float, *, key, n: int = 1500, sde: VPSDE = VPSDE()):
    """Scatter exact guided samples (y, x) of a 1-D model at weight ``w`` over the unguided
    joint (grey), with both conditional-mean lines."""
    law = guidance.guided_gaussian(g, w, sde)
    x0, y0 = guidance.guided_gaussian(g, 0.0, sde).sample(key, n)
    x, y = law.sample(key, n)
    ax.scatter(np.asarray(y0[:, 0]), np.asarray(x0[:, 0]), s=2, color="0.7", alpha=0.5, label="unguided")
    ax.scatter(np.asarray(y[:, 0]), np.asarray(x[:, 0]), s=2, color="C3", alpha=0.5, label=f"guided, w = {w:g}")
    line = np.linspace(-3.5, 3.5, 2) * np.sqrt(g.cov_y[0, 0])
    ax.plot(line, g.gain[0, 0] * line, color="0.3", lw=1)
    ax.plot(line, law.gain[0, 0] * line, color="C3", lw=1)
    ax.set(xlabel="y", ylabel="x", xlim=(line[0], line[1]), ylim=(-4, 4))
    return law


def draw_guidance_panel(fig, w: float, *, toy: gaussian.JointGaussian, weights, information_curve,
                        seed: int = 0) -> None:
    """Left: guided samples of the 1-D model ``toy`` at ``w``. Right: exact I_CFG against the
    guidance weight (``information_curve`` evaluated at ``weights``), with ``w`` marked."""
    ax_samples, ax_curve = fig.subplots(1, 2)
    law = draw_guided_samples(ax_samples, toy, w, key=jax.random.key(seed))
    ax_samples.legend(loc="upper left", fontsize=8, markerscale=4)
    information = gaussian.mutual_information(toy)
    ax_curve.plot(weights, information_curve, color="C3", label="exact $I(X_{CFG};Y)$")
    ax_curve.plot(weights, (1 + np.asarray(weights)) * information, color="0.5", ls="--", label="(1 + w) I(X;Y)")
    ax_curve.plot([w], [law.mutual_information()], "o", color="C3")
    ax_curve.set(xlabel="guidance weight w", ylabel="nats")
    ax_curve.set_title(f"I = {law.mutual_information():.3f} nats, KL to $p_d$ = {law.kl_from(toy):.3f}", fontsize=9)
    ax_curve.legend(fontsize=8)
