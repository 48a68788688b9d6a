r"""Gaussian mixtures under the VP diffusion: exact densities, scores, denoisers and label information.

A mixture with diagonal components,

$$p(\mathbf x) = \sum_{k=1}^K w_k\,\mathcal N(\mathbf x;\mathbf m_k,\mathrm{diag}\,\mathbf v_k),$$

whose component index is the class label $Y = k$, stays a mixture under the VP process
(:mod:`kellynotes.sde`). With
$\tilde{\mathbf X}_s = \sqrt\alpha\,\mathbf X_0 + \sqrt{1-\alpha}\,\boldsymbol\varepsilon$,

$$p_s(\mathbf x) = \sum_k w_k\,\mathcal N\big(\mathbf x;\sqrt\alpha\,\mathbf m_k,\ \mathrm{diag}\,\mathbf c_k\big),
\qquad \mathbf c_k(s) = \alpha\mathbf v_k + (1-\alpha),$$

so everything below is exact:

* the class posterior $r_k(\mathbf x) = p_s(Y=k\mid\mathbf x) = w_k\mathcal N_k(\mathbf x)/p_s(\mathbf x)$;
* the scores $\nabla\log p_s(\mathbf x\mid k) = -(\mathbf x - \sqrt\alpha\,\mathbf m_k)/\mathbf c_k$ and
  $\nabla\log p_s(\mathbf x) = \sum_k r_k\,\nabla\log p_s(\mathbf x\mid k)$;
* the denoiser (Tweedie / Miyasawa, Eq. 40)
  $\hat{\mathbf x}(\mathbf x_s) = \mathbb E[\mathbf X_0\mid\mathbf x_s]
  = \sum_k r_k\big[\mathbf m_k + \sqrt\alpha\,\mathbf v_k(\mathbf x_s - \sqrt\alpha\,\mathbf m_k)/\mathbf c_k\big]
  = \big(\mathbf x_s + (1-\alpha)\nabla\log p_s(\mathbf x_s)\big)/\sqrt\alpha$ (divisions are per coordinate);
* the entropy-matching field $\mathbf e^* = \nabla\log p_s + \mathbf x$ (Eq. 9 for the VP process), the field
  convention of :func:`kellynotes.gaussian.exact_entropy_field`, so it can be fed to the estimators of
  :mod:`kellynotes.entropy`.

Label information is in **nats**: $H(Y\mid\mathbf X_s)$ has no closed form (it is the entropy of the exact
posterior averaged over $p_s$), so it is a Monte Carlo :class:`~kellynotes.entropy.Estimate`;
$I(\mathbf X_s;Y) = H(Y) - H(Y\mid\mathbf X_s)$ falls from $I(\mathbf X_0;Y)$ at $s=0$ to about $0$ at $s=T$.

Parameters are stored as read-only float64 NumPy arrays, and :meth:`GaussianMixture.diffuse` works in
float64 (the schedule via :mod:`kellynotes.gaussian`). The density, score and posterior functions are
JAX, batched over leading axes and jit/vmap friendly; they compute in the dtype of their input
(float32 by default). :class:`GaussianMixture` is a JAX pytree, so pass it to jitted functions as an
argument (its arrays are then traced inputs, not compile-time constants).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from . import _validation as check
from .montecarlo import Estimate
from .sde import VPSDE, as_vpsde

__all__ = [
    "DiffusedComponents",
    "GaussianMixture",
    "component_posterior",
    "diffused_components",
    "exact_entropy_field",
    "exact_score",
    "label_posterior_entropy",
    "log_prob_float64",
    "mutual_information_noisy",
    "posterior_mean",
]

# Weights typed by hand (0.1 + 0.2 + 0.7) or computed in float64 sum to 1 within a few
# ulps; 1e-9 accepts that and rejects any real mistake (and float32 weights, which
# should be renormalised by the caller on purpose).
WEIGHT_SUM_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- #
# The mixture
# --------------------------------------------------------------------------- #


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True, eq=False)
class GaussianMixture:
    r"""$p(\mathbf x) = \sum_k w_k\,\mathcal N(\mathbf x;\mathbf m_k,\mathrm{diag}\,\mathbf v_k)$;
    class $Y = k$ is the component.

    ``weights`` (K,) positive, summing to 1 within ``WEIGHT_SUM_TOLERANCE`` (then renormalised);
    ``means`` (K, D); ``variances`` (K, D) positive (diagonal covariances). Stored as read-only
    float64 copies. Equality is identity. A JAX pytree (leaves: the three arrays).
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray

    def __post_init__(self):
        weights = check.as_float_array(self.weights, "weights", ndim=1)
        if np.any(weights <= 0):
            raise ValueError(f"weights must all be positive, got {weights}")
        if abs(weights.sum() - 1.0) > WEIGHT_SUM_TOLERANCE:
            raise ValueError(
                f"weights must sum to 1 (within {WEIGHT_SUM_TOLERANCE:g}), they sum to {weights.sum():.12g}"
            )
        means = check.as_float_array(self.means, "means", ndim=2)
        if means.shape[0] != weights.shape[0]:
            raise ValueError(f"means must have shape (K={weights.shape[0]}, D) to match weights, got {means.shape}")
        variances = check.as_float_array(self.variances, "variances", ndim=2)
        if variances.shape != means.shape:
            raise ValueError(f"variances must have the shape of means {means.shape}, got {variances.shape}")
        if np.any(variances <= 0):
            raise ValueError(f"variances must all be positive, smallest is {variances.min():.3g}")
        object.__setattr__(self, "weights", check.frozen_float64(weights / weights.sum()))
        object.__setattr__(self, "means", check.frozen_float64(means))
        object.__setattr__(self, "variances", check.frozen_float64(variances))

    # -- pytree --------------------------------------------------------------------

    def tree_flatten(self):
        return (self.weights, self.means, self.variances), None

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        mixture = object.__new__(cls)  # leaves may be tracers: skip validation
        for name, leaf in zip(("weights", "means", "variances"), leaves):
            object.__setattr__(mixture, name, leaf)
        return mixture

    # -- construction and sizes --------------------------------------------------------

    @classmethod
    def isotropic(cls, weights, means, variance) -> "GaussianMixture":
        r"""Components $\mathcal N(\mathbf m_k, v_k I)$: ``variance`` is one number or one per component (K,)."""
        means = check.as_float_array(means, "means", ndim=2)
        try:
            variance = np.asarray(variance, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"variance must be numeric, got {variance!r}") from error
        if variance.ndim > 1 or (variance.ndim == 1 and variance.shape[0] != means.shape[0]):
            raise ValueError(f"variance must be a number or have shape (K={means.shape[0]},), got {variance.shape}")
        variances = np.broadcast_to(variance.reshape(-1, 1) if variance.ndim else variance, means.shape)
        return cls(weights, means, variances)

    @property
    def num_components(self) -> int:
        return int(np.shape(self.weights)[0])

    @property
    def dimension(self) -> int:
        return int(np.shape(self.means)[1])

    @property
    def mean(self) -> Float[np.ndarray, " D"]:
        r"""$\mathbb E[\mathbf X] = \sum_k w_k\mathbf m_k$ (float64)."""
        return np.asarray(self.weights) @ np.asarray(self.means)

    @property
    def label_entropy(self) -> float:
        r"""$H(Y) = -\sum_k w_k\log w_k$ in nats (float64)."""
        w = np.asarray(self.weights)
        return float(-np.sum(w * np.log(w)))

    def diffuse(self, sde: VPSDE, s: float) -> "GaussianMixture":
        r"""The law of $\tilde{\mathbf X}_s = \sqrt\alpha\,\mathbf X_0 + \sqrt{1-\alpha}\,\boldsymbol\varepsilon$:
        means $\sqrt{\alpha(s)}\,\mathbf m_k$, variances
        $\alpha\mathbf v_k + (1-\alpha)$, same weights (float64, exact)."""
        sde = as_vpsde(sde)
        s = sde.float64.times(s)
        if s.ndim != 0:
            raise ValueError(f"s must be a scalar time, got shape {s.shape}")
        _, alpha, one_minus_alpha = sde.float64.schedule(s)
        return GaussianMixture(self.weights, np.sqrt(alpha) * self.means, alpha * self.variances + one_minus_alpha)

    # -- sampling ----------------------------------------------------------------------

    def sample(self, key: PRNGKeyArray, n: int) -> tuple[Float[Array, "n D"], Int[Array, " n"]]:
        """``n`` i.i.d. draws: points (n, D) float32 and their component labels (n,) int32."""
        n = check.positive_int(n, "n")
        key_label, key_noise = jax.random.split(key)
        labels = jax.random.choice(key_label, self.num_components, (n,), p=jnp.asarray(self.weights, jnp.float32))
        labels = labels.astype(jnp.int32)
        means = jnp.asarray(self.means, jnp.float32)[labels]
        stds = jnp.sqrt(jnp.asarray(self.variances, jnp.float32))[labels]
        return means + stds * jax.random.normal(key_noise, means.shape, jnp.float32), labels

    # -- densities (JAX) ---------------------------------------------------------------

    def component_log_prob(self, x: Float[Array, "*batch D"]) -> Float[Array, "*batch K"]:
        r"""$\log w_k + \log\mathcal N(\mathbf x;\mathbf m_k,\mathrm{diag}\,\mathbf v_k)$ for every $k$ (nats)."""
        x, dtype = _points(self, x)
        return _component_log_prob(
            jnp, x, jnp.log(jnp.asarray(self.weights, dtype)), jnp.asarray(self.means, dtype),
            jnp.asarray(self.variances, dtype),
        )

    def log_prob(self, x: Float[Array, "*batch D"]) -> Float[Array, " *batch"]:
        r"""$\log p(\mathbf x) = \mathrm{logsumexp}_k(\log w_k + \log\mathcal N_k(\mathbf x))$ (nats)."""
        return jax.nn.logsumexp(self.component_log_prob(x), axis=-1)

    def class_posterior(self, x: Float[Array, "*batch D"]) -> Float[Array, "*batch K"]:
        r"""$p(Y=k\mid\mathbf x) = \mathrm{softmax}_k(\log w_k + \log\mathcal N_k(\mathbf x))$."""
        return jax.nn.softmax(self.component_log_prob(x), axis=-1)

    def score(self, x: Float[Array, "*batch D"]) -> Float[Array, "*batch D"]:
        r"""$\nabla\log p(\mathbf x) = -\sum_k p(k\mid\mathbf x)\,(\mathbf x - \mathbf m_k)/\mathbf v_k$."""
        x, dtype = _points(self, x)
        r = self.class_posterior(x)
        means, variances = jnp.asarray(self.means, dtype), jnp.asarray(self.variances, dtype)
        return -jnp.sum(r[..., None] * (x[..., None, :] - means) / variances, axis=-2)


