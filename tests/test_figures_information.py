"""The MINDE chapter's figure functions render, with and without learned curves."""

from functools import partial

import jax
import numpy as np
import pytest
from helpers import SDE, new_figure

from kellynotes import gaussian, interactive
from kellynotes.entropy import Estimate, RateCurve
from kellynotes.figures import information as info

PNG = b"\x89PNG\r\n\x1a\n"


def determinism(noise_std):
    return gaussian.full_rank(jax.random.key(0), dim_x=4, dim_y=2, noise_std=noise_std)


def flattening(lambda_delta):
    return gaussian.flattened(jax.random.key(1), dim_x=6, dim_y=2, k=2, lambda_delta=lambda_delta, noise_std=1.0)


def fake_curves(g):
    """Exact rates dressed up as learned curves (enough to exercise the drawing code)."""
    s = np.geomspace(1e-3, 1.0, 5)
    return {key: RateCurve(s, rate, 0.05 * rate) for key, rate in info.exact_rates(g, SDE, s).items()}


def test_explorer_renders_exact_only_and_with_nearest_learned_curves():
    plain = partial(info.draw_minde_explorer, determinism=determinism, flattening=flattening)
    assert interactive.render_png(plain, {"noise_std": 0.5, "lambda_delta": 1e-2}, dpi=30)[:8] == PNG
    learned = partial(plain, learned_determinism={1.0: fake_curves(determinism(1.0))},
                      learned_flattening={1e-3: fake_curves(flattening(1e-3))})
    fig = new_figure()
    learned(fig, noise_std=0.5, lambda_delta=1e-3)
    left, right = fig.axes
    assert "nearest" in " ".join(t.get_text() for t in left.get_legend().get_texts())
    assert "nearest" not in " ".join(t.get_text() for t in right.get_legend().get_texts())


def test_rate_panels_totals_and_table():
    g = determinism(0.5)
    fig = new_figure()
    axes = info.draw_rate_panels(fig, {"a": (g, fake_curves(g)), "b": (g, None)}, sde=SDE)
    assert len(axes) == 2 and axes[0].get_xscale() == "log"
    fig.savefig(__import__("io").BytesIO(), format="png", dpi=30)

    fig = new_figure()
    ax = fig.subplots()
    info.plot_flattening_totals(ax, flattening, [1e-3, 1e-2, 1e-1],
                                estimates={1e-2: {"x": Estimate(5.0, 0.1, 100), "I": Estimate(0.5, 0.01, 100)}})
    assert len(ax.lines) >= 6

    exact = info.exact_totals(g, SDE, 1e-3)
    assert exact["x|y"] - exact["x"] == pytest.approx(exact["I"], rel=1e-6)  # Eq. 11, cut at the same s_min
    estimated = {key: Estimate(exact[k] * 1.01, 0.02, 100)
                 for key, k in [("x", "x"), ("x|y", "x|y"), ("minde", "I"), ("difference", "I")]}
    table = info.comparison_table({"σ_ε = 0.5": (exact, estimated)})
    assert table.count("+1.0%") == 4 and "MINDE" in table


def test_nearest():
    assert info.nearest([1.0, 0.6, 0.25], 0.5) == 0.6
    assert info.nearest([1e-1, 1e-3], 3e-3, log=True) == 1e-3
    with pytest.raises(ValueError):
        info.nearest([], 1.0)
