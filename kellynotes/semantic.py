r"""When is class information produced? Label information along the diffusion of a Gaussian mixture.

Take a mixture $p(\mathbf x) = \sum_k w_k\,\mathcal N(\mathbf m_k,\mathrm{diag}\,\mathbf v_k)$ whose component is the
class $Y$ (:class:`kellynotes.mixture.GaussianMixture`). Noising with the VP process
(:mod:`kellynotes.sde`) washes out the label: $I(\tilde{\mathbf X}_s;Y) = H(Y) - H(Y\mid\tilde{\mathbf X}_s)$
falls from $I(\mathbf X_0;Y)$ to about 0 at $s=T$. Generation runs the other way, so it *produces*
that information, and this module measures when (all in **nats**, rates per unit $s$).

**Semantic information rate.** We take the sign that makes production during generation positive:

$$R(s) = -\frac{d}{ds}I(\tilde{\mathbf X}_s;Y) = \frac{d}{ds}H(Y\mid\tilde{\mathbf X}_s)
 = \frac{\beta(s)}2\,\mathbb E\big\|\nabla\log p_s(\tilde{\mathbf x}_s\mid Y) -
 \nabla\log p_s(\tilde{\mathbf x}_s)\big\|^2\ \ge 0 .$$

The last equality is the MINDE integrand (Eq. 13) *at each time*, not only after integration:
$dH(\tilde{\mathbf X}_s)/ds = \frac\beta2(\mathbb E\|\nabla\log p_s\|^2 - D)$ (see
:mod:`kellynotes.divergence`), the same for
each $p_s(\cdot\mid y)$, and
$\mathbb E[\nabla\log p_s(\mathbf x\mid Y)\mid\mathbf x] = \nabla\log p_s(\mathbf x)$ turns the
difference of squares into the square of the difference. The vector inside the norm is
$\nabla_{\mathbf x}\log p_s(Y\mid\mathbf x)$, the gradient of the implicit classifier (the guidance direction).
Integrating, $I(\tilde{\mathbf X}_s;Y) - I(\tilde{\mathbf X}_T;Y) = \int_s^T R(u)\,du$:
:func:`accumulated_minde` computes
this from any entropy field, exact or learned.

**Per class.** For class $k$ let $h_k(s) = \mathbb E[-\log p_s(Y=k\mid\tilde{\mathbf X}_s)\mid Y=k]$, the surprisal of
the true label. Then $h_k = -\log w_k - D_{\rm KL}(p_s(\cdot\mid k)\,\|\,p_s)$, so
$\sum_k w_kh_k = H(Y\mid\tilde{\mathbf X}_s)$,
$h_k\to-\log w_k$ as $s\to T$, and, both densities obeying the same Fokker-Planck equation,

$$R_k(s) = \frac{dh_k}{ds} = -\frac{d}{ds}D_{\rm KL}(p_s(\cdot\mid k)\|p_s)
 = \frac\beta2\,\mathbb E\big[\|\nabla\log p_s(\tilde{\mathbf x}_s\mid k) -
 \nabla\log p_s(\tilde{\mathbf x}_s)\|^2\,\big|\,Y=k\big]\ \ge0,$$

with $\sum_k w_kR_k = R$. $R_k$ says when generation decides "class $k$" for samples of that class.

Estimates are Monte Carlo with **common random numbers**: the same clean draws (stratified,
the same number per class) and the same noise are used at every $s$ of the grid, so a
curve is smooth in $s$ (its peak is well located) while each point carries the standard
error of an i.i.d. mean.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import _validation as check
from . import mixture as mixture_module
from . import montecarlo
from .mixture import GaussianMixture
from .montecarlo import FieldIntegrand, RateCurve
from .sde import VPSDE

__all__ = [
    "InformationCurve",
    "SemanticProfile",
    "accumulate_rate",
    "information_loss_rate",
    "accumulated_minde",
    "class_label_entropy_curves",
    "class_semantic_rates",
    "label_entropy_curve",
    "line_mixture",
    "peak_times",
    "semantic_information_rate",
    "semantic_profile",
]


@dataclass(frozen=True)
class InformationCurve:
    r"""An information quantity (nats, not a rate) on a grid of forward times $s$, with standard errors."""

    s: np.ndarray
    value: np.ndarray
    stderr: np.ndarray


@dataclass(frozen=True)
class SemanticProfile:
    r"""Everything about label information along the diffusion of one mixture, from one set of draws.

    * ``label_entropy``: $H(Y\mid\tilde{\mathbf X}_s)$;
    * ``class_label_entropy[k]``: $h_k(s) = \mathbb E[-\log p_s(k\mid\tilde{\mathbf X}_s)\mid Y=k]$;
    * ``rate``: the semantic information rate $R(s) = dH(Y\mid\tilde{\mathbf X}_s)/ds\ge0$;
    * ``class_rates[k]``: $R_k(s) = dh_k/ds\ge0$;
    * ``label_prior_entropy``: $H(Y)$ (exact), so $I(\tilde{\mathbf X}_s;Y) = H(Y) - H(Y\mid\tilde{\mathbf X}_s)$.
    """

    label_entropy: InformationCurve
    class_label_entropy: tuple[InformationCurve, ...]
    rate: RateCurve
    class_rates: tuple[RateCurve, ...]
    label_prior_entropy: float

    @property
    def mutual_information(self) -> InformationCurve:
        r"""$I(\tilde{\mathbf X}_s;Y) = H(Y) - H(Y\mid\tilde{\mathbf X}_s)$ (same standard errors)."""
        h = self.label_entropy
        return InformationCurve(h.s, self.label_prior_entropy - h.value, h.stderr)


# --------------------------------------------------------------------------- #
# Exact mixtures: one set of draws for every time
# --------------------------------------------------------------------------- #


def line_mixture(num_classes: int, separation: float, variance: float = 0.05, dimension: int = 1) -> GaussianMixture:
    r"""$K$ equally likely classes $\mathcal N(\mathbf m_k, vI)$ with means evenly spaced on the first axis,
    ``separation`` apart and centred on 0 ($m_{k,1} = (k - \frac{K-1}2)\,d$, other coordinates 0).

    The smallest example of "closer classes decide later": shrinking ``separation`` moves the
    peak of the semantic information rate toward $s = 0$.
    """
    num_classes = check.positive_int(num_classes, "num_classes")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 (one class carries no label information), got {num_classes}")
    separation = check.positive_number(separation, "separation")
    dimension = check.positive_int(dimension, "dimension")
    means = np.zeros((num_classes, dimension))
    means[:, 0] = (np.arange(num_classes) - 0.5 * (num_classes - 1)) * separation
    return GaussianMixture.isotropic(np.full(num_classes, 1.0 / num_classes), means, variance)



def _check_mixture(mixture) -> GaussianMixture:
    if not isinstance(mixture, GaussianMixture):
        raise ValueError(f"mixture must be a kellynotes.mixture.GaussianMixture, got {type(mixture).__name__}")
    return mixture


def _stratified_draws(mixture: GaussianMixture, key: PRNGKeyArray, per_class: int):
    """``per_class`` clean points from every component (labels 0..K-1 in blocks) and their forward noise."""
    key_clean, key_noise = jax.random.split(key)
    labels = jnp.repeat(jnp.arange(mixture.num_components, dtype=jnp.int32), per_class)
    means = jnp.asarray(mixture.means, jnp.float32)[labels]
    stds = jnp.sqrt(jnp.asarray(mixture.variances, jnp.float32))[labels]
    clean = means + stds * jax.random.normal(key_clean, means.shape, jnp.float32)
    return clean, labels, jax.random.normal(key_noise, means.shape, jnp.float32)


@eqx.filter_jit
def _per_sample_terms(mixture: GaussianMixture, diffused: GaussianMixture, sde: VPSDE, clean, labels, noise, s):
    r"""At one time $s$: posterior entropy $-\sum_k r_k\log r_k$, surprisal $-\log r_Y$ and
    $\frac\beta2\|\nabla\log p_s(\mathbf x\mid Y) - \nabla\log p_s(\mathbf x)\|^2$ for every draw."""
    s_vector = jnp.full(labels.shape, s, jnp.float32)
    x_s = sde.mean_coefficient(s) * clean + sde.std(s) * noise
    log_r = jax.nn.log_softmax(diffused.component_log_prob(x_s), axis=-1)
    posterior_entropy = -jnp.sum(jnp.exp(log_r) * log_r, axis=-1)
    surprisal = -jnp.take_along_axis(log_r, labels[:, None], axis=-1)[:, 0]
    classifier_gradient = (mixture_module.exact_score(mixture, sde, x_s, s_vector, labels)
                           - mixture_module.exact_score(mixture, sde, x_s, s_vector))
    fisher = 0.5 * sde.beta(s) * jnp.sum(classifier_gradient**2, axis=-1)
    return posterior_entropy, surprisal, fisher


def _class_means(values: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(G, K·n) values in class blocks -> per-class means and standard errors, each (K, G)."""
    blocks = values.reshape(values.shape[0], num_classes, -1)
    return blocks.mean(-1).T, (blocks.std(-1, ddof=1) / np.sqrt(blocks.shape[-1])).T


