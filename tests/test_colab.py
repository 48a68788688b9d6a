"""The Colab setup cell: constraint logic (pure functions) and the generated cell itself."""

import importlib.metadata
import subprocess
import sys
import types
from pathlib import Path

import pytest
from helpers import ROOT

from kellynotes import booktools, colab

MINIMUM = booktools.minimum_jax(ROOT)


def test_constraints_keep_every_installed_jax_package():
    installed = {"jax": "0.7.2", "jaxlib": "0.7.2", "jax-cuda12-plugin": "0.7.2", "jax-cuda12-pjrt": "0.7.2",
                 "jax-cuda13-plugin": None, "libtpu": None}
    assert colab.runtime_constraints(installed, "0.4.30") == [
        "jax==0.7.2", "jaxlib==0.7.2", "jax-cuda12-plugin==0.7.2", "jax-cuda12-pjrt==0.7.2"]


def test_constraints_when_versions_are_missing():
    # No jax at all (a bare Python): nothing to keep, pip chooses freely.
    assert colab.runtime_constraints({name: None for name in colab.JAX_RUNTIME}, "0.4.30") == []
    assert colab.runtime_constraints({}, "0.4.30") == []
    # jax without a separate jaxlib distribution: keep what is there.
    assert colab.runtime_constraints({"jax": "0.5.0"}, "0.4.30") == ["jax==0.5.0"]


def test_a_jax_older_than_the_declared_minimum_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"jax 0\.4\.26; kellynotes needs jax>=0\.4\.30.*restart"):
        colab.runtime_constraints({"jax": "0.4.26", "jaxlib": "0.4.26"}, "0.4.30")
    # Pre-release and local suffixes compare by their release numbers.
    assert colab.runtime_constraints({"jax": "0.4.30.dev20240601"}, "0.4.30") == ["jax==0.4.30.dev20240601"]
    assert colab.version_tuple("0.10.2+cuda12") == (0, 10, 2)
    with pytest.raises(ValueError, match="not a version"):
        colab.version_tuple("latest")


def test_minimum_jax_is_read_from_pyproject(tmp_path):
    assert colab.version_tuple(MINIMUM) >= (0, 4, 30)
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["jax"]\n')
    with pytest.raises(ValueError, match="lower bound"):
        booktools.minimum_jax(tmp_path)


def setup_cell() -> str:
    return booktools.setup_cell_source(ROOT)


def test_the_setup_cell_is_the_module_source_and_one_call():
    source = setup_cell()
    url = booktools.load_config(ROOT)["repository"]["url"]
    assert source.splitlines()[-1].strip() == (
        f"install_kellynotes('kellynotes @ git+{url}@main', minimum_jax={MINIMUM!r})")
    assert "def runtime_constraints(installed, minimum_jax):" in source
    compile(source, "setup-cell", "exec")


def test_the_setup_cell_does_nothing_off_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    namespace = {}
    exec(setup_cell(), namespace)
    assert calls == [] and "install_kellynotes" not in namespace


def fake_colab(monkeypatch, installed: dict, returncode: int = 0):
    """A Colab runtime as the setup cell sees it: google.colab imported, these versions."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))

    def version(name):
        if installed.get(name) is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(importlib.metadata, "version", version)
    commands = []

    def run(command, **kwargs):
        constraints = Path(command[command.index("-c") + 1]).read_text()
        commands.append((command, constraints))
        installed["kellynotes"] = "0.1.0"
        return subprocess.CompletedProcess(command, returncode, stdout="", stderr="ResolutionImpossible")

    monkeypatch.setattr(subprocess, "run", run)
    return commands


def test_on_colab_the_cell_installs_with_the_runtime_pinned_and_is_safe_to_rerun(monkeypatch, capsys):
    commands = fake_colab(monkeypatch, {"jax": "0.7.2", "jaxlib": "0.7.2", "jax-cuda12-plugin": "0.7.2"})
    exec(setup_cell(), {})
    (command, constraints), = commands
    assert command[1:4] == ["-m", "pip", "install"] and command[-1].startswith("kellynotes @ git+")
    assert constraints.split() == ["jax==0.7.2", "jaxlib==0.7.2", "jax-cuda12-plugin==0.7.2"]
    out = capsys.readouterr().out
    assert "keeping jax==0.7.2" in out and "kellynotes 0.1.0  jax 0.7.2  jaxlib 0.7.2" in out
    exec(setup_cell(), {})  # a second run finds kellynotes installed and calls no pip
    assert len(commands) == 1 and "already installed" in capsys.readouterr().out


def test_on_colab_a_failed_resolution_says_so(monkeypatch):
    fake_colab(monkeypatch, {"jax": "0.7.2", "jaxlib": "0.7.2"}, returncode=1)
    with pytest.raises(RuntimeError, match=r"(?s)no versions .* jax==0\.7\.2, jaxlib==0\.7\.2.*ResolutionImpossible"):
        exec(setup_cell(), {})


def test_on_colab_an_old_jax_stops_before_pip(monkeypatch):
    commands = fake_colab(monkeypatch, {"jax": "0.4.20", "jaxlib": "0.4.20"})
    with pytest.raises(RuntimeError, match="Upgrade the runtime's own build"):
        exec(setup_cell(), {})
    assert commands == []
