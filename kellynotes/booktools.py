"""Maintenance of the book's notebooks (developer tooling, not needed to use the package).

* Every chapter is a MyST markdown notebook ``book/<name>.md`` paired with an
  output-free ``book/<name>.ipynb`` for Colab's launch button.
* The first cell of every chapter installs kellynotes on Colab only. It is
  generated from the repository URL in ``_config.yml``, the one place it is written.

``python -m kellynotes.booktools sync`` rewrites setup cells and paired notebooks;
``python -m kellynotes.booktools check`` reports drift (the tests run the same check);
``python -m kellynotes.booktools run book/<name>.md [--out file.ipynb]`` executes one
chapter (set ``KELLYNOTES_QUICK=1`` for quick mode) and prints its text outputs;
``python -m kellynotes.booktools execute --cache _build/.jupyter_cache [--jobs 2]``
executes every chapter the Jupyter Book execution cache lacks, several at a time, and
stores them there, so that the build that follows only reads the cache (``dev.sh book``).
"""

import argparse
import sys
from pathlib import Path

SETUP_HEADER = """# On Colab, install kellynotes and keep Colab's own jax (this cell does nothing elsewhere).
# Generated from kellynotes/colab.py by `python -m kellynotes.booktools sync`.
import sys

if "google.colab" in sys.modules:
"""
SOURCE_START = "# --- setup cell source starts here ---\n"
SOURCE_END = "# --- setup cell source ends here ---\n"


def load_config(root: Path) -> dict:
    import yaml

    return yaml.safe_load((root / "_config.yml").read_text())


def minimum_jax(root: Path) -> str:
    """The declared lower bound of jax in ``pyproject.toml`` (``jax>=X``)."""
    import re
    import tomllib

    dependencies = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        match = re.fullmatch(r"jax\s*>=\s*([0-9][0-9.]*)", requirement.split(";")[0].strip())
        if match:
            return match.group(1)
    raise ValueError("pyproject.toml declares no lower bound 'jax>=X' for jax")


def setup_cell_source(root: Path) -> str:
    """The first cell of every chapter: ``kellynotes/colab.py`` (between its markers),
    then one call installing from the repository URL of ``_config.yml``."""
    repository = load_config(root)["repository"]
    module = (root / "kellynotes" / "colab.py").read_text()
    body = module[module.index(SOURCE_START) + len(SOURCE_START):module.index(SOURCE_END)]
    requirement = f"kellynotes @ git+{repository['url']}@{repository.get('branch', 'main')}"
    call = f"install_kellynotes({requirement!r}, minimum_jax={minimum_jax(root)!r})\n"
    indented = "".join("    " + line if line.strip() else "\n" for line in (body + "\n" + call).splitlines(True))
    return (SETUP_HEADER + indented).rstrip("\n")