def semantic_profile(
    mixture: GaussianMixture,
    sde: VPSDE,
    s_grid: Float[np.ndarray, " G"],
    *,
    key: PRNGKeyArray,
    samples_per_class: int = 4096,
) -> SemanticProfile:
    r"""$H(Y\mid\tilde{\mathbf X}_s)$, $h_k(s)$, $R(s)$ and $R_k(s)$ on ``s_grid``
    (in $(0, T]$), nats and nats per unit $s$.

    ``samples_per_class`` clean draws per component, each noised with common random numbers
    across the grid. Class averages are weighted by $w_k$ exactly (stratified sampling), so
    rare classes are as well resolved as common ones. $H(Y\mid\tilde{\mathbf X}_s)$ uses the exact
    posterior entropy of each draw (lower variance than the surprisal of the true label).
    """
    mixture = _check_mixture(mixture)
    s_grid = montecarlo.check_s_grid(sde, s_grid)
    samples_per_class = check.positive_int(samples_per_class, "samples_per_class")
    if samples_per_class < 2:
        raise ValueError(f"samples_per_class must be >= 2 (a standard error needs two), got {samples_per_class}")
    clean, labels, noise = _stratified_draws(mixture, key, samples_per_class)
    terms = [
        _per_sample_terms(mixture, mixture.diffuse(sde, float(s)), sde, clean, labels, noise, jnp.float32(s))
        for s in s_grid
    ]
    posterior_entropy, surprisal, fisher = (np.stack([np.asarray(t[i], np.float64) for t in terms]) for i in range(3))
    weights = np.asarray(mixture.weights, np.float64)
    num_classes = mixture.num_components

    def weighted(values):
        means, errors = _class_means(values, num_classes)
        return weights @ means, np.sqrt((weights**2) @ errors**2), means, errors

    entropy_value, entropy_error, _, _ = weighted(posterior_entropy)
    _, _, class_entropy, class_entropy_error = weighted(surprisal)
    rate_value, rate_error, class_rate, class_rate_error = weighted(fisher)
    return SemanticProfile(
        label_entropy=InformationCurve(s_grid, entropy_value, entropy_error),
        class_label_entropy=tuple(InformationCurve(s_grid, v, e) for v, e in zip(class_entropy, class_entropy_error)),
        rate=RateCurve(s_grid, rate_value, rate_error),
        class_rates=tuple(RateCurve(s_grid, v, e) for v, e in zip(class_rate, class_rate_error)),
        label_prior_entropy=mixture.label_entropy,
    )


def _samples_per_class(mixture: GaussianMixture, num_samples: int) -> int:
    num_samples = check.positive_int(num_samples, "num_samples")
    per_class = num_samples // mixture.num_components
    if per_class < 2:
        raise ValueError(f"num_samples must be at least 2 per class ({2 * mixture.num_components}), got {num_samples}")
    return per_class


def label_entropy_curve(
    mixture: GaussianMixture, sde: VPSDE, s_grid: Float[np.ndarray, " G"], *, key: PRNGKeyArray, num_samples: int
) -> InformationCurve:
    r"""$H(Y\mid\tilde{\mathbf X}_s)$ in nats on ``s_grid`` (``num_samples`` draws, split evenly over classes).

    Rises from $H(Y\mid\mathbf X_0)$ near $s=0$ to $H(Y)$ at $s=T$; see :func:`semantic_profile`.
    """
    mixture = _check_mixture(mixture)
    per_class = _samples_per_class(mixture, num_samples)
    return semantic_profile(mixture, sde, s_grid, key=key, samples_per_class=per_class).label_entropy


def semantic_information_rate(
    mixture: GaussianMixture, sde: VPSDE, s_grid: Float[np.ndarray, " G"], *, key: PRNGKeyArray, num_samples: int
) -> RateCurve:
    r"""$R(s) = -dI(\tilde{\mathbf X}_s;Y)/ds =
    \frac\beta2\mathbb E\|\nabla_{\mathbf x}\log p_s(Y\mid\tilde{\mathbf x}_s)\|^2\ge0$ on ``s_grid``:
    the label information that generation produces per unit $s$ at time $s$ (nats per unit $s$)."""
    mixture = _check_mixture(mixture)
    per_class = _samples_per_class(mixture, num_samples)
    return semantic_profile(mixture, sde, s_grid, key=key, samples_per_class=per_class).rate


