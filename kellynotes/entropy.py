r"""Entropy matching: the denoising loss, a trainer, and the information estimators.

Everything is in **nats**. With the VP process (:class:`kellynotes.sde.VPSDE`),
$\sigma^2 = \beta$ and $\nabla\log p_{\rm eq}(\mathbf x) = -\mathbf x$, so:

* **Denoising entropy matching** (Eqs. 33, 43). For
  $\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x_0 + \sqrt{1-\alpha}\,\mathbf z$,
  the regression target of $\mathbf e_\theta$ is $\tilde{\mathbf x}_s + \nabla\log p(\tilde{\mathbf x}_s\mid\mathbf x_0)
  = \tilde{\mathbf x}_s - \mathbf z/\sqrt{1-\alpha}$, and the loss is
  $\int_{s_{\min}}^T ds\,\lambda(s)\,\mathbb E\|\mathbf e_\theta - \text{target}\|^2$ with $\lambda = \sigma^2/2$ by
  default (the likelihood weighting, for which the loss bounds the cross-entropy).
* **Neural entropy** (Eq. 12):
  $S_{\rm NN} = \int_{s_{\min}}^T ds\,\frac{\beta}{2}\,\mathbb E\|\mathbf e_\theta(\tilde{\mathbf x}_s, s)\|^2$,
  and $S_{\rm NN}^{\mathbf X\mid\mathbf Y}$ the same with $\mathbf e_\theta(\cdot; \mathbf y)$ averaged over the joint.
* **MINDE** (Eq. 14):
  $I(\mathbf X;\mathbf Y) \approx \int ds\,\frac\beta2\,\mathbb E\|\mathbf e_\theta(\tilde{\mathbf x}_s, s;\mathbf y) -
  \mathbf e_\theta(\tilde{\mathbf x}_s, s)\|^2$,
  and the difference of neural entropies (Eq. 52) $S_{\rm NN}^{\mathbf X\mid\mathbf Y} - S_{\rm NN}^{\mathbf X}$.

Integrals over $s$ are Monte Carlo averages with $s$ drawn uniformly in log-SNR
(:meth:`~kellynotes.sde.VPSDE.sample_time_uniform_log_snr`); with $\lambda=\sigma^2/2$ each sample then
contributes $\tfrac12\Delta\lambda\,(1-\alpha)\|\cdot\|^2$, which is bounded as $s\to0$ and
far less noisy than uniform $s$. Standard errors are those of i.i.d. Monte Carlo means.

The estimators take any *entropy field* ``field(x, s, y)`` returning
$\mathbf e(\mathbf x, s; \mathbf y)$ for a batch (``y=None`` for the unconditional field), so
they run equally on trained networks (:meth:`EntropyModel.entropy_field`) and on
exact fields (:func:`kellynotes.gaussian.exact_entropy_field`).
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from dataclasses import field as dataclass_field

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from . import montecarlo, training
from .baseline import GaussianBaseline, ResidualNetwork
from .montecarlo import Estimate, FieldIntegrand, RateCurve
from .nets import EntropyMLP
from .sde import VPSDE
from .training import FitConfig

__all__ = [
    "EntropyModel",
    "Estimate",
    "PairedEntropyField",
    "RateCurve",
    "TrainConfig",
    "TrainingResult",
    "denoising_loss",
    "denoising_losses",
    "mutual_information_entropy_difference",
    "mutual_information_minde",
    "mutual_information_rate",
    "neural_entropy",
    "neural_entropy_rate",
    "train",
    "validation_losses_per_pair",
]

EntropyField = Callable[..., Float[Array, "N D"]]


# --------------------------------------------------------------------------- #
# Configuration and results
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class TrainConfig(FitConfig):
    """Settings of :func:`train`: the trainer's (:class:`~kellynotes.training.FitConfig`, here with defaults
    measured on the 40-dimensional joint Gaussian), the network's and the loss's."""

    steps: int = 10_000
    batch_size: int = 1024
    learning_rate: float = 3e-3
    final_learning_rate_fraction: float = 0.01
    steps_per_call: int = 250  # steps between progress updates and validation
    count_flops: bool = False  # the FLOP count costs a trace and lowering per shape, and nothing reads it
    width: int = 128
    depth: int = 3
    num_fourier: int = 16
    residual: bool = False  # the network's body: plain MLP, or pre-norm residual blocks (kellynotes.nets)
    label_dropout: float = 0.5
    s_min: float = 1e-3
    time_sampling: str = "log_snr"  # or "uniform" (20x noisier; kept for comparison)
    weighting: str = "likelihood"  # λ(s) = σ²/2; or "unit" for λ(s) = 1

    def __post_init__(self):
        super().__post_init__()
        check.count_fields(self, ("width", "depth"))
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"TrainConfig.label_dropout must be in [0, 1), got {self.label_dropout}")
        if not 0.0 < self.s_min < 1.0:
            raise ValueError(f"TrainConfig.s_min must be in (0, 1), got {self.s_min}")
        if self.time_sampling not in ("log_snr", "uniform"):
            raise ValueError(f"TrainConfig.time_sampling must be 'log_snr' or 'uniform', got {self.time_sampling!r}")
        if self.weighting not in ("likelihood", "unit"):
            raise ValueError(f"TrainConfig.weighting must be 'likelihood' or 'unit', got {self.weighting!r}")


class EntropyModel(eqx.Module):
    r"""A trained entropy-matching network with the process it was trained on.

    ``network`` outputs the scaled field $\mathbf u = \sqrt{1-\alpha}\,\mathbf e$ (see :mod:`kellynotes.nets`).
    """

    network: EntropyMLP
    sde: VPSDE = eqx.field(static=True)
    s_min: float = eqx.field(static=True)

    def scaled_field(self, x: Float[Array, "N D"], s: Float[Array, " N"], y=None, use_condition=True):
        r"""$\mathbf u(\mathbf x, s; \mathbf y) = \sqrt{1-\alpha(s)}\,\mathbf e(\mathbf x, s; \mathbf y)$
        for a batch."""
        log_snr = self.sde.log_snr(s)
        use = jnp.broadcast_to(jnp.asarray(use_condition), jnp.shape(s))
        if y is None:
            return jax.vmap(lambda xi, li: self.network(xi, li))(x, log_snr)
        return jax.vmap(self.network)(x, log_snr, y, use)

    def entropy_field(self, x: Float[Array, "N D"], s: Float[Array, " N"], y=None) -> Float[Array, "N D"]:
        r"""$\mathbf e_\theta(\mathbf x, s; \mathbf y)$ (``y=None``: the unconditional field)."""
        return self.scaled_field(x, s, y) / self.sde.std(s)[:, None]


class PairedEntropyField(eqx.Module):
    r"""The entropy field of two separate networks (the paper's protocol for MINDE): $\mathbf e(\cdot;\mathbf y)$
    from ``conditional`` (trained on pairs, no label dropout) and $\mathbf e(\cdot)$ from ``unconditional``
    (trained on $\mathbf x$ alone). Called as ``field(x, s, y)``, ``y=None`` for the unconditional one."""

    conditional: EntropyModel
    unconditional: EntropyModel

    def __call__(self, x: Float[Array, "N D"], s: Float[Array, " N"], y=None) -> Float[Array, "N D"]:
        if y is None:
            return self.unconditional.entropy_field(x, s)
        return self.conditional.entropy_field(x, s, y)


@dataclass(frozen=True)
class TrainingResult:
    """A trained model with its loss curve (mean loss per compiled call, nats) and wall time.

    With validation pairs, ``validation_loss`` is the loss of both branches on them before training
    and after each compiled call (at ``validation_steps``: 0, then ``loss_steps``) and ``model`` holds
    the weights of ``selected_step``, the lowest of it; without, ``validation_loss`` is empty and
    ``selected_step`` the last step. ``competitor_validation_loss`` is a competitor's loss on the same
    validation draws (:func:`train`'s ``competitor``; nan without one).
    """

    model: EntropyModel
    loss_steps: np.ndarray
    loss: np.ndarray
    wall_time_s: float
    config: TrainConfig = dataclass_field(default_factory=TrainConfig)
    validation_loss: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(0))
    selected_step: int = -1
    validation_steps: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(0, np.int64))
    competitor_validation_loss: float = float("nan")

    def settings(self) -> dict:
        return asdict(self.config)


# --------------------------------------------------------------------------- #
# Time sampling and the loss
# --------------------------------------------------------------------------- #


def _sample_times(sde: VPSDE, key, shape, s_min: float, time_sampling: str):
    """Times s and importance weights w with ∫_{s_min}^T f ds = E[w f(s)]."""
    if time_sampling == "log_snr":
        return sde.sample_time_uniform_log_snr(key, shape, s_min)
    s = jax.random.uniform(key, shape, minval=s_min, maxval=sde.T)
    return s, jnp.full(shape, sde.T - s_min)


def denoising_losses(
    network: EntropyMLP,
    sde: VPSDE,
    x0: Float[Array, "B D"],
    y,
    key: PRNGKeyArray,
    *,
    s_min: float,
    label_dropout: float = 0.0,
    time_sampling: str = "log_snr",
    weighting: str = "likelihood",
) -> Float[Array, " B"]:
    r"""The one-draw Monte Carlo estimate, per example, of the denoising entropy-matching objective
    (Eqs. 33, 43), in nats; :func:`denoising_loss` is their mean.

    $\mathcal L = \int_{s_{\min}}^T ds\,\lambda(s)\,\mathbb E\|\mathbf e_\theta(\tilde{\mathbf x}_s, s;\mathbf y) -
    \tilde{\mathbf x}_s + \mathbf z/\sqrt{1-\alpha}\|^2$.
    Written with $\mathbf u = \sqrt{1-\alpha}\,\mathbf e$ the error is
    $\|\mathbf u - (\sqrt{1-\alpha}\,\tilde{\mathbf x}_s - \mathbf z)\|^2/(1-\alpha)$.
    With ``label_dropout`` $p$, each example's condition is replaced by the null input
    with probability $p$ (``y=None`` trains an unconditional network).
    """
    batch = x0.shape[0]
    key_s, key_z, key_drop = jax.random.split(key, 3)
    s, weight = _sample_times(sde, key_s, (batch,), s_min, time_sampling)
    x_s, z = sde.perturb(key_z, x0, s)
    std = sde.std(s)
    target = std[:, None] * x_s - z
    log_snr = sde.log_snr(s)
    if y is None:
        u = jax.vmap(lambda xi, li: network(xi, li))(x_s, log_snr)
    else:
        keep = jax.random.bernoulli(key_drop, 1.0 - label_dropout, (batch,))
        u = jax.vmap(network)(x_s, log_snr, y, keep)
    lam = 0.5 * sde.beta(s) if weighting == "likelihood" else jnp.ones_like(s)
    return weight * lam / sde.variance(s) * jnp.sum((u - target) ** 2, axis=-1)


def denoising_loss(network: EntropyMLP, sde: VPSDE, x0: Float[Array, "B D"], y, key: PRNGKeyArray,
                   **options) -> Float[Array, ""]:
    r"""The denoising entropy-matching objective (Eqs. 33, 43), nats: the mean over the batch of
    :func:`denoising_losses` (same arguments)."""
    return jnp.mean(denoising_losses(network, sde, x0, y, key, **options))


# --------------------------------------------------------------------------- #
# Training
# --------------------------------------------------------------------------- #


def _condition_spec(y):
    if y is None:
        return None
    if jnp.issubdtype(y.dtype, jnp.integer):
        return ("label", int(jnp.max(y)) + 1)
    return ("vector", int(y.shape[1]))


# Validation pairs are evaluated this many times (tiled), with one fixed draw of (s, z) for every
# evaluation: the comparison between checkpoints has no Monte Carlo noise of its own.
VALIDATION_EVALUATIONS = 16_384


def validation_losses_per_pair(network: EntropyMLP, sde: VPSDE, x, y, key: PRNGKeyArray, *, s_min: float,
                               time_sampling: str = "log_snr", weighting: str = "likelihood",
                               unconditional_branch: bool = True) -> Float[Array, " N"]:
    r"""The validation loss per pair: the denoising loss of the conditional branch plus that of the
    unconditional branch (all labels dropped) on the same draws of $(s, \mathbf z)$, what MINDE compares.
    ``y=None`` (an unconditional network), or ``unconditional_branch=False`` (a conditional network
    trained without label dropout): the one loss only.

    ``x`` and ``y`` (N pairs) are repeated in whole copies to at least ``VALIDATION_EVALUATIONS`` rows,
    evaluated on the draws ``key`` gives there, and each pair's losses are averaged over its copies.
    Their mean is the score :func:`train` chooses checkpoints on; their spread gives the standard error
    of a difference between two fields evaluated on the same pairs and draws. Compiled, one program
    per shape of the arguments."""
    return _compiled_validation_losses_per_pair(network, sde, x, y, key, s_min=s_min, time_sampling=time_sampling,
                                                weighting=weighting, unconditional_branch=unconditional_branch)


def _validation_losses_per_pair(network, sde, x, y, key, *, s_min, time_sampling, weighting, unconditional_branch):
    n = x.shape[0]
    x, y = _tiled_validation_pairs(x, y)
    options = dict(s_min=s_min, time_sampling=time_sampling, weighting=weighting)
    if y is None:
        losses = denoising_losses(network, sde, x, None, key, **options)
    else:
        losses = denoising_losses(network, sde, x, y, key, label_dropout=0.0, **options)
        if unconditional_branch:
            losses = losses + denoising_losses(network, sde, x, y, key, label_dropout=1.0, **options)
    return jnp.mean(losses.reshape(-1, n), axis=0)  # whole copies: pair i sits at rows i, i + n, ...


# Compiled once per architecture: the weights, the pairs and the key are arguments, so training's
# validation and the comparison with a competitor share one program per shape.
_compiled_validation_losses_per_pair = eqx.filter_jit(_validation_losses_per_pair)


def _tiled_validation_pairs(x_val, y_val=None):
    r"""The validation pairs repeated (whole copies) to at least :data:`VALIDATION_EVALUATIONS` rows, so
    a validation loss averages over enough draws of $(s, \mathbf z)$ however few pairs there are."""
    repeats = -(-VALIDATION_EVALUATIONS // x_val.shape[0])
    x_val = jnp.tile(x_val, (repeats,) + (1,) * (x_val.ndim - 1))
    return x_val, None if y_val is None else jnp.tile(y_val, (repeats,) + (1,) * (y_val.ndim - 1))


def validation_options(config: "TrainConfig") -> dict:
    """The keyword arguments of :func:`validation_losses_per_pair` for a network trained with ``config``."""
    return dict(s_min=config.s_min, time_sampling=config.time_sampling, weighting=config.weighting,
                unconditional_branch=config.label_dropout > 0)


@dataclass(frozen=True)
class _DenoisingObjective:
    """:func:`denoising_loss` as the ``loss_fn(network, batch, key)`` of :func:`kellynotes.training.fit`.
    Frozen and hashable: every run of the same architecture and settings reuses one compiled step."""

    sde: VPSDE
    s_min: float
    label_dropout: float
    time_sampling: str
    weighting: str

    def __call__(self, network, batch, key):
        return denoising_loss(network, self.sde, batch["x"], batch.get("y"), key, s_min=self.s_min,
                              label_dropout=self.label_dropout, time_sampling=self.time_sampling,
                              weighting=self.weighting)


def train(
    key: PRNGKeyArray,
    x: Float[Array, "N D"],
    y=None,
    *,
    config: TrainConfig = TrainConfig(),
    sde: VPSDE = VPSDE(),
    validation: tuple | None = None,
    baseline: GaussianBaseline | None = None,
    competitor: eqx.Module | None = None,
    checkpoint_dir=None,
) -> TrainingResult:
    r"""Train an :class:`~kellynotes.nets.EntropyMLP` on data ``x`` (optionally conditioned on ``y``) by
    denoising entropy matching: minimise the loss of :func:`denoising_loss`, whose minimiser is the
    entropy field $\mathbf e = \nabla\log p_s + \tilde{\mathbf x}_s$ (Eqs. 33, 43), with
    :func:`kellynotes.training.fit`.

    **Arguments:**

    - ``key``: the PRNG key of the initial weights, the batches and the noise.
    - ``x``: data (N, D).
    - ``y``: ``None`` (unconditional), a float array (N, D_Y), or integer labels (N,). A conditional
      network with ``config.label_dropout > 0`` is unconditional too (its null condition).
    - ``config``: a :class:`TrainConfig` (steps, batch, learning rate, network size, time sampling).
    - ``sde``: the forward process.
    - ``validation``: ``(x_val, y_val)`` pairs, or ``None``. With pairs, the mean of
      :func:`validation_losses_per_pair` on them is computed before the first step and after every
      ``config.steps_per_call`` steps, and the weights with the lowest are returned (with
      ``config.patience``, training may also stop early).
    - ``baseline``: a :class:`~kellynotes.baseline.GaussianBaseline` the network learns the remainder of
      (:class:`~kellynotes.baseline.ResidualNetwork`; continuous ``y`` only), or ``None``.
    - ``competitor``: with ``validation`` and ``config.patience``, a field the network competes with
      afterwards (e.g. the Gaussian baseline), scored by the same validation loss before training:
      patience then runs out only while the network is behind it (``patience_reference`` of
      :func:`kellynotes.training.fit`), so a network that is ahead trains all ``config.steps``.
    - ``checkpoint_dir``: a folder to checkpoint into and resume from (``None``: no checkpoints).

    **Returns:** a :class:`TrainingResult`: the kept model, the loss and validation curves, the
    selected step and the wall time.

    Batches are drawn with replacement; AdamW (weight decay ``config.weight_decay``, 0 by default) with
    linear warmup and cosine decay, gradient clipping, ``config.steps_per_call`` steps per compiled call
    (one ``lax.scan``); step ``n`` draws its batch and noise from ``fold_in(key, n)``. A baseline's
    arrays are held fixed. Raises ``FloatingPointError`` if the loss becomes NaN or infinite.
    """
    x, y = montecarlo.as_device_arrays(x, y)
    key_net, key_train = jax.random.split(key)
    network = EntropyMLP(x.shape[1], key=key_net, width=config.width, depth=config.depth,
                         num_fourier=config.num_fourier, condition=_condition_spec(y),
                         residual=config.residual)
    if baseline is not None:
        if y is not None and jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError("a Gaussian baseline needs continuous y (N, D_Y), not integer labels")
        network = ResidualNetwork(network, baseline)
    trainable = jax.tree.map(eqx.is_inexact_array, network)
    if baseline is not None:  # fitted, not trained: no weight decay, no cast
        trainable = eqx.tree_at(lambda n: n.baseline, trainable, replace=jax.tree.map(lambda _: False, baseline))
    score = None
    if validation is not None:
        x_val, y_val = montecarlo.as_device_arrays(*validation)
        if x_val.shape[1:] != x.shape[1:] or (y is None) != (y_val is None):
            raise ValueError(f"validation pairs must match the training pairs: x {x_val.shape} vs {x.shape}")
        key_train, key_validation = jax.random.split(key_train)
        options = validation_options(config)

        def score(network):
            return jnp.mean(validation_losses_per_pair(network, sde, x_val, y_val, key_validation, **options))

    reference = None
    if competitor is not None:
        if score is None:
            raise ValueError("a competitor is scored on the validation pairs: pass validation too")
        reference = float(score(competitor))
    objective = _DenoisingObjective(sde, config.s_min, config.label_dropout, config.time_sampling, config.weighting)
    data = dict(x=x) if y is None else dict(x=x, y=y)
    start = time.perf_counter()
    try:
        result = training.fit(objective, network, data, config, key=key_train, checkpoint_dir=checkpoint_dir,
                              validation=score, trainable=trainable, patience_reference=reference)
    except FloatingPointError as error:
        raise FloatingPointError(f"{error}; check the scale of the data, or try a smaller learning_rate "
                                 f"(now {config.learning_rate}) or a larger s_min (now {config.s_min})") from error
    kept = result.model if score is None else result.best_model
    selected_step = int(result.loss_steps[-1]) if score is None else result.selected_step
    return TrainingResult(EntropyModel(kept, sde, config.s_min), result.loss_steps, result.loss,
                          time.perf_counter() - start, config, result.validation_loss, selected_step,
                          result.validation_steps, float("nan") if reference is None else reference)


# --------------------------------------------------------------------------- #
# Estimators
# --------------------------------------------------------------------------- #


def _integral(field, kind, sde, x, y, *, key, s_min, num_samples, batch_size, pair_sampling=False) -> Estimate:
    return montecarlo.time_integral(FieldIntegrand(field, kind), sde, x, y, key=key, s_min=s_min,
                                    num_samples=num_samples, batch_size=batch_size, pair_sampling=pair_sampling)


def _rate(field, kind, sde, x, y, s_grid, *, key, samples_per_point) -> RateCurve:
    return montecarlo.rate_curve(FieldIntegrand(field, kind), sde, x, y, s_grid, key=key,
                                 samples_per_point=samples_per_point)


def neural_entropy(field: EntropyField, sde: VPSDE, x, *, key: PRNGKeyArray, y=None, s_min: float = 1e-3,
                   num_samples: int = 200_000, batch_size: int = 8192) -> Estimate:
    r"""$S_{\rm NN} = \int_{s_{\min}}^T ds\,\frac{\beta}{2}\,\mathbb E\|\mathbf e(\tilde{\mathbf x}_s,
    s; \mathbf y)\|^2$ (Eq. 12), nats.

    Without ``y``: $S^{\mathbf X}_{\rm NN}$ of the unconditional field. With ``y``:
    $S^{\mathbf X\mid\mathbf Y}_{\rm NN}$, averaged over the pairs ``(x, y)``.

    **Arguments:**

    - ``field``: an entropy field ``field(x_s, s, y)`` -> (N, D): a trained
      :meth:`EntropyModel.entropy_field`, an exact field (:func:`kellynotes.gaussian.exact_entropy_field`), or
      any function of that signature; ``y=None`` asks for the unconditional field.
    - ``sde``: the forward process the field belongs to.
    - ``x``: clean data (N, D), drawn with replacement.
    - ``y``: ``None``, or the conditions paired with ``x`` (N, D_Y) or labels (N,).
    - ``key``: the PRNG key of the draws (data, times, noise).
    - ``s_min``: the lower cut of the time integral.
    - ``num_samples``: Monte Carlo draws in all; ``batch_size`` per compiled call.

    **Returns:** an :class:`~kellynotes.montecarlo.Estimate`, value and standard error in nats.
    """
    return _integral(field, "norm", sde, x, y, key=key, s_min=s_min, num_samples=num_samples,
                     batch_size=batch_size)


def neural_entropy_rate(field: EntropyField, sde: VPSDE, x, s_grid, *, key: PRNGKeyArray, y=None,
                        samples_per_point: int = 4096) -> RateCurve:
    r"""$dS_{\rm NN}/ds = \frac{\beta(s)}{2}\,\mathbb E\|\mathbf e(\tilde{\mathbf x}_s, s;\mathbf y)\|^2$
    on ``s_grid``."""
    return _rate(field, "norm", sde, x, y, s_grid, key=key, samples_per_point=samples_per_point)


def mutual_information_minde(field: EntropyField, sde: VPSDE, x, y, *, key: PRNGKeyArray, s_min: float = 1e-3,
                             num_samples: int = 200_000, batch_size: int = 8192,
                             pair_sampling: bool = False) -> Estimate:
    r"""MINDE (Eq. 14): $\int ds\,\frac{\beta}{2}\,\mathbb E\|\mathbf e(\tilde{\mathbf x}_s, s;\mathbf y) -
    \mathbf e(\tilde{\mathbf x}_s, s)\|^2$, nats.

    With exact fields this is $I(\mathbf X_{s_{\min}};\mathbf Y) - I(\mathbf X_T;\mathbf Y)$.

    **Arguments:**

    - ``field``: an entropy field ``field(x_s, s, y)`` -> (N, D): a trained
      :meth:`EntropyModel.entropy_field`, an exact field (:func:`kellynotes.gaussian.exact_entropy_field`), or
      any function of that signature; ``y=None`` asks for the unconditional field.
    - ``sde``: the forward process the field belongs to.
    - ``x``: clean data (N, D), drawn with replacement.
    - ``y``: the conditions paired with ``x``, (N, D_Y) or labels (N,).
    - ``key``: the PRNG key of the draws (data, times, noise).
    - ``s_min``: the lower cut of the time integral.
    - ``num_samples``: Monte Carlo draws in all; ``batch_size`` per compiled call.
    - ``pair_sampling``: ``True`` when the pairs are a sample of the law whose $I$ is wanted: the
      standard error then counts their sampling too, not only the Monte Carlo draws
      (:func:`kellynotes.montecarlo.time_integral`).

    **Returns:** an :class:`~kellynotes.montecarlo.Estimate`, value and standard error in nats.
    """
    return _integral(field, "difference", sde, x, y, key=key, s_min=s_min, num_samples=num_samples,
                     batch_size=batch_size, pair_sampling=pair_sampling)


def mutual_information_rate(field: EntropyField, sde: VPSDE, x, y, s_grid, *, key: PRNGKeyArray,
                            samples_per_point: int = 4096) -> RateCurve:
    r"""The MINDE integrand
    $\frac{\beta}{2}\,\mathbb E\|\mathbf e(\cdot;\mathbf y) - \mathbf e(\cdot)\|^2$ on ``s_grid``."""
    return _rate(field, "difference", sde, x, y, s_grid, key=key, samples_per_point=samples_per_point)


def mutual_information_entropy_difference(field: EntropyField, sde: VPSDE, x, y, *, key: PRNGKeyArray,
                                          s_min: float = 1e-3, num_samples: int = 200_000,
                                          batch_size: int = 8192, pair_sampling: bool = False) -> Estimate:
    r"""$S_{\rm NN}^{\mathbf X\mid\mathbf Y} - S_{\rm NN}^{\mathbf X}$ (Eq. 52), nats, from paired samples
    (both fields evaluated at the same $(\tilde{\mathbf x}_s, s)$, so the standard error is
    that of the difference, not of two independent estimates).

    **Arguments and returns:** as :func:`mutual_information_minde`.
    """
    return _integral(field, "difference_of_squares", sde, x, y, key=key, s_min=s_min, num_samples=num_samples,
                     batch_size=batch_size, pair_sampling=pair_sampling)