# --------------------------------------------------------------------------- #
# Shared pieces
# --------------------------------------------------------------------------- #


def _points(mixture: GaussianMixture, x):
    x = jnp.asarray(x)
    dtype = jnp.result_type(x.dtype, jnp.float32)
    if x.ndim < 1 or x.shape[-1] != mixture.dimension:
        raise ValueError(f"x must have shape (..., D={mixture.dimension}), got shape {x.shape}")
    return x.astype(dtype), dtype


def _logsumexp(xp, a, axis):
    peak = xp.max(a, axis=axis, keepdims=True)
    return xp.squeeze(peak, axis) + xp.log(xp.sum(xp.exp(a - peak), axis=axis))


def _component_log_prob(xp, x, log_weights, means, variances):
    r"""$\log w_k - \tfrac12\sum_d[\log(2\pi v_{kd}) + (x_d - m_{kd})^2/v_{kd}]$, shape
    (..., K), for ``xp`` = numpy or jax.numpy."""
    diff = x[..., None, :] - means
    return log_weights - 0.5 * xp.sum(xp.log(2 * np.pi * variances) + diff**2 / variances, axis=-1)


def log_prob_float64(mixture: GaussianMixture, x: np.ndarray) -> np.ndarray:
    """float64 NumPy ``log p(x)`` for exact (quadrature) computations."""
    x = np.asarray(x, dtype=np.float64)
    return _logsumexp(np, _component_log_prob(np, x, np.log(mixture.weights), mixture.means, mixture.variances), -1)


@dataclass(frozen=True)
class DiffusedComponents:
    r"""The components of $p_s$ at times ``s`` (shape (...,)), broadcastable against (..., K, D):
    component $k$ is $\mathcal N(\sqrt\alpha\,\mathbf m_k, \mathrm{diag}(\alpha\mathbf v_k + 1-\alpha))$."""

    sqrt_alpha: Array  # (..., 1, 1)
    one_minus_alpha: Array  # (..., 1, 1)
    means: Array  # √α m_k, (..., K, D)
    variances: Array  # c_k = α v_k + (1 - α), (..., K, D)
    prior_variances: Array  # v_k, (K, D)
    log_weights: Array  # (K,)


def _inputs(mixture: GaussianMixture, sde: VPSDE, x, s, y=None):
    x, dtype = _points(mixture, x)
    try:
        s = jnp.broadcast_to(jnp.asarray(s, dtype=dtype), x.shape[:-1])
    except ValueError as error:
        raise ValueError(f"s must broadcast to x.shape[:-1]={x.shape[:-1]}, got shape {jnp.shape(s)}") from error
    if y is not None:
        y = jnp.asarray(y)
        if not jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError(f"y must be integer component labels, got dtype {y.dtype}")
        if y.shape != x.shape[:-1]:
            raise ValueError(f"y must have shape {x.shape[:-1]} to match x, got shape {y.shape}")
        if not isinstance(y, jax.core.Tracer) and y.size:  # range checked only outside jit
            low, high = int(y.min()), int(y.max())
            if low < 0 or high >= mixture.num_components:
                raise ValueError(f"y must be labels in [0, K={mixture.num_components}), got values in [{low}, {high}]")
    return x, s, y, dtype


