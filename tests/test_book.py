"""The book's structure, and a full build of it (every chapter executed in quick mode, -W)."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from kellynotes import booktools


def test_toc_files_exist_and_chapters_are_executable_notebooks():
    files = booktools.toc_files(ROOT)
    assert files[0] == Path("book/intro.md")
    for f in files:
        assert (ROOT / f).exists(), f"_toc.yml names {f}, which does not exist"
    chapters = booktools.chapter_notebooks(ROOT)
    assert chapters, "no chapter notebooks found"
    # Every .md under book/ except the introduction and the API reference (pages without code)
    # must be a notebook (jupytext header), otherwise Jupyter Book renders it without running a cell.
    for md in (ROOT / "book").glob("*.md"):
        if md.name not in ("intro.md", "api.md"):
            assert booktools.is_notebook(md), f"{md.name} has no jupytext header: it would not execute"


def test_every_chapter_declares_a_cell_timeout_well_under_the_default():
    # A stalled cell must fail long before the 30 minutes nbclient allowed it before; the
    # watchdog of kellynotes.execution catches idle stalls sooner still (180 s).
    import jupytext

    for md in booktools.chapter_notebooks(ROOT):
        notebook = jupytext.read(md)
        assert "execution_timeout" in notebook.metadata.get("mystnb", {}), f"{md.name} declares no timeout"
        assert 120 <= booktools.chapter_timeout(notebook) <= 1200, md.name
        paired = jupytext.read(md.with_suffix(".ipynb"))
        assert booktools.chapter_timeout(paired) == booktools.chapter_timeout(notebook), md.name
    config = booktools.load_config(ROOT)
    assert "kellynotes.execution" in config["sphinx"]["extra_extensions"]


def test_paired_notebooks_and_setup_cells_are_in_sync():
    assert booktools.problems(ROOT) == []


def copy_of_the_book(root: Path) -> Path:
    """The chapters and what their checks read, copied under ``root``."""
    shutil.copytree(ROOT / "book", root / "book")
    (root / "kellynotes").mkdir()
    for name in ("_config.yml", "_toc.yml", "pyproject.toml", "kellynotes/colab.py"):
        shutil.copy(ROOT / name, root / name)
    return root


def test_drift_is_detected(tmp_path):
    copy_of_the_book(tmp_path)
    assert booktools.problems(tmp_path) == []
    md = next(p for p in booktools.chapter_notebooks(tmp_path))
    md.write_text(md.read_text().replace("import numpy as np", "import numpy as numpy_changed", 1))
    assert any("drifted" in line for line in booktools.problems(tmp_path))
    config = (tmp_path / "_config.yml").read_text()
    (tmp_path / "_config.yml").write_text(config.replace("github.com/kellynotes/", "github.com/someone-else/"))
    assert any("setup cell" in line for line in booktools.problems(tmp_path))
    (tmp_path / "_config.yml").write_text(config)
    colab = (tmp_path / "kellynotes/colab.py").read_text()
    (tmp_path / "kellynotes/colab.py").write_text(colab.replace('"libtpu")', '"libtpu", "jax-rocm")'))
    assert any("setup cell" in line for line in booktools.problems(tmp_path))


def test_a_header_change_is_drift_and_sync_carries_it(tmp_path):
    import jupytext

    copy_of_the_book(tmp_path)
    md = next(p for p in booktools.chapter_notebooks(tmp_path))
    md.write_text(re.sub(r"execution_timeout: \d+", "execution_timeout: 777", md.read_text(), count=1))
    assert any("drifted" in line for line in booktools.problems(tmp_path))
    assert md.with_suffix(".ipynb") in booktools.sync(tmp_path)
    assert booktools.problems(tmp_path) == []
    assert booktools.chapter_timeout(jupytext.read(md.with_suffix(".ipynb"))) == 777


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(\./dev\.sh (?:book|test))\s*$", readme, flags=re.M)
    assert "./dev.sh book" in commands and "./dev.sh test" in commands
    assert "exec ./dev.sh test" in (ROOT / ".ci/run").read_text()


@pytest.mark.book
def test_book_builds_with_warnings_as_errors(tmp_path):
    """Executes every chapter (quick mode) and builds the HTML with -W."""
    env = dict(os.environ, KELLYNOTES_QUICK="1")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(tmp_path), "-W", "-n", "--keep-going"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    html = tmp_path / "_build" / "html"
    for md in booktools.chapter_notebooks(ROOT):
        page = (html / md.relative_to(ROOT)).with_suffix(".html").read_text()
        # Colab launch button pointing at the paired .ipynb, no error output, figures present.
        assert "colab.research.google.com/github/" in page and md.with_suffix(".ipynb").name in page
        assert "Traceback" not in page and "output traceback" not in page and "output error" not in page
        assert "<img" in page
    kelly_page = (html / "book" / "kelly.html").read_text()
    assert "kn-static-slider" in kelly_page
    # No ipywidgets manager or require.js fetched from a CDN, and MathJax served locally.
    assert "html-manager" not in kelly_page and "require.min.js" not in kelly_page
    assert "_static/mathjax/tex-svg-full.js" in kelly_page and (html / "_static/mathjax/tex-svg-full.js").exists()
