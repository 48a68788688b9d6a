"""Fields traced once with their captured arrays as inputs (kellynotes.tracing)."""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

from kellynotes import tracing


def closure_over(weights):
    return lambda x, s, y: x @ weights + s[:, None]


def test_a_lifted_closure_computes_what_the_closure_computes():
    weights = jnp.arange(6.0).reshape(3, 2)
    x, s = jnp.ones((4, 3)), jnp.linspace(0.0, 1.0, 4)
    lifted = tracing.lift(closure_over(weights), x, s, None)
    np.testing.assert_array_equal(lifted(x, s, None), closure_over(weights)(x, s, None))
    assert len(lifted.consts) == 1 and lifted.consts[0].shape == (3, 2)  # the captured array is an input
    assert lifted.function.output.shape == (4, 2)


def test_equal_computations_on_other_arrays_share_one_compilation():
    x, s = jnp.ones((4, 3)), jnp.zeros(4)
    a = tracing.lift(closure_over(jnp.ones((3, 2))), x, s, None)
    b = tracing.lift(closure_over(2.0 * jnp.ones((3, 2))), x, s, None)  # a fresh closure, other weights
    assert a.function == b.function and hash(a.function) == hash(b.function)
    c = tracing.lift(lambda x, s, y: jnp.tanh(x @ jnp.ones((3, 2))), x, s, None)  # another computation
    assert a.function != c.function

    traces = []

    @eqx.filter_jit
    def apply(field, x, s):
        traces.append(1)
        return field(x, s, None)

    np.testing.assert_array_equal(apply(a, x, s), 3.0 * jnp.ones((4, 2)))
    np.testing.assert_array_equal(apply(b, x, s), 6.0 * jnp.ones((4, 2)))  # new weights reach the program
    assert len(traces) == 1


def test_arguments_of_another_structure_are_refused():
    x, s = jnp.ones((4, 3)), jnp.zeros(4)
    lifted = tracing.lift(closure_over(jnp.ones((3, 2))), x, s, None)
    with pytest.raises(ValueError, match="traced structure"):
        lifted(x, s, jnp.zeros(4))
