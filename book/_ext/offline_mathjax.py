"""Sphinx extension: serve MathJax from the built book, so math renders offline.

MathJax 3 (``tex-svg-full.js``, one self-contained file) comes from the PyPI
package ``django-static-mathjax`` (a plain copy of MathJax's files; it does not
need Django). It is copied to ``_static/mathjax/`` and used as ``mathjax_path``.
"""

import importlib.util
import shutil
from pathlib import Path

SCRIPT = "tex-svg-full.js"


def _source() -> Path:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax files not found: pip install django-static-mathjax (part of kellynotes[book])")
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5" / SCRIPT
    if not path.exists():
        raise RuntimeError(f"MathJax script missing: {path}")
    return path


def _copy(app, exception):
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_source(), target / SCRIPT)


def setup(app):
    _source()  # fail at start-up, not after executing every notebook
    app.config.mathjax_path = f"mathjax/{SCRIPT}"
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