def class_label_entropy_curves(
    mixture: GaussianMixture, sde: VPSDE, s_grid: Float[np.ndarray, " G"], *, key: PRNGKeyArray,
    samples_per_class: int,
) -> tuple[InformationCurve, ...]:
    r"""$h_k(s) = \mathbb E[-\log p_s(Y=k\mid\tilde{\mathbf X}_s)\mid Y=k]$ for every class $k$ (nats)."""
    return semantic_profile(mixture, sde, s_grid, key=key, samples_per_class=samples_per_class).class_label_entropy


def class_semantic_rates(
    mixture: GaussianMixture, sde: VPSDE, s_grid: Float[np.ndarray, " G"], *, key: PRNGKeyArray,
    samples_per_class: int,
) -> tuple[RateCurve, ...]:
    r"""$R_k(s) = dh_k/ds = \frac\beta2\mathbb E[\|\nabla_{\mathbf x}\log p_s(k\mid\tilde{\mathbf x}_s)\|^2\mid Y=k]$
    for every class $k$."""
    return semantic_profile(mixture, sde, s_grid, key=key, samples_per_class=samples_per_class).class_rates


# --------------------------------------------------------------------------- #
# Peaks
# --------------------------------------------------------------------------- #


def _peak_time(s: np.ndarray, rate: np.ndarray) -> float:
    """Argmax on the grid, refined by the vertex of the parabola through the three points
    around it in ln s (the grid point itself when the maximum sits at either end)."""
    i = int(np.argmax(rate))
    if i == 0 or i == len(s) - 1:
        return float(s[i])
    u = np.log(s[i - 1 : i + 2])
    a, b, _ = np.polyfit(u, rate[i - 1 : i + 2], 2)
    if not a < 0:
        return float(s[i])
    return float(np.exp(np.clip(-b / (2 * a), u[0], u[2])))


def peak_times(curves: RateCurve | Sequence[RateCurve]) -> float | np.ndarray:
    r"""The forward time $s$ at which each rate curve peaks (nats per unit $s$, as sampled on its grid).

    The grid maximum refined by a parabola in $\ln s$ through its two neighbours. One
    :class:`~kellynotes.entropy.RateCurve` gives a float; a sequence (e.g. per-class rates) an array.
    A maximum at an end of the grid is reported as that end: widen the grid if that happens.
    """
    if isinstance(curves, RateCurve):
        s = check.as_float_array(curves.s, "curve.s", ndim=1)
        rate = check.as_float_array(curves.rate, "curve.rate", ndim=1)
        if s.shape != rate.shape or s.size < 3 or np.any(s <= 0) or np.any(np.diff(s) <= 0):
            raise ValueError(f"a rate curve needs >= 3 increasing positive times matching its rates, got s={s}")
        return _peak_time(s, rate)
    return np.array([peak_times(curve) for curve in curves])


# --------------------------------------------------------------------------- #
# The bridge to MINDE: accumulate the integrand of any field
# --------------------------------------------------------------------------- #


def accumulated_minde(
    field: Callable[..., Float[Array, "N D"]],
    sde: VPSDE,
    x: Float[Array, "N D"],
    y,
    s_grid: Float[np.ndarray, " G"],
    *,
    key: PRNGKeyArray,
    num_samples: int = 100_000,
    batch_size: int = 8192,
) -> InformationCurve:
    r"""The MINDE integrand accumulated from $T$ down to each $s$ of ``s_grid``:

    $$\hat I(s) = \int_s^T du\,\frac{\beta(u)}2\,\mathbb E\|\mathbf e(\tilde{\mathbf x}_u, u;\mathbf y) -
    \mathbf e(\tilde{\mathbf x}_u, u)\|^2 ,$$

    which for exact fields equals
    $I(\tilde{\mathbf X}_s;Y) - I(\tilde{\mathbf X}_T;Y) = H(Y\mid\tilde{\mathbf X}_T) - H(Y\mid\tilde{\mathbf X}_s)$
    (nats). ``field(x, s, y=None)`` is any entropy field (:func:`kellynotes.mixture.exact_entropy_field`
    through ``functools.partial``, or a trained :meth:`~kellynotes.entropy.EntropyModel.entropy_field`);
    ``x``, ``y`` are clean data and their labels, drawn with replacement.

    One set of ``num_samples`` times, uniform in log-SNR on $[\min s, T]$ with the importance weight
    of :meth:`~kellynotes.sde.VPSDE.sample_time_uniform_log_snr`, serves every grid point: $\hat I(s)$ is the mean
    of $w\,\frac\beta2\|\cdot\|^2\,\mathbf 1[u\ge s]$, so the curve is non-increasing in $s$ and $\hat I(T) = 0$;
    at $s = \min s$ it is exactly :func:`kellynotes.entropy.mutual_information_minde` with that cut.
    """
    s_grid = montecarlo.check_s_grid(sde, s_grid)
    if np.any(np.diff(s_grid) <= 0):
        raise ValueError("s_grid must be strictly increasing")
    num_samples = check.positive_int(num_samples, "num_samples")
    batch_size = check.positive_int(batch_size, "batch_size")
    if y is None:
        raise ValueError("y (the labels or conditions paired with x) is required: MINDE compares two fields")
    s_low = float(s_grid[0])
    if s_low >= sde.T:
        return InformationCurve(s_grid, np.zeros(1), np.zeros(1))
    times, values = montecarlo.weighted_time_samples(FieldIntegrand(field, "difference"), sde, x, y, key=key,
                                                     s_min=s_low, num_samples=num_samples, batch_size=batch_size)
    above = times[None, :] >= s_grid[:, None]  # (G, n)
    contributions = np.where(above, values[None, :], 0.0)
    mean = contributions.mean(axis=1)
    stderr = contributions.std(axis=1, ddof=1) / np.sqrt(times.size)
    at_end = s_grid >= sde.T  # the empty integral
    return InformationCurve(s_grid, np.where(at_end, 0.0, mean), np.where(at_end, 0.0, stderr))


