"""A resumable, data-parallel training loop for any Equinox model and loss.

``fit(loss_fn, model, data, config, key=..., checkpoint_dir=...)`` minimises
``loss_fn(model, batch, key)`` with AdamW (linear warmup, cosine decay, gradient
clipping), keeps an exponential moving average (EMA) of the weights, and runs
``config.steps_per_call`` steps inside one compiled ``lax.scan`` between progress
updates (for convolutional models on CPU, one compiled step at a time: see ``FitConfig.loop``).

* **Determinism and resume.** The key of step ``n`` is ``fold_in(key, n)`` and batches
  are drawn from it, so the trajectory does not depend on how steps are grouped. With a
  ``checkpoint_dir`` the full state (weights, optimiser, EMA, step, best weights) is written at the
  end of each compiled call that reaches a multiple of ``checkpoint_every`` steps, atomically (a
  temporary file renamed over the old one), and a later call with the same directory resumes from
  it: a run killed and resumed ends with exactly the parameters of an uninterrupted run (on the
  same ``loop``; see :class:`FitConfig`). The checkpoint also keeps a record
  of every call that trained (steps, wall time, throughput, FLOPs, device), so a run split
  over several jobs reports all of them (:attr:`FitResult.jobs`).
* **One compilation per architecture.** The compiled step takes weights, fixed arrays,
  data and key as arguments: a second model of the same shape and loss function reuses it.
* **Early stopping without stopping.** With ``validation=loss_of_model`` the weights are
  scored before the first step and after every compiled call, and the best are kept
  (:attr:`FitResult.best_model`), in the checkpoint too.
* **NaN guard.** A non-finite loss stops the run with ``FloatingPointError``; the last
  checkpoint (written before the bad step) is left untouched.
* **Data parallel.** Each batch is sharded along its first axis over all local devices
  (``jax.sharding``); weights are replicated, and XLA inserts the gradient all-reduce.
* **Mixed precision.** ``compute_dtype="bfloat16"`` casts weights and floating inputs for
  the forward and backward pass; the master weights and optimiser stay in float32.
  Arrays held fixed (see ``trainable``) are not cast.
"""

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray

from . import _validation as check
from .atomic import atomic_write

__all__ = ["FitConfig", "FitResult", "fit", "load_checkpoint", "runs_step_by_step", "warmup_cosine_adamw"]

