"""Shared test set-up.

Every XLA:CPU executable keeps its machine code in memory maps of its own, and the whole
suite runs in one process. Measured (``/proc/self/maps``): about 22,600 maps after
``test_api_vectors`` alone and 32,800 one module later; the kernel's default limit
(``vm.max_map_count``) is 65,530, and LLVM's JIT segfaults when a map is refused. That is
the crash CI hit in ``test_training`` (exit 139, 95 % through). Dropping JAX's compiled
programs after each test module brings the count back to about 1,100.
"""

import gc

import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def _drop_compiled_programs_after_each_module():
    yield
    jax.clear_caches()
    gc.collect()


# The two longest tests (each executes every chapter; about 10 and 9 minutes on 2 cores) are
# collected first, so that with `pytest -n 2 --dist loadfile` (./dev.sh test) each starts at once
# on its own worker while the other worker's share of the unit tests runs beside it.
LONGEST_FIRST = ("test_colab_run.py", "test_book.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)