def diffused_components(mixture: GaussianMixture, sde: VPSDE, s, dtype) -> DiffusedComponents:
    """The :class:`DiffusedComponents` of ``mixture`` at times ``s`` (an array of ``dtype``)."""
    s = s[..., None, None]
    log_alpha = sde.log_alpha(s)
    alpha, one_minus_alpha = jnp.exp(log_alpha), -jnp.expm1(log_alpha)
    means, variances = jnp.asarray(mixture.means, dtype), jnp.asarray(mixture.variances, dtype)
    sqrt_alpha = jnp.exp(0.5 * log_alpha)
    return DiffusedComponents(
        sqrt_alpha, one_minus_alpha, sqrt_alpha * means, alpha * variances + one_minus_alpha, variances,
        jnp.log(jnp.asarray(mixture.weights, dtype)),
    )


def component_posterior(d: DiffusedComponents, x) -> Array:
    r"""The class posterior $r_k(\mathbf x) = w_k\mathcal N_k(\mathbf x)/p_s(\mathbf x)$ under
    the diffused components, shape (..., K)."""
    return jax.nn.softmax(_component_log_prob(jnp, x, d.log_weights, d.means, d.variances), axis=-1)


# --------------------------------------------------------------------------- #
# Exact denoiser, scores and field
# --------------------------------------------------------------------------- #


def posterior_mean(
    mixture: GaussianMixture, sde: VPSDE, x_s: Float[Array, "N D"], s: Float[Array, " N"]
) -> Float[Array, "N D"]:
    r"""The exact denoiser
    $\hat{\mathbf x}(\mathbf x_s) = \mathbb E[\mathbf X_0\mid\tilde{\mathbf X}_s = \mathbf x_s]$ (Eq. 40).

    $\hat{\mathbf x} = \sum_k r_k(\mathbf x_s)\big[\mathbf m_k + \sqrt\alpha\,\mathbf v_k(\mathbf x_s -
    \sqrt\alpha\,\mathbf m_k)/\mathbf c_k\big]$:
    each component's Gaussian posterior mean, weighted by the class posterior under $p_s$. It equals
    Tweedie's $(\mathbf x_s + (1-\alpha)\nabla\log p_s(\mathbf x_s))/\sqrt\alpha$ but has no division by
    $\sqrt\alpha$, so it stays accurate as $s\to T$. ``s`` is a scalar or has shape ``x_s.shape[:-1]``.
    """
    x, s, _, dtype = _inputs(mixture, sde, x_s, s)
    d = diffused_components(mixture, sde, s, dtype)
    r = component_posterior(d, x)
    component_means = jnp.asarray(mixture.means, dtype) + d.sqrt_alpha * d.prior_variances * (
        x[..., None, :] - d.means
    ) / d.variances
    return jnp.sum(r[..., None] * component_means, axis=-2)


def exact_score(
    mixture: GaussianMixture,
    sde: VPSDE,
    x: Float[Array, "N D"],
    s: Float[Array, " N"],
    y: Int[Array, " N"] | None = None,
) -> Float[Array, "N D"]:
    r"""$\nabla\log p_s(\mathbf x) = -\sum_k r_k(\mathbf x)(\mathbf x - \sqrt\alpha\,\mathbf m_k)/\mathbf c_k$, or with
    integer labels ``y``, $\nabla\log p_s(\mathbf x\mid y) = -(\mathbf x - \sqrt\alpha\,\mathbf m_y)/\mathbf c_y$.

    ``s`` is a scalar or has shape ``x.shape[:-1]``; ``y`` has shape ``x.shape[:-1]``.
    """
    x, s, y, dtype = _inputs(mixture, sde, x, s, y)
    d = diffused_components(mixture, sde, s, dtype)
    component_scores = -(x[..., None, :] - d.means) / d.variances  # (..., K, D)
    return _combine(d, x, y, component_scores)


