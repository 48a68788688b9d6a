import re

import pytest

from kellynotes import interactive


def draw_line(fig, slope, offset):
    ax = fig.subplots()
    ax.plot([0, 1], [offset, offset + slope])


def test_frame_slider_embeds_one_frame_per_grid_point():
    view = interactive.frame_slider(draw_line, {"slope": [0, 1, 2], "offset": [0.0, 0.5]}, figsize=(2, 2), dpi=30)
    html = view._repr_html_()
    assert view.num_frames == 6
    assert len(re.findall(r"data:image/png;base64,", html)) == 6 + 1  # the frames + the initial <img>
    assert html.count("<input type=\"range\"") == 2
    assert "<script" in html and "http" not in html  # self-contained: works offline


def test_frame_slider_rejects_bad_grids():
    with pytest.raises(ValueError, match="grid"):
        interactive.frame_slider(draw_line, {})
    with pytest.raises(ValueError, match="slope"):
        interactive.frame_slider(draw_line, {"slope": [], "offset": [0]})
    with pytest.raises(ValueError, match="initial"):
        interactive.frame_slider(draw_line, {"slope": [0, 1], "offset": [0]}, initial={"slope": 3})


def test_live_panel_builds_widgets_without_a_kernel():
    ipywidgets = pytest.importorskip("ipywidgets")
    panel = interactive.live_panel(draw_line, {"slope": ipywidgets.FloatSlider(value=1.0),
                                               "offset": ipywidgets.FloatSlider(value=0.0)})
    assert isinstance(panel, ipywidgets.VBox)


def test_kelly_game_renders():
    from kellynotes.figures import kelly as kelly_figures

    png = interactive.render_png(
        lambda fig, **kw: kelly_figures.draw_kelly_game(fig, rounds=50, paths=3, **kw),
        {"tilt": 0.4, "noise": 0.5, "fraction": 0.5},
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
