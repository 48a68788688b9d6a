"""kellynotes: the information theory of diffusion models, computed.

Importing the package is cheap and has no side effects: submodules (and JAX,
matplotlib) are loaded only when first used, e.g. ``kellynotes.kelly``.
No JAX configuration or plotting backend is changed at import.

The one-call estimators for your own data are
:func:`kellynotes.estimate_mutual_information` and
:func:`kellynotes.estimate_neural_entropy` (see :mod:`kellynotes.api`).
"""

import importlib
from typing import TYPE_CHECKING

from .version import __version__

_SUBMODULES = (
    "api", "atomic", "autoencoders", "bounds", "classifier", "cli", "dae", "data", "divergence", "entropy",
    "experiments", "figures", "gaussian", "guidance", "images", "interactive", "kelly", "marginals", "mixture",
    "montecarlo", "nets", "posterior", "results", "runtime", "sampling", "sde", "semantic", "spectrum", "store",
    "tower", "tracing", "training", "unet",
)
_API = ("estimate_mutual_information", "estimate_neural_entropy", "ImageInformationConfig", "VectorInformationConfig")

__all__ = ["__version__", *_API, *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _API:
        value = getattr(importlib.import_module(f"{__name__}.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from . import (  # noqa: F401
        api,
        atomic,
        autoencoders,
        bounds,
        classifier,
        cli,
        dae,
        data,
        divergence,
        entropy,
        experiments,
        figures,
        gaussian,
        guidance,
        images,
        interactive,
        kelly,
        marginals,
        mixture,
        montecarlo,
        nets,
        posterior,
        results,
        runtime,
        sampling,
        sde,
        semantic,
        spectrum,
        store,
        tower,
        tracing,
        training,
        unet,
    )
    from .api import (  # noqa: F401
        ImageInformationConfig,
        VectorInformationConfig,
        estimate_mutual_information,
        estimate_neural_entropy,
    )
