"""``python -m kellynotes run neural-entropy --dataset digits``: see :mod:`kellynotes.experiments`."""

import sys

from .experiments import main

sys.exit(main())
