import subprocess
import sys

from helpers import ROOT


def run_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT).stdout


def test_import_is_cheap_and_has_no_side_effects():
    out = run_python(
        "import sys, kellynotes\n"
        "print(sorted(m for m in ('jax', 'matplotlib', 'matplotlib.pyplot', 'equinox') if m in sys.modules))"
    )
    assert out.strip() == "[]"


def test_submodules_load_without_changing_jax_config_or_backend():
    out = run_python(
        "import os, matplotlib, jax\n"
        "backend = matplotlib.get_backend(); x64 = jax.config.jax_enable_x64\n"
        "import kellynotes\n"
        "kellynotes.kelly, kellynotes.interactive\n"
        "from kellynotes.figures import kelly\n"
        "print(backend == matplotlib.get_backend(), x64 == jax.config.jax_enable_x64)"
    )
    assert out.strip() == "True True"


def test_quick_mode_switch(monkeypatch):
    from kellynotes import runtime

    monkeypatch.delenv(runtime.QUICK_ENV, raising=False)
    assert runtime.scaled(100, quick=5) == 100
    monkeypatch.setenv(runtime.QUICK_ENV, "1")
    assert runtime.scaled(100, quick=5) == 5
    assert not runtime.on_colab()
