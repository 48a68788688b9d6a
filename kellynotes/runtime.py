"""Where the code runs: quick mode for tests, and detection of Colab.

Quick mode (environment variable ``KELLYNOTES_QUICK=1``) shrinks step counts
so that the test suite can execute every chapter in minutes. The rendered
book is always built with quick mode off.
"""

import os
import sys

QUICK_ENV = "KELLYNOTES_QUICK"


def quick_mode() -> bool:
    """True when ``KELLYNOTES_QUICK`` is set to 1/true/yes."""
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes"}


def scaled(full: int, quick: int) -> int:
    """``full`` normally, ``quick`` in quick mode (for step, sample and path counts)."""
    if full < 1 or quick < 1:
        raise ValueError(f"scaled: counts must be positive, got full={full}, quick={quick}")
    return quick if quick_mode() else full


def on_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules
