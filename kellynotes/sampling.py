r"""Generation: the reverse SDE and the probability-flow ODE, in the entropy-matching form.

**Reverse SDE** (Eq. 5): with reverse time $t = T - s$,
$d\mathbf X_t = \big(b_+ + \sigma^2\mathbf e(\mathbf X_t, s)\big)dt + \sigma\,d\mathbf B_t$, which for the VP
process is $\big(-\tfrac12\beta\mathbf x + \beta\,\mathbf e\big)dt + \sqrt\beta\,d\mathbf B_t$.
With $\mathbf e = 0$ this is the forward process again: an entropy-matching model that
stores nothing leaves the equilibrium distribution where it is.

**Probability-flow ODE** (Eq. 65): the deterministic flow with the same marginals $p_s$,
$d\mathbf x/ds = -\tfrac12\beta(s)\big(\mathbf x + \nabla\log p_s(\mathbf x)\big) =
-\tfrac12\beta(s)\,\mathbf e(\mathbf x, s)$
in forward time $s$, integrated from $s = T$ down to $s_{\rm end}$ with Diffrax
(:func:`probability_flow`). With a guided field (:func:`kellynotes.guidance.guided_field`)
it is the CFG sampler of Eqs. 16 and 51.

Both take any *entropy field* ``field(x, s, y)`` returning $\mathbf e(\mathbf x, s;\mathbf y)$ for a
batch, with ``s`` of shape ``(N,)`` and ``y=None`` for the unconditional field.
"""

from dataclasses import dataclass
from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from . import tracing
from .sde import VPSDE

__all__ = ["FlowResult", "probability_flow", "reverse_sde_paths"]

SOLVERS = ("tsit5", "heun", "euler")
_SOLVER_CLASSES = {"tsit5": diffrax.Tsit5, "heun": diffrax.Heun, "euler": diffrax.Euler}
# Field calls per attempted step (Tsit5 has 7 stages, the first reused from the last step:
# "first same as last") and once per solve (Tsit5: that first stage at s = T). Diffrax 0.7.2
# makes no calls for the adaptive controller's first step (it wraps the term, and its
# initial-step heuristic then falls back to a fixed guess). Checked against a counting
# callback in tests/test_sampling.py.
_CALLS_PER_STEP = {"tsit5": 6, "heun": 2, "euler": 1}
_CALLS_AT_START = {"tsit5": 1, "heun": 0, "euler": 0}


def reverse_sde_paths(
    key: PRNGKeyArray,
    field,
    sde: VPSDE,
    x_T: Float[Array, "N D"],
    *,
    num_steps: int = 500,
    s_min: float = 1e-3,
    y=None,
) -> tuple[Float[Array, " K"], Float[Array, "K N D"]]:
    r"""Euler–Maruyama solution of the reverse SDE from $s = T$ down to ``s_min``.

    ``field(x, s, y)`` is an entropy field (a trained :class:`~kellynotes.entropy.EntropyModel`'s
    ``entropy_field`` or an exact one). Steps are uniform in $s$; step $k$ draws its noise from
    ``jax.random.split(key, num_steps)[k]``, so the same ``key`` gives the same paths. Returns
    the times (decreasing, shape (K,)) and the states at those times (K, N, D), K = num_steps + 1.

    The loop is one compiled ``lax.scan``; the field's arrays enter it as arguments (as in
    :func:`probability_flow`), so repeated calls reuse the compilation.
    """
    num_steps = check.positive_int(num_steps, "num_steps")
    if not 0.0 < s_min < sde.T:
        raise ValueError(f"s_min must lie in (0, T={sde.T}), got {s_min}")
    x_T, y = _states(x_T, y)
    traced, consts = _trace_field(field, x_T, y)
    # The step size is formed in float64 on the host, then rounded once, as a Python float would be.
    dt = np.asarray((sde.T - s_min) / num_steps, dtype=x_T.dtype)
    return _euler_maruyama(traced, consts, key, x_T, y, jnp.asarray(s_min, x_T.dtype), dt, sde=sde,
                           num_steps=int(num_steps))


@partial(jax.jit, static_argnames=("field", "sde", "num_steps"))
def _euler_maruyama(field, consts, key, x_T, y, s_min, dt, *, sde, num_steps):
    s_grid = jnp.linspace(sde.T, s_min, num_steps + 1, dtype=x_T.dtype)
    n = x_T.shape[0]

    def step(x, inputs):
        key, s = inputs
        beta = sde.beta(s)
        e = field(consts, x, jnp.full((n,), s), y)
        x = x + (-0.5 * beta * x + beta * e) * dt + jnp.sqrt(beta * dt) * jax.random.normal(key, x.shape, x.dtype)
        return x, x

    keys = jax.random.split(key, num_steps)
    _, path = jax.lax.scan(step, x_T, (keys, s_grid[:-1]))
    return s_grid, jnp.concatenate([x_T[None], path])


# --------------------------------------------------------------------------- #
# Probability-flow ODE
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class FlowResult:
    r"""Output of :func:`probability_flow`.

    ``x`` are the states at ``s_end``; ``s`` and ``path`` the requested intermediate times
    (``saveat_s``, decreasing) and the states there, or ``None``. ``num_steps`` counts accepted
    steps, ``num_rejected_steps`` the steps the adaptive controller threw away (0 for fixed
    steps), and ``num_field_evaluations`` the calls of ``field`` on the whole batch (a guided
    field evaluates the underlying network twice per call).
    """

    x: Float[Array, "N D"]
    s_end: float
    solver: str
    num_steps: int
    num_rejected_steps: int
    num_field_evaluations: int
    s: np.ndarray | None = None
    path: Float[Array, "K N D"] | None = None


def _trace_field(field, x, y):
    """Trace ``field`` at the shapes of ``x`` and ``y`` (:func:`kellynotes.tracing.trace`): returns
    ``(traced, consts)``. The field's arrays reach the compiled solver as runtime arguments, and
    equal computations on new arrays (another model of the same architecture, another Gaussian of
    the same size, a freshly built guided closure) reuse the compiled solver."""
    traced, consts = tracing.trace(field, x, jnp.zeros(x.shape[:1], x.dtype), y)
    out = traced.output
    if not (hasattr(out, "shape") and tuple(out.shape) == tuple(x.shape)):
        got = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"field(x, s, y) must return an array of the shape of x {tuple(x.shape)}, got {got}")
    return traced, consts


def _max_rms_norm(error):
    """The largest per-sample RMS over the batch: each sample is held to rtol/atol, as if solved alone."""
    return jnp.max(jnp.sqrt(jnp.mean(jnp.square(error), axis=-1)))


# No reverse-mode gradients are needed: ForwardMode (diffrax >= 0.6.2) solves in a plain loop
# that compiles ~25% faster; older diffrax falls back to its default adjoint (same numbers).
_NO_GRADIENT_ADJOINT = getattr(diffrax, "ForwardMode", diffrax.RecursiveCheckpointAdjoint)


@partial(jax.jit, static_argnames=("field", "sde", "solver", "num_steps", "max_steps"))
def _solve(field, consts, x_T, y, s_end, rtol, atol, saveat_s, *, sde, solver, num_steps, max_steps):
    n = x_T.shape[0]

    def vector_field(s, x, args):
        consts, y = args
        e = field(consts, x, jnp.full((n,), s, x.dtype), y)
        return -0.5 * sde.beta(s) * e

    if num_steps is None:
        # A PI controller (one of Diffrax's suggestions for moderately difficult problems):
        # on the guided Gaussian flows (D=25, w in {0, 1, 4}, rtol 1e-3..1e-7) it rejected 40%
        # fewer steps than the default I controller and made 10% fewer attempts overall.
        controller = diffrax.PIDController(rtol=rtol, atol=atol, norm=_max_rms_norm, pcoeff=0.2, icoeff=0.4)
    else:
        controller = diffrax.StepTo(ts=jnp.linspace(sde.T, s_end, num_steps + 1, dtype=x_T.dtype))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vector_field), _SOLVER_CLASSES[solver](), sde.T, s_end, None, x_T, args=(consts, y),
        saveat=diffrax.SaveAt(t1=True, ts=saveat_s), stepsize_controller=controller, max_steps=max_steps,
        adjoint=_NO_GRADIENT_ADJOINT(),
        throw=False,
    )
    succeeded = sol.result == diffrax.RESULTS.successful
    max_steps_reached = sol.result == diffrax.RESULTS.max_steps_reached
    return sol.ys, sol.stats["num_steps"], sol.stats["num_accepted_steps"], succeeded, max_steps_reached


def _states(x_T, y):
    """``x_T`` (N, D) as a float JAX array and ``y`` (N, ...) or ``None``, checked against each other."""
    x_T = jnp.asarray(x_T)
    if x_T.ndim != 2 or x_T.shape[0] < 1 or x_T.shape[1] < 1:
        raise ValueError(f"x_T must have shape (N, D), got shape {x_T.shape}")
    if not jnp.issubdtype(x_T.dtype, jnp.floating):
        x_T = x_T.astype(jnp.result_type(float))
    if y is not None:
        y = jnp.asarray(y)
        if y.ndim < 1 or y.shape[0] != x_T.shape[0]:
            raise ValueError(f"y must have the batch size N={x_T.shape[0]} of x_T as its first axis, "
                             f"got shape {y.shape}")
    return x_T, y


def probability_flow(
    field,
    sde: VPSDE,
    x_T: Float[Array, "N D"],
    *,
    y=None,
    s_end: float = 1e-3,
    solver: str = "tsit5",
    num_steps: int | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    saveat_s: Float[Array, " K"] | None = None,
    max_steps: int = 4096,
) -> FlowResult:
    r"""Solve the probability-flow ODE (Eq. 65) from $s = T$ down to ``s_end`` for a batch of starts.

    $$\frac{d\mathbf x}{ds} = -\tfrac12\,\beta(s)\,\mathbf e(\mathbf x, s;\mathbf y),\qquad
    \mathbf x(T) = \mathbf x_T,$$

    integrated in *decreasing* forward time $s$ (so the flow moves samples from the
    equilibrium $\mathcal N(0, I)$ towards the data). Units: $s$ is the diffusion time of
    ``sde`` (in $[0, T]$), $\beta$ is per unit $s$, $\mathbf e = \nabla\log p_s + \mathbf x$ is a score
    (per unit of $\mathbf x$); the VP process assumes data of unit scale, so $\mathbf x$ and
    $\mathbf e$ are O(1) numbers in data units. The map $\mathbf x_T\mapsto\mathbf x(s_{\rm end})$ is
    deterministic: no key, and the same inputs give bit-identical outputs. The whole batch is
    one ODE with one step sequence (set by its worst sample), so a sample's output can move
    within the tolerance when the rest of the batch changes.

    ``field(x, s, y)`` is any entropy field: exact
    (``functools.partial(gaussian.exact_entropy_field, g, sde)``), trained
    (``EntropyModel.entropy_field``) or guided (``guidance.guided_field(field, w)``); it is
    called on the whole batch with ``s`` of shape ``(N,)``. Its closed-over arrays are passed
    to the compiled solver as arguments, so a second call with a field of the same structure
    (even with other weights) reuses the compilation. Call this eagerly (not inside ``jit``).

    Solvers: ``"tsit5"`` (default) is adaptive Tsitouras 5(4) with a PID controller, holding
    every sample's local error (RMS over its D coordinates) to ``atol + rtol·|x|``; with
    ``num_steps`` it takes that many uniform steps instead. ``"heun"`` (2nd order) and
    ``"euler"`` (1st order) take ``num_steps`` uniform steps in $s$ (required).

    ``s_end`` may be 0 only for fields that are finite at $s = 0$ (the exact Gaussian fields
    are; a trained :class:`~kellynotes.entropy.EntropyModel` divides by $\sqrt{1-\alpha(s)}$
    and is not). ``saveat_s``: optional strictly decreasing times in $[s_{\rm end}, T]$ at which
    to also return the states (``FlowResult.path``, shape (K, N, D)). ``y``: the condition,
    with the same leading size N as ``x_T`` (``None``: unconditional). Raises ``ValueError``
    for bad arguments and ``RuntimeError`` if the adaptive solve fails (e.g. ``max_steps``).
    """
    if not isinstance(sde, VPSDE):
        raise ValueError(f"sde must be a VPSDE, got {type(sde).__name__}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    if num_steps is None:
        if solver != "tsit5":
            raise ValueError(f"solver {solver!r} takes fixed steps: pass num_steps (a positive integer)")
    else:
        num_steps = check.positive_int(num_steps, "num_steps")
    try:
        s_end = float(s_end)
    except (TypeError, ValueError) as error:
        raise ValueError(f"s_end must be a number in [0, T={sde.T}), got {s_end!r}") from error
    if not 0.0 <= s_end < sde.T:
        raise ValueError(f"s_end must lie in [0, T={sde.T}), got {s_end}")
    rtol, atol = check.positive_number(rtol, "rtol"), check.positive_number(atol, "atol")
    max_steps = check.positive_int(max_steps, "max_steps")
    x_T, y = _states(x_T, y)
    if saveat_s is not None:
        saveat_s = np.asarray(saveat_s, dtype=np.float64)
        if saveat_s.ndim != 1 or saveat_s.size == 0:
            raise ValueError(f"saveat_s must be a non-empty 1-D array of times, got shape {saveat_s.shape}")
        if not (np.all(np.isfinite(saveat_s)) and np.all(np.diff(saveat_s) < 0)):
            raise ValueError("saveat_s must be strictly decreasing (the flow runs from s=T down to s_end)")
        if saveat_s[0] > sde.T or saveat_s[-1] < s_end:
            raise ValueError(f"saveat_s must lie in [s_end={s_end}, T={sde.T}], "
                             f"got values in [{saveat_s[-1]}, {saveat_s[0]}]")

    traced, consts = _trace_field(field, x_T, y)
    dtype = x_T.dtype
    ys, attempted, accepted, succeeded, max_steps_reached = _solve(
        traced, consts, x_T, y, jnp.asarray(s_end, dtype), jnp.asarray(rtol, dtype), jnp.asarray(atol, dtype),
        None if saveat_s is None else jnp.asarray(saveat_s, dtype),
        sde=sde, solver=solver, num_steps=num_steps, max_steps=int(max_steps),
    )
    if not bool(succeeded):
        reason = (f"max_steps={max_steps} reached (raise max_steps, loosen rtol/atol, or check that the field "
                  "is finite down to s_end)") if bool(max_steps_reached) else "the solver reported a failure"
        raise RuntimeError(f"probability_flow with {solver!r} failed: {reason}")
    attempted, accepted = int(attempted), int(accepted)
    calls = _CALLS_AT_START[solver] + _CALLS_PER_STEP[solver] * attempted
    return FlowResult(
        x=ys[-1], s_end=s_end, solver=solver, num_steps=accepted, num_rejected_steps=attempted - accepted,
        num_field_evaluations=calls, s=saveat_s, path=None if saveat_s is None else ys[:-1],
    )
