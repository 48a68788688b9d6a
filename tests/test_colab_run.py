"""A Colab-like run of every paired notebook (marked ``colab``; ``.ci/run`` runs it).

1. A fresh Python 3.12 virtual environment (Colab's Python) with a jax at the declared
   lower bound preinstalled, as Colab has its own, plus only what runs a kernel.
2. A stand-in ``google.colab`` module imported at start-up, so the setup cell really runs.
3. The repository URL of ``_config.yml`` redirected by git to a snapshot of this working
   tree, so the setup cell's own ``pip install "kellynotes @ git+URL@main"`` installs
   this code, with runtime dependencies only (no book or test extras).
4. Every paired ``.ipynb`` executed top to bottom with nbclient, in quick mode, in a
   folder holding nothing of the repository.
5. The preinstalled jax and jaxlib must be unchanged.
"""

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import jupytext
import pytest
from helpers import ROOT

from kellynotes import booktools

pytestmark = pytest.mark.colab

RUNNER = r'''
import json, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

report = []
for path, timeout in json.loads(sys.argv[1]):
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": sys.argv[2]}}).execute()
    setup_output = "".join(o.get("text", "") for o in notebook.cells[0].get("outputs", []))
    report.append({"notebook": Path(path).name, "seconds": time.perf_counter() - start, "setup": setup_output})
    print(json.dumps(report[-1]), flush=True)
'''


def python312() -> str | None:
    candidates = [os.environ.get("KELLYNOTES_PYTHON312"), shutil.which("python3.12"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)":
            return candidate
    return None


def snapshot_repository(destination: Path) -> None:
    """This working tree (tracked and untracked, not ignored files) as a one-commit git repo on main."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=destination, check=True)
    subprocess.run(["git", "branch", "-M", "main"], cwd=destination, check=True)


def test_every_notebook_runs_in_a_colab_like_runtime_and_keeps_its_jax(tmp_path):
    python = python312()
    if python is None:
        message = "no Python 3.12 found (set KELLYNOTES_PYTHON312)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    minimum = booktools.minimum_jax(ROOT)
    venv = tmp_path / "colab"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    vpython = str(venv / "bin" / "python")
    pip = [vpython, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # The runtime: its own jax, and a kernel with a client (Colab runs ipykernel 6).
    subprocess.run([*pip, f"jax=={minimum}", f"jaxlib=={minimum}", "ipykernel<7", "nbclient", "nbformat"],
                   check=True)
    site = subprocess.run([vpython, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "google" / "colab").mkdir(parents=True)
    (Path(site) / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s module."""\n')
    (Path(site) / "google" / "colab" / "output.py").write_text('"""Imported by jax when on Colab."""\n')
    (Path(site) / "google_colab_stand_in.pth").write_text("import google.colab\n")
    versions = "import importlib.metadata as m; print(m.version('jax'), m.version('jaxlib'))"
    before = subprocess.run([vpython, "-c", versions], capture_output=True, text=True, check=True).stdout

    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    snapshot_repository(snapshot)
    url = booktools.load_config(ROOT)["repository"]["url"]
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text(f'[url "{snapshot.as_uri()}"]\n\tinsteadOf = {url}\n[protocol "file"]\n\tallow = always\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(GIT_CONFIG_GLOBAL=str(gitconfig), KELLYNOTES_QUICK="1", PATH=f"{venv / 'bin'}:{env['PATH']}")

    work = tmp_path / "content"  # like Colab's /content: nothing of the repository in it
    work.mkdir()
    chapters = [(str(md.with_suffix(".ipynb")), booktools.chapter_timeout(jupytext.read(md)))
                for md in booktools.chapter_notebooks(ROOT)]
    result = subprocess.run([vpython, "-c", RUNNER, json.dumps(chapters), str(work)], cwd=work, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    report = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["notebook"] for r in report] == [Path(path).name for path, _ in chapters]
    assert f"keeping jax=={minimum}, jaxlib=={minimum}" in report[0]["setup"]
    assert all("already installed" in r["setup"] for r in report[1:])  # the cell is safe to rerun
    after = subprocess.run([vpython, "-c", versions], capture_output=True, text=True, check=True).stdout
    assert after == before == f"{minimum} {minimum}\n"
    installed = subprocess.run([vpython, "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                               check=True).stdout
    names = {item["name"].lower() for item in json.loads(installed)}
    assert "kellynotes" in names and "jupyter-book" not in names and "pytest" not in names
    print("\n".join(f"{r['notebook']}: {r['seconds']:.0f} s" for r in report))