def accumulate_rate(curve: RateCurve) -> InformationCurve:
    r"""$\int_{s_i}^{s_{\rm last}} r(u)\,du$ for every grid time $s_i$ of a sampled rate curve (nats), by the
    trapezoid rule in $\ln s$ on $s\,r(s)$; the last grid time (usually $T$) gets 0.

    For stored curves (e.g. the MINDE rate of an image experiment) where no field is at hand.
    Standard errors assume independent points (each point its own Monte Carlo draw) and
    exclude the quadrature error of the rule, which is small when the grid is dense in $\ln s$
    compared to the scale on which $s\,r(s)$ changes.
    """
    s = check.as_float_array(curve.s, "curve.s", ndim=1)
    rate = check.as_float_array(curve.rate, "curve.rate", ndim=1)
    stderr = check.as_float_array(curve.stderr, "curve.stderr", ndim=1)
    if not (s.shape == rate.shape == stderr.shape) or s.size < 2 or np.any(s <= 0) or np.any(np.diff(s) <= 0):
        raise ValueError(f"a rate curve needs >= 2 increasing positive times matching its rates, got s={s}")
    step = np.diff(np.log(s))
    # coefficients[i, j]: weight of s_j r_j in the integral from s_i to the end.
    coefficients = np.zeros((s.size, s.size))
    for i in range(s.size - 1):
        coefficients[i, i:-1] += 0.5 * step[i:]
        coefficients[i, i + 1 :] += 0.5 * step[i:]
    coefficients = coefficients * s[None, :]
    return InformationCurve(s, coefficients @ rate, np.sqrt((coefficients**2) @ stderr**2))


def information_loss_rate(curve: InformationCurve) -> RateCurve:
    r"""$-dI(\tilde{\mathbf X}_s;Y)/ds$ (nats per unit $s$) of an information curve sampled on a grid: the
    inverse of :func:`accumulate_rate`, by second-order finite differences (``np.gradient`` on the
    non-uniform grid, second order at the ends too).

    For curves measured at each $s$ with the same noise (e.g. the posterior route of
    :func:`kellynotes.posterior.noisy_label_information`), whose errors are strongly correlated
    along $s$. The standard errors here treat the points as independent, which for such curves
    overstates them: read them as an upper bound.
    """
    s = check.as_float_array(curve.s, "curve.s", ndim=1)
    value = check.as_float_array(curve.value, "curve.value", ndim=1)
    stderr = check.as_float_array(curve.stderr, "curve.stderr", ndim=1)
    if not (s.shape == value.shape == stderr.shape) or s.size < 3 or np.any(s <= 0) or np.any(np.diff(s) <= 0):
        raise ValueError(f"an information curve needs >= 3 increasing positive times matching its values, got s={s}")
    rate = -np.gradient(value, s, edge_order=2)
    # np.gradient is linear in the values: the same weights on the standard errors, in quadrature.
    weights = np.stack([np.gradient(np.eye(s.size)[j], s, edge_order=2) for j in range(s.size)])  # weights[j, i]
    return RateCurve(s, rate, np.sqrt((weights**2).T @ stderr**2))