def exact_entropy_field(
    mixture: GaussianMixture,
    sde: VPSDE,
    x: Float[Array, "N D"],
    s: Float[Array, " N"],
    y: Int[Array, " N"] | None = None,
) -> Float[Array, "N D"]:
    r"""The ideal entropy-matching field $\mathbf e^* = \nabla\log p_s(\mathbf x) + \mathbf x$ (Eq. 9 for the VP
    process; $\nabla\log p_{\rm eq} = -\mathbf x$), unconditional or, given labels ``y``, of $p_s(\cdot\mid y)$.

    Same convention as :func:`kellynotes.gaussian.exact_entropy_field`, so
    ``functools.partial(exact_entropy_field, mixture, sde)`` is a field for :mod:`kellynotes.entropy`.
    Formed without cancellation: per component
    $\mathbf e_k = [\alpha(\mathbf v_k - 1)\mathbf x + \sqrt\alpha\,\mathbf m_k]/\mathbf c_k$
    (since $\mathbf c_k - 1 = \alpha(\mathbf v_k - 1)$), and
    $\mathbf e^* = \sum_k r_k\mathbf e_k$ because $\sum_k r_k = 1$.
    """
    x, s, y, dtype = _inputs(mixture, sde, x, s, y)
    d = diffused_components(mixture, sde, s, dtype)
    alpha = d.sqrt_alpha**2
    component_fields = (alpha * (d.prior_variances - 1.0) * x[..., None, :] + d.means) / d.variances
    return _combine(d, x, y, component_fields)


def _combine(d: DiffusedComponents, x, y, per_component):
    """Posterior-weighted sum over components, or the labelled component's value."""
    if y is None:
        return jnp.sum(component_posterior(d, x)[..., None] * per_component, axis=-2)
    return jnp.take_along_axis(per_component, y[..., None, None], axis=-2)[..., 0, :]


# --------------------------------------------------------------------------- #
# Label information along the diffusion (nats)
# --------------------------------------------------------------------------- #


@jax.jit
def _posterior_entropies(diffused: GaussianMixture, x):
    log_r = jax.nn.log_softmax(diffused.component_log_prob(x), axis=-1)
    return -jnp.sum(jnp.exp(log_r) * log_r, axis=-1)


def label_posterior_entropy(
    mixture: GaussianMixture, sde: VPSDE, s: float, *, key: PRNGKeyArray, num_samples: int
) -> Estimate:
    r"""$H(Y\mid\tilde{\mathbf X}_s) = \mathbb E_{\mathbf x\sim p_s}\big[-\sum_k r_k(\mathbf x)\log r_k(\mathbf x)\big]$
    in nats.

    Monte Carlo over $\mathbf x\sim p_s$ with the exact posterior inside (the Rao-Blackwellised form: its
    variance is below that of $-\log r_Y(\mathbf x)$ over joint draws). Each draw lies in $[0, \log K]$.
    Tends to $H(Y)$ as $s\to T$ and to $H(Y\mid\mathbf X_0)$ (about 0 for well-separated components) as $s\to 0$.
    """
    num_samples = check.positive_int(num_samples, "num_samples")
    if num_samples < 2:
        raise ValueError(f"num_samples must be at least 2 (for a standard error), got {num_samples}")
    diffused = mixture.diffuse(sde, s)
    x, _ = diffused.sample(key, num_samples)
    h = np.asarray(_posterior_entropies(diffused, x), dtype=np.float64)
    return Estimate.of_samples(h)


def mutual_information_noisy(
    mixture: GaussianMixture, sde: VPSDE, s: float, *, key: PRNGKeyArray, num_samples: int
) -> Estimate:
    r"""$I(\tilde{\mathbf X}_s;Y) = H(Y) - H(Y\mid\tilde{\mathbf X}_s)$ in nats: $H(Y)$ exact (float64), the
    conditional entropy from :func:`label_posterior_entropy` (whose standard error it inherits)."""
    conditional = label_posterior_entropy(mixture, sde, s, key=key, num_samples=num_samples)
    return Estimate(mixture.label_entropy - conditional.value, conditional.stderr, conditional.num_samples)
