"""Functions traced once, with the arrays they close over lifted out as runtime inputs.

A field such as ``functools.partial(mixture.exact_entropy_field, mixture, sde)`` or a guided
closure over a network is a plain Python function: passed to a compiled estimator or solver
it would be hashed by identity (a new closure, a new compilation) and the arrays it captures
would be baked into the program as constants. Model weights as compile-time constants hit
an XLA CPU miscompilation in jax 0.10.2 (NaN/inf from a zero-output network at batch 8192),
and recompiling for every new closure costs seconds per call.

:func:`trace` records the function's computation at given example arguments as a jaxpr and
returns it with the captured arrays (``consts``). The :class:`TracedFunction` hashes and
compares by the printed jaxpr, so equal computations on other arrays of the same shapes
(another model of the same architecture, another mixture with as many components, a freshly
built closure) share one compiled program. :func:`lift` packs both into an Equinox module
whose arrays are traced inputs of any ``filter_jit`` function it is passed to.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.extend.core import ClosedJaxpr, jaxpr_as_fun

__all__ = ["Lifted", "TracedFunction", "lift", "trace"]


class TracedFunction:
    """A traced computation; call it as ``function(consts, *args)`` with arguments of the
    traced structure. Hashes and compares by its printed jaxpr and argument structure;
    ``output`` is the shape (``jax.ShapeDtypeStruct`` tree) of its result."""

    def __init__(self, closed: ClosedJaxpr, in_tree, output):
        self._jaxpr = closed.jaxpr
        self._in_tree, self._out_tree = in_tree, jax.tree.structure(output)
        self.output = output
        self._key = (str(closed.jaxpr), in_tree, self._out_tree)

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, TracedFunction) and self._key == other._key

    def __call__(self, consts, *args):
        leaves, in_tree = jax.tree.flatten(args)
        if in_tree != self._in_tree:
            raise ValueError(f"arguments of structure {in_tree} do not match the traced structure {self._in_tree}")
        outputs = jaxpr_as_fun(ClosedJaxpr(self._jaxpr, list(consts)))(*leaves)
        return jax.tree.unflatten(self._out_tree, outputs)


def trace(function: Callable, *args) -> tuple[TracedFunction, tuple]:
    """Trace ``function(*args)`` (arrays or ``jax.ShapeDtypeStruct``; ``None`` allowed): returns
    the :class:`TracedFunction` and the arrays it closes over."""
    leaves, in_tree = jax.tree.flatten(args)
    closed, out_shape = jax.make_jaxpr(lambda *leaves: function(*jax.tree.unflatten(in_tree, leaves)),
                                       return_shape=True)(*leaves)
    traced = TracedFunction(closed, in_tree, out_shape)
    return traced, tuple(jnp.asarray(c) for c in closed.consts)


class Lifted(eqx.Module):
    """``function`` with its captured arrays as a pytree field: calling ``lifted(*args)`` runs
    the traced computation; passed to ``eqx.filter_jit`` the arrays are traced inputs and the
    computation is part of the compilation key (by value, not identity)."""

    function: TracedFunction = eqx.field(static=True)
    consts: tuple

    def __call__(self, *args):
        return self.function(self.consts, *args)


def lift(function: Callable, *args) -> Lifted:
    """:func:`trace` ``function`` at ``args`` and pack the result as a :class:`Lifted` module."""
    return Lifted(*trace(function, *args))
