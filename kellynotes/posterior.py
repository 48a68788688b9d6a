r"""The class posterior of a conditional diffusion model, from its per-class denoising losses (nats).

**The per-class ELBO.** For a state $\mathbf x$ at forward time $s$ (clean data: $s=0$), let the
process run on from $s$: $\tilde{\mathbf x}_u = \sqrt a\,\mathbf x + \sqrt{1-a}\,\mathbf z$ with
$a = \alpha(u)/\alpha(s)$, $u\in(s, T]$. For an entropy field $\mathbf e(\cdot, u; y)$ (score plus $\mathbf x$) the
likelihood-weighted denoising loss

$$L_y(\mathbf x) = \int_{s}^{T} du\,\frac{\beta(u)}2\,\mathbb E_{\mathbf z}\big\|\mathbf e(\tilde{\mathbf x}_u, u; y) -
\tilde{\mathbf x}_u + \mathbf z/\sqrt{1-a}\big\|^2$$

bounds $-\log p_s(\mathbf x\mid y)$ from above up to a constant $C(\mathbf x)$ that is the same for every
class (the prior term at $T$ and the terms without the network), with equality for the exact
field when $p_T(\cdot\mid y)$ is the standard normal. Hence the class posterior

$$q_s(y\mid\mathbf x) = \operatorname{softmax}_y\big(\log w_y - L_y(\mathbf x)\big),$$

with $w$ the class prior, is the model's own Bayes classifier at noise level $s$: exact for
exact fields, and for a trained network a classifier like any other, so that
$H(Y) - \mathbb E[-\log q_s(Y\mid\tilde{\mathbf X}_s)]$ on held-out data is a Barber–Agakov lower bound on
$I(\tilde{\mathbf X}_s; Y)$ (:mod:`kellynotes.bounds`), never above $H(Y)$.

**Monte Carlo.** $L_y$ is estimated with ``num_time_samples`` draws of $(u, \mathbf z)$ per point,
**the same draws for every class** (only differences across classes enter the softmax), $u$
uniform in the log-SNR of the process started at $s$, $\lambda' = \log a - \log(1-a)$, so that each
draw contributes $\tfrac12\Delta\lambda'\,(1-a)\,\|\cdot\|^2$, bounded as $u\to s$. The draws come in
**antithetic pairs** $(u, \mathbf z)$, $(u, -\mathbf z)$: the part of the class difference linear in $\mathbf z$,
$-2(\mathbf e_k - \mathbf e_j)\cdot\mathbf z/\sqrt{1-a}$, which dominates the variance at low noise, then cancels to
first order. The integral is cut where the
process from $s$ has added as much noise as the usual cut $s_{\min}$ adds to clean data
($a = \alpha(s_{\min})$). The softmax of noisy losses is biased (Jensen); more draws shrink it.

**Loss gap.** The same draws give the unconditional loss $L_\varnothing$; $\mathbb E[L_\varnothing - L_Y]$ is an
estimate of $I(\mathbf X;Y)$ too (the difference of two ELBOs, not a bound). It splits exactly into
two parts: with $L_{\rm mix} = -\log\sum_k w_k e^{-L_k}$ the loss of the mixture of the model's own
conditionals,

$$L_\varnothing - L_y = \underbrace{(L_\varnothing - L_{\rm mix})}_{\text{unconditional excess}}
+ \underbrace{\log q(y\mid\mathbf x) - \log w_y}_{\text{bounded part}},$$

so averaged over held-out pairs (with $w$ the label frequencies) the loss gap is the
Barber–Agakov estimate plus the **unconditional excess** $\mathbb E[L_\varnothing - L_{\rm mix}]$: how much
worse the unconditional branch models the data than the conditional branches together. For
exact fields it is 0; it is what lifts the loss gap, and MINDE, above $H(Y)$.
"""

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from . import tracing
from .bounds import check_labels
from .montecarlo import Estimate
from .sde import VPSDE

__all__ = ["ClassPosterior", "NoisyLabelInformation", "class_posterior", "noisy_label_information"]


