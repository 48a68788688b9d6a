"""Atomic file writes: a killed job leaves the old file or the new one, never half of one.

Used by the checkpoints of :mod:`kellynotes.training` and by the artifacts of :mod:`kellynotes.store`.
"""

import os
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "atomic_write_text"]


def atomic_write(path, write: Callable) -> None:
    """Write ``path`` atomically: ``write(file)`` fills a temporary binary file beside it, which
    is then renamed over ``path`` (atomic on POSIX). The parent folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_text(path, text: str) -> None:
    """:func:`atomic_write` of a UTF-8 text."""
    atomic_write(path, lambda file: file.write(text.encode()))
