r"""Images as nearly flat Gaussians: spectra, the noise that drowns them, and total correlation.

Why does the neural-entropy rate of an image model spike near $s=0$? Replace the image
distribution by the Gaussian with the same mean $\boldsymbol\mu$ and covariance $\Sigma$ (the
*Gaussian image model*). Its ideal entropy-matching field is known exactly (see
:mod:`kellynotes.gaussian`), and with eigenvalues $\lambda_k$ of $\Sigma$ under the VP process
($\alpha = \alpha(s)$, noise of unit variance per pixel):

$$\text{rate}(s) = \frac{\beta(s)}{2}\Big[\alpha\|\boldsymbol\mu\|^2
  + \sum_k \frac{\alpha^2(\lambda_k-1)^2}{\alpha\lambda_k + 1-\alpha}\Big]\quad\text{nats per unit } s,$$

whose integral from $s_{\min}$ to $T$ is the information the ideal model supplies after the cut
(as $s_{\min}\to0$ it tends to $D_{\rm KL}(\mathcal N(\boldsymbol\mu,\Sigma)\,\|\,\mathcal N(0,I))$, infinite if
any $\lambda_k = 0$). A direction $k$ contributes only once the signal-to-noise ratio
$\mathrm{SNR}(s) = \alpha/(1-\alpha)$ has grown to about $1/\lambda_k$: the weak directions (fine
detail in images) are resolved last, at small $s$, and there are many of them.

For images the weak directions are high spatial frequencies. :func:`radial_power_spectrum`
measures the power per frequency (the covariance of a stationary image model is
diagonalised by the Fourier basis, its eigenvalues being the power of each mode), and
:func:`drowned_frequency` gives, at each $s$, the frequency above which white noise has
more power than the signal. Pixels are scaled to $[-1, 1]$ (``2 * images - 1``), the
scale used for training in :mod:`kellynotes.experiments`; all information is in nats.

Total correlation (Eq. 8 of *Diffusion Models are Kelly Gamblers*) of a Gaussian with
covariance $C$ is $\tfrac12(\sum_i\log C_{ii} - \log|C|)$; for $X_s$ it is
:func:`total_correlation_noised`, computed from the diagonal and the eigenvalues of $\Sigma$ alone.
"""

from dataclasses import dataclass

import numpy as np
from jaxtyping import Float

from . import _validation as check
from . import gaussian
from .sde import VPSDE

__all__ = [
    "GaussianImageModel",
    "RadialSpectrum",
    "drowned_frequency",
    "eq8_parts",
    "gaussian_image_model",
    "radial_power_spectrum",
    "spectrum_entropy_rate",
    "spectrum_total_entropy",
    "total_correlation_noised",
]