@dataclass(frozen=True)
class ClassPosterior:
    r"""``log_probabilities`` (N, K): $\log q_s(k\mid\mathbf x_i)$; ``losses`` (N, K) the per-class losses
    $L_k(\mathbf x_i)$ and ``unconditional_losses`` (N,) $L_\varnothing(\mathbf x_i)$ (nats, each up to the same
    class-free constant); ``mixture_losses`` (N,) $L_{\rm mix}(\mathbf x_i) = -\log\sum_k w_k e^{-L_k}$;
    ``s`` the noise level of the points."""

    log_probabilities: np.ndarray
    losses: np.ndarray
    unconditional_losses: np.ndarray
    mixture_losses: np.ndarray
    s: float

    def unconditional_excess(self) -> Estimate:
        r"""$\mathbb E[L_\varnothing(\mathbf x) - L_{\rm mix}(\mathbf x)]$,
        $L_{\rm mix} = -\log\sum_k w_k e^{-L_k}$ (nats, module
        docstring), with its standard error; ``loss_gap(y)`` minus this is the bounded part."""
        values = self.unconditional_losses - self.mixture_losses
        return Estimate.of_samples(values)

    def loss_gap(self, y) -> Estimate:
        r"""$\mathbb E[L_\varnothing(\mathbf x) - L_y(\mathbf x)]$ over pairs
        $(\mathbf x_i, y_i)$ (nats), with its standard error."""
        labels, _ = check_labels(y, self.losses.shape[1])
        values = self.unconditional_losses - self.losses[np.arange(labels.size), labels]
        return Estimate.of_samples(values)


def _noise_range(sde: VPSDE, s: float, s_min: float) -> tuple[float, float]:
    """``(c_low, c_high)``: the range of $c = -\\log a$ from the cut to $u = T$ (float64)."""
    c_low = -float(sde.log_alpha(s_min))
    c_high = float(sde.log_alpha(s) - sde.log_alpha(sde.T))
    return c_low, c_high


def _shifted_time(sde: VPSDE, s, c):
    r"""$u > s$ with $\int_s^u\beta = c$: the positive root of
    $\tfrac12(\beta_{\max}-\beta_{\min})d^2 + \beta(s)d = c$."""
    b = sde.beta(s)
    return s + 2.0 * c / (b + jnp.sqrt(b**2 + 2.0 * (sde.beta_max - sde.beta_min) * c))


@eqx.filter_jit
def _batch_losses(field, sde, x, s, key, c_low, c_high, num_classes, num_draws):
    """Losses (B, K) and unconditional losses (B,) of a batch ``x`` (B, D), ``num_draws`` common draws."""
    batch, dim = x.shape
    key_time, key_noise = jax.random.split(key)
    lam_high = -jnp.log(jnp.expm1(c_low))  # λ' = log a - log(1 - a) at c = c_low (near the start)
    lam_low = -jnp.log(jnp.expm1(c_high))
    half = num_draws // 2
    lam = lam_low + jax.random.uniform(key_time, (batch, half)) * (lam_high - lam_low)
    lam = jnp.concatenate([lam, lam], axis=1)  # antithetic pairs: the same time with z and -z
    c = jax.nn.softplus(-lam)  # -log a
    one_minus_a = -jnp.expm1(-c)
    u = _shifted_time(sde, s, c)
    z = jax.random.normal(key_noise, (batch, half, dim))
    z = jnp.concatenate([z, -z], axis=1)
    x_u = jnp.exp(-0.5 * c)[..., None] * x[:, None, :] + jnp.sqrt(one_minus_a)[..., None] * z
    target = x_u - z / jnp.sqrt(one_minus_a)[..., None]
    weight = 0.5 * (lam_high - lam_low) * one_minus_a  # Δλ' (1 - a) / 2
    flat_x, flat_u = x_u.reshape(-1, dim), u.reshape(-1)

    # Every class in one call: a loop over classes (lax.map) would put the network inside a
    # scan, which runs convolutions many times slower on CPU.
    tile = lambda array: jnp.tile(array, (num_classes,) + (1,) * (array.ndim - 1))  # noqa: E731
    labels = jnp.repeat(jnp.arange(num_classes, dtype=jnp.int32), flat_u.shape[0])
    conditional = field(tile(flat_x), tile(flat_u), labels).reshape(num_classes, batch, num_draws, dim)
    unconditional = field(flat_x, flat_u, None).reshape(batch, num_draws, dim)
    error = lambda e: jnp.sum((e - target) ** 2, axis=-1)  # noqa: E731
    per_class = jnp.mean(weight * error(conditional), axis=-1)  # (K, B)
    return per_class.T, jnp.mean(weight * error(unconditional), axis=-1)


