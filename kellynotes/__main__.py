"""``python -m kellynotes run <experiment>``: see :mod:`kellynotes.cli`."""

import sys

from .cli import main

sys.exit(main())
