"""The stall watchdog of notebook execution (kellynotes.execution)."""

import nbformat
import pytest

from kellynotes import execution


def notebook(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_an_idle_kernel_with_a_pending_reply_fails_fast_and_names_the_cell():
    # A sleeping cell looks to the client exactly like a lost reply: the kernel uses no
    # CPU and sends nothing. The watchdog must stop it after stall_timeout (2 s here),
    # long before the cell timeout (120 s).
    nb = notebook("x = 1", "print('started', flush=True)\nimport time\ntime.sleep(60)")
    with pytest.raises(execution.KernelStallError, match=r"cell 1 stalled.*status messages seen for this cell: busy"):
        execution.execute(nb, timeout=120, stall_timeout=2.0, watch_interval=0.5, kernel_name="python3")


def test_a_busy_kernel_is_not_a_stall():
    # 4 s of pure computation with no output: CPU use keeps the watchdog quiet.
    nb = notebook("import time\nt = time.time()\nwhile time.time() - t < 4: pass\nprint('done')")
    client = execution.execute(nb, timeout=120, stall_timeout=2.0, watch_interval=0.5, kernel_name="python3")
    assert nb.cells[0].outputs[0].text == "done\n"
    index, seconds = execution.slowest_cell(client)
    assert index == 0 and 4.0 <= seconds < 60


def test_a_kernel_waiting_on_a_computing_subprocess_is_not_a_stall():
    # The kernel itself sleeps in subprocess.run, but its child computes for 4 s.
    busy = "import time; t = time.time()\nwhile time.time() - t < 4: pass"
    nb = notebook(f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {busy!r}], check=True)\nprint('ok')")
    execution.execute(nb, timeout=120, stall_timeout=2.0, watch_interval=0.5, kernel_name="python3")
    assert nb.cells[0].outputs[0].text == "ok\n"


def test_the_sphinx_extension_routes_the_build_through_the_watchdog(monkeypatch):
    from jupyter_cache.executors import utils

    monkeypatch.setattr(utils, "executenb", utils.executenb)  # restored after the test

    class App:
        class config:
            kellynotes_stall_timeout = 2.0
            kellynotes_stall_retries = 0  # the build's default of 1 would only double the wait here

        def add_config_value(self, *args):
            pass

    execution.setup(App())
    nb = notebook("# heading only in code", "import time\ntime.sleep(60)")
    with pytest.raises(execution.KernelStallError, match="cell 1 stalled"):
        utils.executenb(nb, cwd=None, timeout=120, allow_errors=False, record_timing=False)


def test_title_is_the_first_heading():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("text\n# MINDE: two scores\n## more")])
    assert execution.title(nb) == "MINDE: two scores"
    assert execution.title(notebook("1")) == "untitled notebook"


def test_pre_executed_chapters_are_found_by_the_build_cache(tmp_path):
    # dev.sh book executes chapters into the Jupyter Book cache before the build; the build
    # only reads them if the cache key (code cells with their metadata, kernelspec) is the one
    # myst-nb computes from the source. A run that adds per-cell metadata breaks the match.
    from jupyter_cache import get_cache

    from kellynotes import booktools

    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text("execute:\n  timeout: 60\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n- file: book/one\n")
    (tmp_path / "book" / "intro.md").write_text("# Intro\n")
    (tmp_path / "book" / "one.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  display_name: Python 3\n"
        "  language: python\n  name: python3\n---\n\n# One\n\n```{code-cell} ipython3\nprint(6 * 7)\n```\n")
    cache = tmp_path / "cache"
    assert booktools.execute_chapters(tmp_path, cache, jobs=1) == 0
    record = get_cache(str(cache)).match_cache_notebook(booktools.read_chapter(tmp_path / "book" / "one.md"))
    outputs = get_cache(str(cache)).get_cache_bundle(record.pk).nb.cells[0].outputs
    assert outputs[0].text == "42\n"
    assert booktools.execute_chapters(tmp_path, cache, jobs=1) == 0  # second time: nothing to run


def test_a_stalled_notebook_runs_again_in_a_fresh_kernel_when_retries_are_allowed(tmp_path, capsys):
    # The first run stalls (a sleep looks like a lost reply); the marker file it leaves makes
    # the second run, in a fresh kernel, go through. Without retries the stall is raised.
    marker = tmp_path / "first-run-done"
    source = (f"import pathlib, time\nmarker = pathlib.Path({str(marker)!r})\n"
              "if not marker.exists():\n    marker.touch()\n    time.sleep(60)\nprint('second run')")
    with pytest.raises(execution.KernelStallError):
        execution.execute(notebook(source), timeout=120, stall_timeout=2.0, watch_interval=0.5,
                          kernel_name="python3")
    marker.unlink()
    nb = notebook(source)
    execution.execute(nb, stall_retries=1, timeout=120, stall_timeout=2.0, watch_interval=0.5, kernel_name="python3")
    assert nb.cells[0].outputs[0].text == "second run\n"
    assert "retry 1 of 1" in capsys.readouterr().err
