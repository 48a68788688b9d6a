"""kellynotes: the information theory of diffusion models, computed.

Importing the package is cheap and has no side effects: submodules (and JAX,
matplotlib) are loaded only when first used, e.g. ``kellynotes.kelly``.
No JAX configuration or plotting backend is changed at import.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = ("kelly", "figures", "interactive", "runtime")

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from . import figures, interactive, kelly, runtime  # noqa: F401