CHECKPOINT = "checkpoint.eqx"
METADATA = "checkpoint.json"


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit`: the optimiser (:func:`warmup_cosine_adamw`), the EMA, and how the steps
    are run. Configs of particular models extend it (:class:`kellynotes.entropy.TrainConfig`)."""

    steps: int
    batch_size: int
    learning_rate: float = 2e-4
    warmup_steps: int = 500
    final_learning_rate_fraction: float = 0.1
    weight_decay: float = 0.0
    gradient_clip: float = 1.0
    ema_decay: float = 0.999
    steps_per_call: int = 100  # steps between progress updates, checks and validation
    #: With validation: stop once this many steps have passed since the lowest validation loss so far
    #: (checked after each call; ``None``: train all ``steps``; see ``patience_reference`` of :func:`fit`).
    #: The learning-rate schedule still runs over ``steps``, so a run that stops early trained exactly
    #: as the full run up to there.
    patience: int | None = None
    checkpoint_every: int = 1000  # checkpoint after the call that reaches each multiple of it
    compute_dtype: str = "float32"  # or "bfloat16"
    #: How the steps of a call run: ``"scan"`` (one compiled ``lax.scan``), ``"steps"`` (one compiled step
    #: at a time) or ``"auto"``: steps for a model with convolutions on CPU, where XLA runs convolutions
    #: inside a compiled loop about 15x slower than outside one (8x8 U-Net, batch 64, 0.49 s vs 0.033 s
    #: per step on 2 cores), and scan otherwise. Both train the same weights up to float32 rounding, so
    #: a run may resume under the other.
    loop: str = "auto"
    #: Count the FLOPs of one step with XLA's cost analysis
    #: (:attr:`kellynotes.training.FitResult.flops_per_step`): one extra trace and lowering per new program.
    count_flops: bool = True
    progress: bool = True

    def __post_init__(self):
        name = type(self).__name__
        check.count_fields(self, ("steps", "batch_size", "steps_per_call", "checkpoint_every"))
        check.count_fields(self, ("warmup_steps",), minimum=0)
        if self.patience is not None:
            check.count_fields(self, ("patience",))
        if not self.learning_rate > 0:
            raise ValueError(f"{name}.learning_rate must be positive, got {self.learning_rate}")
        if self.compute_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"{name}.compute_dtype must be 'float32' or 'bfloat16', got {self.compute_dtype!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"{name}.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.loop not in ("auto", "scan", "steps"):
            raise ValueError(f"{name}.loop must be 'auto', 'scan' or 'steps', got {self.loop!r}")


@dataclass(frozen=True)
class FitResult:
    model: eqx.Module  # final weights
    ema_model: eqx.Module  # exponential moving average of the weights
    loss_steps: np.ndarray  # step at the end of each compiled call
    loss: np.ndarray  # mean loss over that call
    wall_time_s: float  # this call only (not earlier, resumed-from runs: see `jobs`)
    examples_per_s: float  # over the last call that trained (this one, if it trained), compilation included
    resumed_from: int  # 0 for a fresh run
    flops_per_step: float | None = None  # XLA's count for one forward+backward step (None if unavailable)
    batch_size: int = 1
    # Of the last call that trained (this one, if it trained):
    first_call_s: float = float("nan")  # wall time of the first compiled call: compilation + its steps
    steady_examples_per_s: float = float("nan")  # after the first call (nan if there was only one)
    jobs: tuple[dict, ...] = ()  # one record per call that trained steps, earlier (resumed-from) calls first
    # With a validation function (else None, empty, -1): the weights with the lowest validation loss, the
    # loss at step 0 and after each compiled call, those steps, and the step of the kept weights.
    best_model: eqx.Module | None = None
    validation_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    validation_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    selected_step: int = -1

    @property
    def flops_per_s(self) -> float | None:
        """Achieved FLOP rate after compilation: ``flops_per_step`` x steady steps per second."""
        if self.flops_per_step is None or not np.isfinite(self.steady_examples_per_s):
            return None
        return self.flops_per_step * self.steady_examples_per_s / self.batch_size

    @property
    def total_wall_time_s(self) -> float:
        """Wall time of every call that trained this model, this one included."""
        return float(sum(job["wall_time_s"] for job in self.jobs))


class _State(eqx.Module):
    params: eqx.Module
    opt_state: optax.OptState
    ema: eqx.Module
    step: jax.Array
    best: eqx.Module | None = None  # the weights of the lowest validation loss (with validation only)


def warmup_cosine_adamw(config: FitConfig) -> optax.GradientTransformation:
    """Gradient clipping, then AdamW with linear warmup from 0 and cosine decay to
    ``learning_rate * final_learning_rate_fraction`` at ``steps`` (``weight_decay`` 0 is Adam)."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, max(config.warmup_steps, 1), max(config.steps, config.warmup_steps + 1),
        end_value=config.learning_rate * config.final_learning_rate_fraction,
    )
    return optax.chain(optax.clip_by_global_norm(config.gradient_clip),
                       optax.adamw(schedule, weight_decay=config.weight_decay))


def _has_convolutions(model) -> bool:
    is_conv = lambda node: isinstance(node, (eqx.nn.Conv, eqx.nn.ConvTranspose))  # noqa: E731
    return any(is_conv(node) for node in jax.tree.leaves(model, is_leaf=is_conv))


def runs_step_by_step(config: FitConfig, model) -> bool:
    """Whether :func:`fit` dispatches the steps of a call one by one (``True``) or runs them in one
    ``lax.scan``: ``config.loop``, where ``"auto"`` means one by one for a model with convolutions
    (``eqx.nn.Conv``, ``eqx.nn.ConvTranspose``) on CPU."""
    if config.loop != "auto":
        return config.loop == "steps"
    return jax.default_backend() == "cpu" and _has_convolutions(model)


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, tree)


def load_checkpoint(checkpoint_dir, like):
    """Read a checkpoint written by :func:`fit` into the structure of ``like`` (a state)."""
    return eqx.tree_deserialise_leaves(Path(checkpoint_dir) / CHECKPOINT, like)


# Settings that do not change the trained weights (beyond float32 rounding): a run may resume under others.
_RUN_ONLY_SETTINGS = ("progress", "loop", "count_flops")


def _save(checkpoint_dir: Path, state: _State, history: dict, config: FitConfig, jobs: list[dict]) -> None:
    atomic_write(checkpoint_dir / CHECKPOINT, lambda file: eqx.tree_serialise_leaves(file, state))
    metadata = dict(step=int(state.step), config=asdict(config), jobs=jobs, validation=state.best is not None,
                    **history)
    atomic_write(checkpoint_dir / METADATA, lambda file: file.write(json.dumps(metadata).encode()))


# The compiled programs live at module level and take everything that differs between runs
# of the same architecture (weights, frozen arrays, data, PRNG key) as arguments, so a second
# `fit` of a model of the same shape and loss (another seed, another split time tau) reuses
# the first one's compilation instead of compiling again. Equinox's filter_jit hashes the rest
# (loss function, config, static fields of the model, sharding) as the cache key, so pass a loss
# that compares equal across calls (a module-level function, a frozen dataclass). This matters
# beyond compile time: each compiled program keeps its own memory maps (about 480 per vector
# estimate when the data were closed over), and a few hundred estimates in one process then
# reached the kernel's limit of 65,530 maps and crashed the JIT.


def _step_loss(params, rest, data, key, step, *, loss_fn, config: FitConfig, num_examples: int, batch_sharding):
    """Loss of step ``step``: its batch and loss key are drawn from ``fold_in(key, step)``."""
    key_batch, key_loss = jax.random.split(jax.random.fold_in(key, step))
    index = jax.random.randint(key_batch, (config.batch_size,), 0, num_examples)
    batch = {name: jax.lax.with_sharding_constraint(array[index], batch_sharding) for name, array in data.items()}
    compute_dtype = jnp.bfloat16 if config.compute_dtype == "bfloat16" else jnp.float32
    model = eqx.combine(_cast(params, compute_dtype), rest)
    return loss_fn(model, _cast(batch, compute_dtype), key_loss).astype(jnp.float32)


def _one_step(state: _State, rest, data, key, **static) -> tuple[_State, jax.Array]:
    config = static["config"]
    loss, grads = jax.value_and_grad(_step_loss)(state.params, rest, data, key, state.step, **static)
    updates, opt_state = warmup_cosine_adamw(config).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = jax.tree.map(lambda e, p: config.ema_decay * e + (1 - config.ema_decay) * p, state.ema, params)
    return _State(params, opt_state, ema, state.step + 1), loss


@eqx.filter_jit
def _train_step(state, rest, data, key, loss_fn, config, num_examples, batch_sharding):
    return _one_step(state, rest, data, key, loss_fn=loss_fn, config=config, num_examples=num_examples,
                     batch_sharding=batch_sharding)


@eqx.filter_jit
def _train_scan(state, rest, data, key, loss_fn, config, num_examples, batch_sharding, num_steps):
    static = dict(loss_fn=loss_fn, config=config, num_examples=num_examples, batch_sharding=batch_sharding)
    state, losses = jax.lax.scan(lambda state, _: _one_step(state, rest, data, key, **static), state, None,
                                 length=num_steps)
    return state, jnp.mean(losses)


def _program_key(*trees) -> tuple:
    """A hashable description of a call's program: the trees' structure and static leaves
    and the shapes and dtypes of their arrays (what filter_jit keys its cache on)."""
    dynamic, static = eqx.partition(trees, eqx.is_array)
    shapes = tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(dynamic))
    return jax.tree.structure(static), tuple(jax.tree.leaves(static)), shapes


_FLOPS_CACHE: dict = {}


def fit(
    loss_fn: Callable,
    model: eqx.Module,
    data: Mapping[str, np.ndarray],
    config: FitConfig,
    *,
    key: PRNGKeyArray,
    checkpoint_dir=None,
    callback: Callable[[int, float], None] | None = None,
    trainable=eqx.is_inexact_array,
    validation: Callable[[eqx.Module], jax.Array] | None = None,
    patience_reference: float | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` to minimise ``loss_fn(model, batch, key)`` (see the module docstring:
    AdamW with warmup and cosine decay, EMA weights, a NaN guard, atomic checkpoints, data-parallel
    batches over the local devices).

    **Arguments:**

    - ``loss_fn``: ``loss_fn(model, batch, key) -> scalar``, ``batch`` a dict of arrays like ``data``.
      Runs of the same architecture and ``loss_fn`` object share their compiled programs, so pass
      one function object (not a new lambda per call) to train several such models.
    - ``model``: the Equinox module to train.
    - ``data``: arrays sharing their first axis (the examples), batches drawn with replacement.
    - ``config``: a :class:`FitConfig` (steps, batch size, learning rate, EMA, checkpoint interval).
    - ``key``: the PRNG key; step ``k`` draws its batch and loss key from ``fold_in(key, k)``, so a
      resumed run continues the same stream.
    - ``checkpoint_dir``: a folder to checkpoint into and resume from (``None``: no checkpoints).
    - ``callback``: ``callback(step, loss)``, run after each compiled call (after any checkpoint of
      that step).
    - ``trainable``: an Equinox filter (a function of a leaf, or a pytree of bools shaped like
      ``model``) that picks the weights to train; every other array of ``model`` is held fixed.
    - ``validation``: ``validation(model) -> scalar`` (``None``: no validation), a loss of the current
      (not the EMA) weights on held-out data, evaluated before the first step and after each compiled
      call; the weights with the lowest are kept (the later on a tie). Pass a compiled function. With
      ``config.patience``, training stops once that many steps have passed without a new lowest
      (``loss_steps[-1]`` is then below ``config.steps``; a resumed run that had stopped trains no further).
    - ``patience_reference``: with ``config.patience``, a competitor's loss under ``validation`` (``None``:
      none). Patience then runs out only while the lowest validation loss is still above it: a model
      that has beaten the competitor trains all ``config.steps``.

    **Returns:** a :class:`FitResult`: the final, EMA and best models, the loss and validation curves,
    throughput and the record of every job that trained it.
    """
    sizes = {name: np.shape(array)[0] for name, array in data.items()}
    if not sizes or len(set(sizes.values())) != 1:
        raise ValueError(f"data must be arrays with the same first dimension, got {sizes}")
    n = next(iter(sizes.values()))
    if patience_reference is not None and (validation is None or not np.isfinite(patience_reference)):
        raise ValueError(f"patience_reference must be a finite loss under a validation function, got "
                         f"{patience_reference} {'with' if validation is not None else 'without'} one")
    devices = jax.local_devices()
    if config.batch_size % len(devices):
        raise ValueError(f"batch_size ({config.batch_size}) must be divisible by the {len(devices)} local devices")
    mesh = Mesh(np.array(devices), ("data",))
    batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    data = {name: jax.device_put(jnp.asarray(array), replicated) for name, array in data.items()}

    params, rest = eqx.partition(model, trainable)
    state = _State(params, warmup_cosine_adamw(config).init(params), params, jnp.asarray(0, jnp.int32),
                   None if validation is None else params)
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    history, jobs = dict(loss_steps=[], loss=[], validation_steps=[], validation_loss=[], selected_step=0), []
    resumed_from = 0
    if checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT).exists():
        saved = json.loads((checkpoint_dir / METADATA).read_text())
        # settings added since the checkpoint was written count with their defaults
        defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
        essential = lambda settings: {k: v for k, v in {**defaults, **settings}.items()  # noqa: E731
                                      if k not in _RUN_ONLY_SETTINGS}
        if essential(saved["config"]) != essential(asdict(config)):
            raise ValueError(f"the checkpoint in {checkpoint_dir} was written with a different "
                             f"{type(config).__name__}: {saved['config']} (now {asdict(config)}); "
                             "use another directory")
        if saved.get("validation", False) != (validation is not None):
            raise ValueError(f"the checkpoint in {checkpoint_dir} was written "
                             f"{'with' if saved.get('validation') else 'without'} a validation function, this "
                             f"call is {'with' if validation is not None else 'without'} one; use another directory")
        state = load_checkpoint(checkpoint_dir, state)
        if int(state.step) != saved["step"]:
            raise ValueError(f"the checkpoint in {checkpoint_dir} is inconsistent: its weights are at step "
                             f"{int(state.step)}, its record at step {saved['step']} (a run killed between the "
                             "two writes); use another directory")
        history.update({name: saved[name] for name in history if name in saved})
        jobs = list(saved.get("jobs", []))
        resumed_from = int(state.step)
    rest_arrays, rest_static = eqx.partition(rest, eqx.is_array)
    state, rest_arrays = jax.device_put((state, rest_arrays), replicated)
    rest = eqx.combine(rest_arrays, rest_static)
    static = dict(loss_fn=loss_fn, config=replace(config, progress=False), num_examples=n,
                  batch_sharding=batch_sharding)

    step_by_step = runs_step_by_step(config, model)

    def run(state: _State, num_steps: int):
        best, state = state.best, _State(state.params, state.opt_state, state.ema, state.step)  # not compiled
        if not step_by_step:
            state, loss = _train_scan(state, rest, data, key, **static, num_steps=num_steps)
        else:
            losses = []
            for _ in range(num_steps):
                state, loss = _train_step(state, rest, data, key, **static)
                losses.append(loss)
            loss = jnp.mean(jnp.stack(losses))
        return _State(state.params, state.opt_state, state.ema, state.step, best), loss

    def validate(state: _State) -> _State:
        """Score the current weights; keep them as the best if none scored lower (a tie: the later)."""
        loss = float(validation(eqx.combine(state.params, rest)))
        if not np.isfinite(loss):
            raise FloatingPointError(f"the validation loss became {loss} at step {int(state.step)}")
        history["validation_steps"].append(int(state.step))
        history["validation_loss"].append(loss)
        if loss <= min(history["validation_loss"]):
            history["selected_step"] = int(state.step)
            return eqx.tree_at(lambda s: s.best, state, state.params)
        return state

    def out_of_patience(done: int) -> bool:
        if validation is None or config.patience is None or done - history["selected_step"] < config.patience:
            return False
        return patience_reference is None or min(history["validation_loss"]) > patience_reference

    done = int(state.step)
    if validation is not None and not history["validation_steps"]:  # the initial weights compete too
        state = validate(state)
    if done < config.steps and config.count_flops:
        flops_key = (loss_fn, static["config"], n, batch_sharding, _program_key(state.params, rest, data, key))
        if flops_key not in _FLOPS_CACHE:
            def loss_of(params, rest_arrays, data, key, step):
                return _step_loss(params, eqx.combine(rest_arrays, rest_static), data, key, step, **static)

            _FLOPS_CACHE[flops_key] = _flops(jax.value_and_grad(loss_of), state.params, rest_arrays, data, key,
                                             state.step)
        flops_per_step = _FLOPS_CACHE[flops_key]
    elif done >= config.steps:  # nothing left to train: report the last call that trained
        flops_per_step = jobs[-1]["flops_per_step"] if jobs else None
    else:
        flops_per_step = None

    from tqdm.auto import tqdm

    device = jax.devices()[0]
    job = dict(first_step=done, last_step=done, wall_time_s=0.0, first_call_s=float("nan"),
               steady_examples_per_s=float("nan"), flops_per_step=flops_per_step,
               device=f"{device.platform}: {device.device_kind}")
    start = time.perf_counter()
    first_done = done
    checkpointed = done
    with tqdm(total=config.steps, initial=done, disable=not config.progress, desc="training", unit="step") as bar:
        while done < config.steps and not out_of_patience(done):
            chunk = min(config.steps_per_call, config.steps - done)
            new_state, loss = run(state, chunk)
            loss = float(loss)
            if not np.isfinite(loss):
                where = (f"; the last good checkpoint (step {checkpointed}) is in {checkpoint_dir}"
                         if checkpoint_dir is not None and checkpointed else "")
                raise FloatingPointError(f"training loss became {loss} between steps {done} and {done + chunk}{where}")
            state, done = new_state, done + chunk
            postfix = dict(loss=f"{loss:.4g}")
            if validation is not None:
                state = validate(state)
                postfix["validation"] = f"{history['validation_loss'][-1]:.4g}"
            elapsed = time.perf_counter() - start
            if not np.isfinite(job["first_call_s"]):
                job["first_call_s"], first_done = elapsed, done
            elif done > first_done:
                job["steady_examples_per_s"] = (done - first_done) * config.batch_size / (elapsed - job["first_call_s"])
            job.update(last_step=done, wall_time_s=elapsed)
            history["loss_steps"].append(done)
            history["loss"].append(loss)
            reached = done // config.checkpoint_every > (done - chunk) // config.checkpoint_every
            if checkpoint_dir is not None and (reached or done == config.steps or out_of_patience(done)):
                _save(checkpoint_dir, state, history, config, jobs + [job])
                checkpointed = done
            bar.update(chunk)
            bar.set_postfix(**postfix, examples_per_s=f"{(done - resumed_from) * config.batch_size / elapsed:.3g}")
            if callback is not None:
                callback(done, loss)
    elapsed = time.perf_counter() - start
    if done > resumed_from:
        jobs.append(job)
    last = jobs[-1] if jobs else job
    return FitResult(
        eqx.combine(state.params, rest), eqx.combine(state.ema, rest),
        np.asarray(history["loss_steps"]), np.asarray(history["loss"]), elapsed,
        (last["last_step"] - last["first_step"]) * config.batch_size / max(last["wall_time_s"], 1e-9), resumed_from,
        flops_per_step, config.batch_size, last["first_call_s"], last["steady_examples_per_s"], tuple(jobs),
        None if validation is None else eqx.combine(state.best, rest),
        np.asarray(history["validation_loss"], np.float64), np.asarray(history["validation_steps"], np.int64),
        int(history["selected_step"]) if validation is not None else -1,
    )


def _flops(function, *args) -> float | None:
    """Floating-point operations of one call of ``function`` as counted by XLA's cost
    analysis: of the lowered program where the backend offers it (CPU), else of the
    compiled one (one extra compilation); None where neither gives a count."""

    def count(cost):
        if isinstance(cost, (list, tuple)):
            cost = cost[0] if cost else None
        flops = None if not cost else cost.get("flops")
        return float(flops) if flops else None

    try:
        lowered = jax.jit(function).lower(*args)
        return count(lowered.cost_analysis()) or count(lowered.compile().cost_analysis())
    except Exception:  # cost analysis is optional diagnostics, never a reason to fail a run
        return None