def toc_files(root: Path) -> list[Path]:
    """Every file the table of contents names, as paths relative to ``root``."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return [Path(f if Path(f).suffix else f + ".md") for f in files]


def is_notebook(path: Path) -> bool:
    """A MyST markdown file is a notebook only if it carries a jupytext header."""
    text = path.read_text()
    return text.startswith("---\n") and "jupytext:" in text.split("\n---\n", 1)[0]


def chapter_notebooks(root: Path) -> list[Path]:
    return [root / f for f in toc_files(root) if (root / f).suffix == ".md" and is_notebook(root / f)]


def _paired_content(notebook) -> tuple[list[tuple[str, str, tuple]], dict]:
    """What a paired notebook shares with its source: the cells (type, source, tags) and the book's
    execution settings in the header (``mystnb``, e.g. the cell timeout)."""
    return ([(c.cell_type, c.source, tuple(c.metadata.get("tags", []))) for c in notebook.cells],
            dict(notebook.metadata.get("mystnb", {})))


def problems(root: Path) -> list[str]:
    """Everything out of sync between sources, paired notebooks and the config."""
    import jupytext

    found = []
    expected_setup = setup_cell_source(root)
    for md in chapter_notebooks(root):
        name = md.relative_to(root)
        notebook = jupytext.read(md)
        first = notebook.cells[0] if notebook.cells else None
        if first is None or first.cell_type != "code" or first.source != expected_setup:
            found.append(f"{name}: the first cell is not the Colab setup cell generated from _config.yml")
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            found.append(f"{name}: paired notebook {ipynb.name} is missing")
            continue
        paired = jupytext.read(ipynb)
        if _paired_content(paired) != _paired_content(notebook):
            found.append(f"{name}: {ipynb.name} has drifted from its .md source")
        if any(c.get("outputs") or c.get("execution_count") for c in paired.cells if c.cell_type == "code"):
            found.append(f"{ipynb.relative_to(root)}: must be stored without outputs")
    for md in (root / "book").glob("*.md"):
        if md.with_suffix(".ipynb").exists() and not is_notebook(md):
            found.append(f"{md.relative_to(root)}: has a paired .ipynb but no jupytext header (it would not execute)")
    return found


def sync(root: Path) -> list[Path]:
    """Regenerate setup cells and paired notebooks; return the files written."""
    import jupytext

    written = []
    expected_setup = setup_cell_source(root)
    for md in chapter_notebooks(root):
        notebook = jupytext.read(md)
        first = notebook.cells[0] if notebook.cells else None
        if first is None or first.cell_type != "code" or "google.colab" not in first.source:
            raise SystemExit(f"{md}: the first cell must be the Colab setup cell; add one and rerun")
        if first.source != expected_setup:
            first.source = expected_setup
            first.metadata["tags"] = ["remove-cell"]
            jupytext.write(notebook, md, fmt="md:myst")
            written.append(md)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        ipynb = md.with_suffix(".ipynb")
        if ipynb.exists() and _paired_content(jupytext.read(ipynb)) == _paired_content(notebook):
            continue  # unchanged: keep the file (and its cell ids) as they are
        jupytext.write(notebook, ipynb, fmt="ipynb")
        written.append(ipynb)
    return written


def chapter_timeout(notebook, default: int = 1800) -> int:
    """The per-cell timeout (s) a chapter declares in its header (``mystnb.execution_timeout``)."""
    return int(notebook.metadata.get("mystnb", {}).get("execution_timeout", default))


def run_chapter(md: Path, out: Path | None = None) -> int:
    """Execute one chapter (in its own folder) under the stall watchdog; print its text
    output and wall time; 1 on a cell error, a timeout or a stall."""
    import time

    import jupytext
    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    from kellynotes import execution

    notebook = jupytext.read(md)
    start = time.perf_counter()
    status = 0
    try:
        execution.execute(notebook, cwd=str(md.parent), timeout=chapter_timeout(notebook), kernel_name="python3")
    except (CellExecutionError, CellTimeoutError, execution.KernelStallError) as error:
        print(error, file=sys.stderr)
        status = 1
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                print(output.text, end="")
    print(f"[{md.name}: executed in {time.perf_counter() - start:.1f} s]")
    if out is not None:
        nbformat.write(notebook, out)
    return status


def read_chapter(md: Path):
    """A chapter as the Jupyter Book build reads it (myst-nb's reader), so that its
    execution-cache key (code cell sources and kernelspec) is the build's."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(md.read_text(), add_source_map=True, path=md)


def _execute_chapter(md: Path, default_timeout: int, stall_timeout: float):
    """Worker of :func:`execute_chapters`: ``(md, executed notebook as JSON or None, seconds,
    slowest cell (index, seconds), error text or None)``."""
    import time
    import traceback

    import nbformat
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    from kellynotes import execution

    notebook = read_chapter(md)
    start = time.perf_counter()
    try:
        client = execution.execute(notebook, cwd=str(md.parent), timeout=chapter_timeout(notebook, default_timeout),
                                   allow_errors=False, record_timing=False, stall_timeout=stall_timeout,
                                   stall_retries=execution.STALL_RETRIES)
    except (CellExecutionError, CellTimeoutError, execution.KernelStallError):
        return md, None, time.perf_counter() - start, None, traceback.format_exc()
    return md, nbformat.writes(notebook), time.perf_counter() - start, execution.slowest_cell(client), None


def execute_chapters(root: Path, cache_path: Path, jobs: int = 2) -> int:
    """Execute every chapter that the execution cache at ``cache_path`` lacks, ``jobs`` at a
    time, and cache each one as myst-nb does (the build then reads them; keyed on cell
    source). The most expensive chapters (largest declared cell timeout) start first.
    Timeouts come from ``_config.yml`` and the chapter headers, as in the build. Returns
    0, or 1 if a chapter failed (its traceback is printed and nothing is cached for it)."""
    import time
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    config = load_config(root)
    default_timeout = int(config.get("execute", {}).get("timeout", 1800))
    stall_timeout = float(config.get("sphinx", {}).get("config", {}).get("kellynotes_stall_timeout", 180))
    cache = get_cache(str(cache_path))
    sources = {md: read_chapter(md) for md in chapter_notebooks(root)}  # each chapter read once
    keys = {md: cache.create_hashed_notebook(notebook)[1] for md, notebook in sources.items()}
    pending = []
    for md, notebook in sources.items():
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending.append(md)
    pending.sort(key=lambda md: -chapter_timeout(sources[md], default_timeout))
    if not pending:
        print("== every chapter is in the execution cache")
        return 0
    print(f"== executing {len(pending)} chapters, {jobs} at a time: {', '.join(md.name for md in pending)}", flush=True)
    start, failed = time.perf_counter(), 0
    # "spawn": every worker starts clean (no inherited zmq or jax state).
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_execute_chapter, md, default_timeout, stall_timeout) for md in pending]
        for future in as_completed(futures):
            md, text, seconds, slowest, error = future.result()
            name = md.relative_to(root)
            if error is not None:
                failed += 1
                print(f"!! {name} failed after {seconds:.0f} s:\n{error}", file=sys.stderr, flush=True)
                continue
            executed = nbformat.reads(text, as_version=4)
            # The cache keys on code cells with all their metadata: the run must not have changed it,
            # or the build would not find the notebook and would execute it again.
            if cache.create_hashed_notebook(executed)[1] != keys[md]:
                raise RuntimeError(f"{name}: executing changed the notebook's cache key (cell metadata?)")
            cache.cache_notebook_bundle(CacheBundleIn(executed, str(md), data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"   {name}: executed in {seconds:.0f} s (slowest cell #{slowest[0]}: {slowest[1]:.0f} s), "
                  f"{time.perf_counter() - start:.0f} s since the start", flush=True)
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kellynotes.booktools", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check", "run", "execute"])
    parser.add_argument("chapter", nargs="?", type=Path, help="with run: the chapter's .md file")
    parser.add_argument("--out", type=Path, help="with run: write the executed notebook here")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--cache", type=Path, help="with execute: the Jupyter Book execution cache folder")
    parser.add_argument("--jobs", type=int, default=2, help="with execute: chapters run at a time")
    args = parser.parse_args(argv)
    if args.command == "execute":
        if args.cache is None:
            parser.error("execute needs --cache, e.g. --cache _build/.jupyter_cache")
        return execute_chapters(args.root.resolve(), args.cache, args.jobs)
    if args.command == "run":
        if args.chapter is None:
            parser.error("run needs a chapter, e.g. book/kelly.md")
        return run_chapter(args.chapter.resolve(), args.out)
    if args.command == "sync":
        for path in sync(args.root):
            print(f"wrote {path}")
        return 0
    issues = problems(args.root)
    for line in issues:
        print(line, file=sys.stderr)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main())
