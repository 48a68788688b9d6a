"""Constants and helpers shared by the tests (imported as ``from helpers import ...``; pytest puts
this folder on ``sys.path``)."""

from pathlib import Path

import numpy as np
from jax import monitoring
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kellynotes.sde import VPSDE

ROOT = Path(__file__).resolve().parents[1]

# The default VP process (beta from 0.1 to 20 on [0, 1]) that most tests run on.
SDE = VPSDE()

# Monte Carlo means of many i.i.d. terms with finite variance are normal to good approximation. Every
# test draws from a fixed seed, so each comparison is deterministic; |z| < 4 would fail with probability
# ~6e-5 per comparison if the seed were redrawn, so a failure means a real disagreement, not bad luck.
Z_MAX = 4.0


def within(estimate, stderr, exact, z_max: float = Z_MAX) -> bool:
    """Whether every ``estimate`` is within ``z_max`` standard errors of ``exact``."""
    return bool(np.all(np.abs(np.asarray(estimate) - exact) < z_max * np.asarray(stderr)))


def new_figure(size=(6, 3)) -> Figure:
    """A figure with an Agg canvas, drawn without pyplot (no global state)."""
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


_COMPILATIONS = [0]


def _count_compilation(event: str, duration: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _COMPILATIONS[0] += 1


monitoring.register_event_duration_secs_listener(_count_compilation)


def backend_compilations() -> int:
    """How many XLA programs this process has compiled so far (JAX's public monitoring events)."""
    return _COMPILATIONS[0]