def _prepared_field(field, x_example, u_example, num_classes):
    """``field`` as a pytree for the compiled loop: as is when it is an Equinox module (a trained
    network's bound method), else lifted (its captured arrays become inputs) for the shapes of
    :func:`_batch_losses`: all classes in one conditional call."""
    if isinstance(field, eqx.Module):
        return field
    tiled_x, tiled_u = jnp.tile(x_example, (num_classes, 1)), jnp.tile(u_example, num_classes)
    conditional = tracing.lift(field, tiled_x, tiled_u, jnp.zeros(tiled_u.shape, jnp.int32))
    unconditional = tracing.lift(lambda x, u: field(x, u, None), x_example, u_example)
    return _LiftedField(conditional, unconditional)


class _LiftedField(eqx.Module):
    conditional: tracing.Lifted
    unconditional: tracing.Lifted

    def __call__(self, x, u, y):
        return self.unconditional(x, u) if y is None else self.conditional(x, u, y)


def class_posterior(field, sde: VPSDE, x: Float[Array, "N D"], *, num_classes: int, key: PRNGKeyArray,
                    class_prior=None, s: float = 0.0, s_min: float = 1e-3, num_time_samples: int = 64,
                    batch_size: int = 16) -> ClassPosterior:
    r"""The class posterior $q_s(\cdot\mid\mathbf x)$ of an entropy field from its per-class losses (module docstring).

    **Arguments:**

    - ``field``: ``field(x, u, y)`` returning $\mathbf e(\mathbf x, u; y)$ for a batch; ``y=None`` the unconditional
      field (a trained model's ``entropy_field``, or an exact one).
    - ``x``: points (N, D) at forward time ``s`` (clean data for ``s=0``).
    - ``num_classes``: $K$; ``class_prior``: $w$ (K,), uniform if ``None``.
    - ``num_time_samples``: draws of $(u, \mathbf z)$ per point, shared by all classes; ``batch_size``
      points per compiled call; each call evaluates the field on ``(K + 1) * batch_size * num_time_samples``
      points at once (memory grows with that times ``D``).

    **Returns:** a :class:`ClassPosterior`. If the process from ``s`` to $T$ adds less noise than the
    cut, the losses are zero and the posterior is the prior.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, D), got shape {x.shape}")
    num_classes = check.positive_int(num_classes, "num_classes")
    num_time_samples = check.positive_int(num_time_samples, "num_time_samples")
    if num_time_samples % 2:
        raise ValueError(f"num_time_samples must be even (antithetic pairs), got {num_time_samples}")
    batch_size = check.positive_int(batch_size, "batch_size")
    if not 0.0 <= s < sde.T:
        raise ValueError(f"s must lie in [0, T={sde.T}), got {s}")
    if not 0.0 < s_min < sde.T:
        raise ValueError(f"s_min must lie in (0, T={sde.T}), got {s_min}")
    prior = (np.full(num_classes, 1.0 / num_classes) if class_prior is None
             else check.probability_vector(class_prior, "class_prior"))
    if prior.size != num_classes:
        raise ValueError(f"class_prior must have K={num_classes} entries, got {prior.size}")
    n = x.shape[0]
    c_low, c_high = _noise_range(sde, s, s_min)
    if c_high <= c_low:
        losses, unconditional = np.zeros((n, num_classes)), np.zeros(n)
    else:
        batch_size = min(batch_size, n)
        padded = np.concatenate([x, np.zeros((-n % batch_size, x.shape[1]), np.float32)])
        example = jnp.zeros((batch_size * num_time_samples, x.shape[1]), jnp.float32)
        compiled = _prepared_field(field, example, jnp.zeros(example.shape[0], jnp.float32), num_classes)
        per_class, per_null = [], []
        keys = jax.random.split(key, padded.shape[0] // batch_size)
        for start, batch_key in zip(range(0, padded.shape[0], batch_size), keys):
            k, u = _batch_losses(compiled, sde, jnp.asarray(padded[start:start + batch_size]), jnp.float32(s),
                                 batch_key, jnp.float32(c_low), jnp.float32(c_high), num_classes, num_time_samples)
            per_class.append(np.asarray(k, np.float64))
            per_null.append(np.asarray(u, np.float64))
        losses, unconditional = np.concatenate(per_class)[:n], np.concatenate(per_null)[:n]
    if not np.all(np.isfinite(losses)):
        raise FloatingPointError(f"the per-class losses are not finite ({np.sum(~np.isfinite(losses))} entries)")
    logits = np.log(prior) - losses
    log_normaliser = np.logaddexp.reduce(logits, axis=1)
    return ClassPosterior(logits - log_normaliser[:, None], losses, unconditional, -log_normaliser, float(s))


@dataclass(frozen=True)
class NoisyLabelInformation:
    r"""Label information along the noise, from the model's posterior on held-out pairs (nats):
    ``conditional_entropy`` $\mathbb E[-\log q_s(Y\mid\tilde{\mathbf X}_s)]$ (an upper
    bound on $H(Y\mid\tilde{\mathbf X}_s)$),
    ``information`` $H(Y) - $ that (a lower bound on $I(\tilde{\mathbf X}_s;Y)$), both with standard errors,
    ``accuracy`` of $\arg\max q_s$, on the grid ``s``; ``label_entropy`` is $\mathbb E[-\log w_Y]$ over the
    labels: the plug-in $H(Y)$ with the default prior (the label frequencies)."""

    s: np.ndarray
    conditional_entropy: np.ndarray
    conditional_entropy_stderr: np.ndarray
    information: np.ndarray
    information_stderr: np.ndarray
    accuracy: np.ndarray
    label_entropy: float


def noisy_label_information(field, sde: VPSDE, x: Float[Array, "N D"], y, s_grid, *, key: PRNGKeyArray,
                            num_classes: int | None = None, class_prior=None, s_min: float = 1e-3,
                            num_time_samples: int = 64, batch_size: int = 16) -> NoisyLabelInformation:
    r"""$H(Y\mid\tilde{\mathbf X}_s)$ and $I(\tilde{\mathbf X}_s;Y)$ at each $s$ of
    ``s_grid`` from :func:`class_posterior`.

    Each clean pair $(\mathbf x_i, y_i)$ is noised to every $s$ with the **same** noise vector
    ($\tilde{\mathbf x}_s = \sqrt\alpha\,\mathbf x_i + \sqrt{1-\alpha}\,\boldsymbol\varepsilon_i$),
    so the curves are smooth in $s$;
    the class prior defaults to the label frequencies of ``y``. ``s_grid`` values lie in [0, T).
    """
    labels, num_classes = check_labels(y, num_classes)
    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[0] != labels.size:
        raise ValueError(f"x must have shape (N={labels.size}, D), got shape {x.shape}")
    s_grid = check.as_float_array(s_grid, "s_grid", ndim=1)
    if np.any(s_grid < 0) or np.any(s_grid >= sde.T):
        raise ValueError(f"s_grid must lie in [0, T={sde.T}), got values in [{s_grid.min()}, {s_grid.max()}]")
    prior = np.bincount(labels, minlength=num_classes) / labels.size if class_prior is None else class_prior
    key_noise, key_loss = jax.random.split(key)
    noise = np.asarray(jax.random.normal(key_noise, x.shape), np.float32)
    log_prior = np.log(np.asarray(prior, np.float64))
    h = float(-log_prior[labels].mean())  # the plug-in H(Y) when the prior is the label frequencies
    rows = []
    for s, point_key in zip(s_grid, jax.random.split(key_loss, s_grid.size)):
        alpha = float(sde.alpha(s))
        x_s = np.sqrt(alpha) * x + np.sqrt(1.0 - alpha) * noise if s > 0 else x
        posterior = class_posterior(field, sde, x_s, num_classes=num_classes, key=point_key, class_prior=prior,
                                    s=float(s), s_min=s_min, num_time_samples=num_time_samples,
                                    batch_size=batch_size)
        surprisal = -posterior.log_probabilities[np.arange(labels.size), labels]
        # information per example: log q(y|x) - log p(y), so that its s.e. includes the label draws
        gain = -surprisal - log_prior[labels]
        accuracy = np.mean(np.argmax(posterior.log_probabilities, axis=1) == labels)
        rows.append((surprisal.mean(), surprisal.std(ddof=1), gain.mean(), gain.std(ddof=1), accuracy))
    rows = np.array(rows)
    root_n = np.sqrt(labels.size)
    return NoisyLabelInformation(s_grid, rows[:, 0], rows[:, 1] / root_n, rows[:, 2], rows[:, 3] / root_n,
                                 rows[:, 4], float(h))
