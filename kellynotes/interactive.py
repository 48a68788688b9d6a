"""Two views of one interactive experiment.

* :func:`live_panel` — ipywidgets sliders that re-run the experiment in a live
  kernel (Jupyter, Colab).
* :func:`frame_slider` — a kernel-free view for the static book: the same
  ``render`` function is run once for every point of a parameter grid, the
  figures are embedded as PNG images, and plain JavaScript sliders switch between
  them. It needs no kernel, no widget manager and no internet connection.

Both take a ``render(fig, **params)`` callable that draws onto a
``matplotlib.figure.Figure``; neither touches pyplot or the plotting backend.
"""

import base64
import html
import io
import itertools
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence

__all__ = ["StaticSlider", "frame_slider", "live_panel", "render_png"]

Render = Callable[..., None]


def render_png(
    render: Render, params: Mapping[str, float], *, figsize=(9.0, 3.6), dpi: int = 80, colors: int | None = None
) -> bytes:
    """Draw ``render(fig, **params)`` on a fresh Agg figure and return PNG bytes.

    ``colors`` reduces the image to a palette of that many colours (line plots look
    the same with 64 and the file shrinks about fourfold).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    render(fig, **params)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if colors is None:
        return buffer.getvalue()
    from PIL import Image

    buffer.seek(0)
    palette = Image.open(buffer).convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    small = io.BytesIO()
    palette.save(small, format="PNG", optimize=True)
    return small.getvalue()


def _check_grid(grid: Mapping[str, Sequence[float]], initial: Mapping[str, float] | None):
    if not grid:
        raise ValueError("grid must name at least one parameter")
    for name, values in grid.items():
        if len(values) == 0:
            raise ValueError(f"grid[{name!r}] has no values")
    initial = dict(initial or {})
    unknown = set(initial) - set(grid)
    if unknown:
        raise ValueError(f"initial names parameters not in grid: {sorted(unknown)}")
    start = {}
    for name, values in grid.items():
        value = initial.get(name, values[len(values) // 2])
        if value not in values:
            raise ValueError(f"initial[{name!r}] = {value!r} is not one of grid[{name!r}] = {list(values)}")
        start[name] = list(values).index(value)
    return start


class StaticSlider:
    """HTML for a kernel-free slider view; displays itself in Jupyter and the book."""

    def __init__(self, markup: str, num_frames: int, num_bytes: int):
        self.markup = markup
        self.num_frames = num_frames
        self.num_bytes = num_bytes

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return f"StaticSlider({self.num_frames} frames, {self.num_bytes / 1e6:.2f} MB)"


def frame_slider(
    render: Render,
    grid: Mapping[str, Sequence[float]],
    *,
    labels: Mapping[str, str] | None = None,
    initial: Mapping[str, float] | None = None,
    figsize=(9.0, 3.6),
    dpi: int = 70,
    colors: int | None = 64,
    progress: bool = False,
) -> StaticSlider:
    """Precompute ``render`` on every point of ``grid`` and return a JavaScript slider view.

    ``grid`` maps parameter names to the values each slider steps through; the
    number of frames is the product of their lengths, so keep it to ~100.
    ``labels`` gives display names; ``initial`` the starting value of each slider;
    ``colors`` the palette size of each frame (``None`` keeps full colour).
    """
    start = _check_grid(grid, initial)
    labels = {name: (labels or {}).get(name, name) for name in grid}
    names = list(grid)
    combos = list(itertools.product(*(grid[name] for name in names)))
    if progress:
        from tqdm.auto import tqdm

        combos_iter = tqdm(combos, desc="rendering frames")
    else:
        combos_iter = combos
    frames = []
    for combo in combos_iter:
        png = render_png(render, dict(zip(names, combo)), figsize=figsize, dpi=dpi, colors=colors)
        frames.append("data:image/png;base64," + base64.b64encode(png).decode("ascii"))

    uid = "kn-slider-" + uuid.uuid4().hex[:10]
    sizes = [len(grid[name]) for name in names]
    strides = [math.prod(sizes[i + 1 :]) for i in range(len(sizes))]
    controls = []
    for i, name in enumerate(names):
        values = [f"{v:g}" for v in grid[name]]
        controls.append(
            f'<label style="display:flex;align-items:center;gap:0.6em;margin:0.2em 0">'
            f'<span style="min-width:11em">{html.escape(labels[name])}</span>'
            f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{start[name]}" '
            f'data-index="{i}" style="flex:1">'
            f'<output style="min-width:4em;font-family:monospace">{values[start[name]]}</output></label>'
        )
    first = sum(start[name] * strides[i] for i, name in enumerate(names))
    payload = json.dumps({"frames": frames, "strides": strides, "values": [[f"{v:g}" for v in grid[n]] for n in names]})
    markup = f"""<div id="{uid}" class="kn-static-slider" style="max-width:100%">
<div style="font-size:0.85em;color:#555">Static view: {len(frames)} precomputed frames (no kernel needed).</div>
{''.join(controls)}
<img alt="interactive figure" style="max-width:100%" src="{frames[first]}">
<script type="application/json">{payload}</script>
<script>
(function() {{
  var root = document.getElementById("{uid}");
  var data = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var inputs = root.querySelectorAll('input[type="range"]');
  var img = root.querySelector("img");
  function update() {{
    var index = 0;
    inputs.forEach(function(input) {{
      var i = +input.dataset.index, v = +input.value;
      index += v * data.strides[i];
      input.nextElementSibling.textContent = data.values[i][v];
    }});
    img.src = data.frames[index];
  }}
  inputs.forEach(function(input) {{ input.addEventListener("input", update); }});
}})();
</script>
</div>"""
    return StaticSlider(markup, len(frames), len(markup))


def live_panel(render: Render, sliders: Mapping[str, object], *, figsize=(9.0, 3.6), dpi: int = 90):
    """ipywidgets controls that call ``render(fig, **values)`` whenever a slider moves.

    ``sliders`` maps parameter names to ipywidgets value widgets (e.g. ``FloatSlider``).
    Returns a ``VBox``; it needs a running kernel (Jupyter or Colab).
    """
    import ipywidgets as widgets
    from IPython.display import Image, display

    output = widgets.Output()

    def redraw(**params):
        png = render_png(render, params, figsize=figsize, dpi=dpi)
        with output:
            output.clear_output(wait=True)
            display(Image(png))

    controls = widgets.interactive_output(redraw, dict(sliders))
    return widgets.VBox([widgets.HBox(list(sliders.values())), output, controls])