def _images(images, name: str = "images") -> np.ndarray:
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (N, H, W, C), got {images.shape}")
    if images.shape[0] < 2:
        raise ValueError(f"{name} needs at least 2 images, got {images.shape[0]}")
    if not np.all(np.isfinite(images)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return 2.0 * images - 1.0  # [0, 1] -> [-1, 1], as in training


@dataclass(frozen=True)
class RadialSpectrum:
    frequency: np.ndarray  # (B,) bin centres, cycles per pixel, in (0, 1/sqrt(2)]
    power: np.ndarray  # (B,) mean power per Fourier mode in the bin (variance units of [-1, 1] pixels)
    modes: np.ndarray  # (B,) number of Fourier modes (x channels) in the bin


def radial_power_spectrum(images: Float[np.ndarray, "N H W C"], num_bins: int | None = None) -> RadialSpectrum:
    r"""Radially averaged power spectrum of the fluctuations $\mathbf x - \bar{\mathbf x}$ (images in
    [0, 1], rescaled to [-1, 1]): $P(\mathbf k) = \mathbb E\,|\hat x(\mathbf k)|^2$ with the orthonormal 2-D
    DFT per channel, so $\sum_{\mathbf k} P(\mathbf k)$ is the summed pixel variance; averaged over
    channels and over the modes with $|\mathbf k|$ in each bin. The zero frequency (the
    mean brightness fluctuation) is left out. ``num_bins`` defaults to ``max(H, W) // 2``."""
    x = _images(images)
    _, height, width, channels = x.shape
    fluctuations = x - x.mean(axis=0)
    power = np.mean(np.abs(np.fft.fft2(fluctuations, axes=(1, 2), norm="ortho")) ** 2, axis=0)  # (H, W, C)
    ky, kx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    radius = np.hypot(kx, ky)
    num_bins = check.positive_int(num_bins or max(height, width) // 2, "num_bins")
    edges = np.linspace(0.0, np.sqrt(0.5), num_bins + 1)
    edges[-1] += 1e-12
    which = np.digitize(radius, edges) - 1  # (H, W)
    keep = radius > 0
    frequency, mean_power, modes = [], [], []
    for b in range(num_bins):
        mask = keep & (which == b)
        if mask.any():
            frequency.append(radius[mask].mean())
            mean_power.append(power[mask].mean())
            modes.append(mask.sum() * channels)
    return RadialSpectrum(np.array(frequency), np.array(mean_power), np.array(modes))


def drowned_frequency(spectrum: RadialSpectrum, sde: VPSDE, s: Float[np.ndarray, " S"]) -> Float[np.ndarray, " S"]:
    r"""At each $s$, the lowest frequency whose signal power $\alpha P(k)$ is below the white
    noise power $1-\alpha$ per mode, i.e. $P(k) < 1/\mathrm{SNR}(s)$; modes above it are drowned.
    Returns ``inf`` where no bin is drowned and the lowest bin's frequency where all are."""
    s = sde.float64.times(s)
    inverse_snr = np.exp(-sde.float64.log_snr(s))
    drowned = spectrum.power[None, :] < inverse_snr[:, None]  # (S, B)
    out = np.full(s.shape, np.inf)
    any_drowned = drowned.any(axis=1)
    first = np.argmax(drowned, axis=1)
    out[any_drowned] = spectrum.frequency[first[any_drowned]]
    return out


@dataclass(frozen=True)
class GaussianImageModel:
    """The Gaussian with the images' mean and covariance (pixels in [-1, 1])."""

    mean: np.ndarray  # (D,)
    eigenvalues: np.ndarray  # (D,) of the covariance, ascending, clipped at 0
    variances: np.ndarray  # (D,) the covariance's diagonal

    @property
    def dimension(self) -> int:
        return int(self.mean.shape[0])


def gaussian_image_model(images: Float[np.ndarray, "N H W C"]) -> GaussianImageModel:
    """Fit :class:`GaussianImageModel` to images in [0, 1] (sample mean and covariance)."""
    x = _images(images).reshape(np.shape(images)[0], -1)
    cov = np.cov(x, rowvar=False)
    eigenvalues = np.clip(np.linalg.eigvalsh(cov), 0.0, None)  # round-off can give -1e-17
    return GaussianImageModel(x.mean(axis=0), eigenvalues, np.diag(cov).copy())


def _eigenvalues(eigenvalues) -> np.ndarray:
    lam = check.as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if np.any(lam < 0):
        raise ValueError(f"eigenvalues must be non-negative, got minimum {lam.min()}")
    return lam


def spectrum_entropy_rate(eigenvalues: Float[np.ndarray, " D"], sde: VPSDE, s: Float[np.ndarray, "*S"],
                          mean_norm_sq: float = 0.0) -> Float[np.ndarray, "*S"]:
    r"""Entropy rate (nats per unit $s$) of the ideal field for $\mathcal N(\boldsymbol\mu, \Sigma)$ with
    eigenvalues ``eigenvalues`` and $\|\boldsymbol\mu\|^2$ = ``mean_norm_sq`` (formula in the module
    docstring; for $\boldsymbol\mu=0$ it equals :func:`kellynotes.gaussian.entropy_rate_x`). Zero
    eigenvalues are allowed for $s > 0$."""
    lam = _eigenvalues(eigenvalues)
    mean_norm_sq = check.non_negative_number(mean_norm_sq, "mean_norm_sq")
    s = sde.float64.times(s)
    beta, alpha, var = sde.float64.schedule(s)
    mu, mu_minus_one = gaussian.shifted_eigenvalues(lam, alpha, var)
    return 0.5 * beta * (alpha * mean_norm_sq + np.sum(mu_minus_one**2 / mu, axis=-1))


def spectrum_total_entropy(eigenvalues: Float[np.ndarray, " D"], sde: VPSDE, s_min: float,
                           mean_norm_sq: float = 0.0, nodes: int = 400) -> float:
    r"""$\int_{s_{\min}}^T$ :func:`spectrum_entropy_rate` $ds$ in nats (quadrature in log-SNR).
    Finite for every $s_{\min} > 0$; grows like $\tfrac12\log(1/s_{\min})$ per zero eigenvalue."""
    s_min = check.positive_number(s_min, "s_min")
    return gaussian.integrate_rate(lambda s: spectrum_entropy_rate(eigenvalues, sde, s, mean_norm_sq), sde, s_min,
                                   nodes=nodes)


def total_correlation_noised(variances: Float[np.ndarray, " D"], eigenvalues: Float[np.ndarray, " D"], sde: VPSDE,
                             s: Float[np.ndarray, "*S"]) -> Float[np.ndarray, "*S"]:
    r"""Total correlation (nats) of $X_s$ for $X_0\sim\mathcal N(\boldsymbol\mu, \Sigma)$:
    $\Sigma_s = \alpha\Sigma + (1-\alpha)I$ has diagonal $\alpha\Sigma_{ii} + 1-\alpha$ and eigenvalues
    $\alpha\lambda_k + 1-\alpha$, so $\mathrm{TC}(X_s) = \tfrac12\big[\sum_i\log(\alpha\Sigma_{ii}+1-\alpha)
    - \sum_k\log(\alpha\lambda_k+1-\alpha)\big] \ge 0$ (the mean does not enter). Infinite at $s=0$ when
    $\Sigma$ is singular: the divergence of Eq. (8) lives here."""
    v = _eigenvalues(variances)
    lam = _eigenvalues(eigenvalues)
    if v.shape != lam.shape:
        raise ValueError(f"variances and eigenvalues must have the same length, got {v.shape} and {lam.shape}")
    s = sde.float64.times(s)
    _, alpha, var = sde.float64.schedule(s)
    a, b = alpha[..., None], var[..., None]
    with np.errstate(divide="ignore"):
        return 0.5 * (np.sum(np.log(a * v + b), axis=-1) - np.sum(np.log(a * lam + b), axis=-1))


def eq8_parts(model: GaussianImageModel, sde: VPSDE, s: Float[np.ndarray, "*S"]) -> tuple[np.ndarray, np.ndarray]:
    r"""The two terms of Eq. 8 for the law of $X_s$ under the Gaussian image model, in nats:
    the marginal divergences
    $\sum_i D_{\rm KL}\big(\mathcal N(\sqrt\alpha\mu_i, \alpha\Sigma_{ii} + 1-\alpha)\,\|\,\mathcal N(0,1)\big)
    = \tfrac12\sum_i(\alpha\Sigma_{ii} + 1-\alpha + \alpha\mu_i^2 - 1 - \log(\alpha\Sigma_{ii} + 1-\alpha))$ and
    :func:`total_correlation_noised`. Their sum is $D_{\rm KL}(p^G_s\,\|\,\mathcal N(0,I))$, and the cut total of
    :func:`spectrum_total_entropy` is that sum at $s_{\min}$ minus its value at $T$."""
    s = sde.float64.times(s)
    _, alpha, var = sde.float64.schedule(s)
    a, b = alpha[..., None], var[..., None]
    v = a * model.variances + b
    marginal = 0.5 * np.sum(v + a * model.mean**2 - 1.0 - np.log(v), axis=-1)
    return marginal, total_correlation_noised(model.variances, model.eigenvalues, sde, s)
