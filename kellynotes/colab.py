"""Installing kellynotes on Colab without replacing the runtime's own jax.

Colab preinstalls a CUDA build of jax. A plain ``pip install kellynotes`` lets pip
upgrade jax to the newest CPU build from the package index whenever the newest
equinox, optax or diffrax asks for it. The first cell of every chapter therefore
reads the versions of the jax packages already installed, writes them to a pip
constraints file, and installs kellynotes under those constraints: pip then picks
equinox, optax and diffrax versions that work with the runtime's jax, or fails with
a clear message.

This module uses the standard library only: its source, below the marker line, is
pasted into the setup cell of every chapter by ``python -m kellynotes.booktools
sync`` (the cell runs before kellynotes is installed). Run it as a script to install
anywhere the same way: ``python kellynotes/colab.py REQUIREMENT --minimum-jax V``.
"""

# --- setup cell source starts here ---
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile

# The jax packages that a runtime (Colab's CUDA or TPU build) brings along.
JAX_RUNTIME = ("jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt",
               "jax-cuda13-plugin", "jax-cuda13-pjrt", "libtpu")
REPORTED = ("kellynotes", "jax", "jaxlib", "equinox", "optax", "diffrax")


def installed_versions(names):
    """``{name: version or None}`` for each distribution name."""
    found = {}
    for name in names:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def version_tuple(version):
    """Leading numeric release of a version string: '0.4.30.dev1' -> (0, 4, 30)."""
    match = re.match(r"\d+(\.\d+)*", version.strip())
    if match is None:
        raise ValueError(f"not a version: {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def runtime_constraints(installed, minimum_jax):
    """pip constraint lines pinning every jax runtime package that is installed.

    ``installed`` maps distribution names to versions (None: not installed). With no
    jax installed there is nothing to keep and pip chooses freely. A jax older than
    ``minimum_jax`` cannot be kept: that raises ``RuntimeError`` saying what to do.
    """
    jax = installed.get("jax")
    if jax is not None and version_tuple(jax) < version_tuple(minimum_jax):
        raise RuntimeError(
            f"this runtime has jax {jax}; kellynotes needs jax>={minimum_jax}. Upgrade the "
            f"runtime's own build first (on a Colab GPU: pip install -U \"jax[cuda12]\"), "
            "restart the session, and run this cell again.")
    return [f"{name}=={installed[name]}" for name in JAX_RUNTIME if installed.get(name)]


def install_kellynotes(requirement, minimum_jax):
    """Install ``requirement`` (a pip requirement for kellynotes) keeping the installed
    jax packages; skip pip when kellynotes is already installed; print the versions.
    Returns the constraint lines used (None when nothing was installed)."""
    if installed_versions(["kellynotes"])["kellynotes"] is not None:
        print("kellynotes is already installed; restart the session to reinstall it.")
        constraints = None
    else:
        constraints = runtime_constraints(installed_versions(JAX_RUNTIME), minimum_jax)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as file:
            file.write("\n".join(constraints) + "\n")
        print("installing kellynotes, keeping", ", ".join(constraints) or "no preinstalled jax")
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-c", file.name, requirement],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                "pip found no versions of kellynotes' dependencies that work with this "
                f"runtime's {', '.join(constraints)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        importlib.invalidate_caches()  # let this process import what pip just installed
    versions = installed_versions(REPORTED)
    print("  ".join(f"{name} {version}" for name, version in versions.items() if version))
    return constraints
# --- setup cell source ends here ---


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Install kellynotes keeping the installed jax.")
    parser.add_argument("requirement", help='e.g. "kellynotes @ git+https://...@main" or a local path')
    parser.add_argument("--minimum-jax", required=True)
    arguments = parser.parse_args()
    install_kellynotes(arguments.requirement, arguments.minimum_jax)
