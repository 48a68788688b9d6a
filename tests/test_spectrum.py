"""Spectra and the Gaussian image model against closed forms."""

import numpy as np
import pytest
from helpers import SDE

from kellynotes import gaussian, spectrum


def _spd(rng, d, smallest=0.0):
    h = rng.normal(size=(d, d))
    cov = h @ h.T / d
    return cov + smallest * np.eye(d)


def test_rate_with_zero_mean_is_the_gaussian_module_rate():
    rng = np.random.default_rng(0)
    cov = _spd(rng, 6, 0.1)
    g = gaussian.JointGaussian(cov, np.ones((1, 6)), 1.0)
    s = np.geomspace(1e-4, 1.0, 17)
    lam = np.linalg.eigvalsh(cov)
    # Same float64 formula evaluated two ways: agreement to round-off.
    np.testing.assert_allclose(spectrum.spectrum_entropy_rate(lam, SDE, s), gaussian.entropy_rate_x(g, SDE, s),
                               rtol=1e-10)


def test_total_entropy_matches_closed_forms_including_the_mean():
    rng = np.random.default_rng(1)
    cov = _spd(rng, 5, 0.2)
    g = gaussian.JointGaussian(cov, np.ones((1, 5)), 1.0)
    lam = np.linalg.eigvalsh(cov)
    mean_norm_sq = 2.5
    s_min = 1e-3
    # Mean part integrates exactly: int beta/2 alpha |mu|^2 ds = |mu|^2/2 (alpha(s_min) - alpha(T)).
    alpha = lambda s: float(np.exp(SDE.float64.log_alpha(np.float64(s))))  # noqa: E731
    expected = gaussian.total_entropy_x(g, SDE, s_min) + 0.5 * mean_norm_sq * (alpha(s_min) - alpha(SDE.T))
    got = spectrum.spectrum_total_entropy(lam, SDE, s_min, mean_norm_sq)
    # Gauss-Legendre in log-SNR converges exponentially; 1e-8 relative is far above its error.
    assert got == pytest.approx(expected, rel=1e-8)


def test_zero_eigenvalues_make_the_cut_total_grow_like_half_log_per_direction():
    lam = np.array([0.0, 0.0, 0.0, 1.5, 0.7])
    low, lower = (spectrum.spectrum_total_entropy(lam, SDE, s) for s in (1e-4, 1e-6))
    # A flat direction has rate beta alpha^2 / (2 (1 - alpha)); with u = 1 - alpha, du = beta alpha ds, so its
    # integral is (1/2)(log u - u) between the limits: two decades of s add (1/2)[log(u(1e-4)/u(1e-6))
    # + u(1e-6) - u(1e-4)] per direction, about (1/2) log 100 each. The other directions add O(s) ~ 1e-4.
    u = lambda s: float(-np.expm1(SDE.float64.log_alpha(np.float64(s))))  # noqa: E731
    expected = 3 * 0.5 * (np.log(u(1e-4) / u(1e-6)) + u(1e-6) - u(1e-4))
    assert lower - low == pytest.approx(expected, abs=1e-3)


def test_total_correlation_noised_is_the_total_correlation_of_the_noised_covariance():
    rng = np.random.default_rng(2)
    cov = _spd(rng, 7, 0.05)
    s = np.array([1e-3, 0.1, 0.5])
    got = spectrum.total_correlation_noised(np.diag(cov), np.linalg.eigvalsh(cov), SDE, s)
    for value, si in zip(got, s):
        alpha = float(np.exp(SDE.float64.log_alpha(si)))
        expected = gaussian.total_correlation(alpha * cov + (1 - alpha) * np.eye(7))
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.all(np.diff(got) < 0)  # noise destroys correlations monotonically here


def test_total_correlation_of_a_singular_covariance_diverges_at_zero():
    cov = np.array([[1.0, 1.0], [1.0, 1.0]])  # x2 = x1: a line in the plane
    tc = spectrum.total_correlation_noised(np.diag(cov), np.linalg.eigvalsh(cov), SDE, np.array([0.0, 1e-6, 1e-3]))
    assert np.isinf(tc[0]) and np.isfinite(tc[1]) and tc[1] > tc[2] > 0


def test_white_noise_has_a_flat_spectrum_at_its_pixel_variance():
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(4000, 8, 8, 1))
    result = spectrum.radial_power_spectrum(images)
    # Uniform[0,1] rescaled to [-1,1] has variance 1/3; each bin averages >= 4 modes x 4000 images,
    # so the relative standard error is below 1/sqrt(16000) ~ 0.8%; allow 5%.
    np.testing.assert_allclose(result.power, 1 / 3, rtol=0.05)
    assert result.modes.sum() == 8 * 8 - 1  # every non-zero mode counted once


def test_a_sinusoid_puts_its_power_in_its_frequency_bin():
    rng = np.random.default_rng(4)
    n, size, k = 200, 16, 4  # 4 cycles per 16 pixels = 0.25 cycles per pixel
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1, 1))
    x = np.arange(size)[None, None, :, None]
    images = 0.5 + 0.25 * np.cos(2 * np.pi * k * x / size + phase) * np.ones((n, size, size, 1))
    result = spectrum.radial_power_spectrum(images)
    peak = result.frequency[np.argmax(result.power)]
    assert peak == pytest.approx(0.25, abs=0.05)


def test_drowned_frequency_rises_as_the_noise_goes_away():
    result = spectrum.RadialSpectrum(np.linspace(0.05, 0.7, 14), 10.0 * np.linspace(0.05, 0.7, 14) ** -2.0,
                                     np.ones(14))
    s = np.geomspace(1e-4, 1.0, 30)
    cutoff = spectrum.drowned_frequency(result, SDE, s)
    finite = np.isfinite(cutoff)
    assert np.all(np.diff(cutoff[finite]) <= 0)  # larger s (more noise): a lower cutoff
    assert cutoff[-1] == result.frequency[0]  # at s = T everything is drowned
    assert np.isinf(cutoff[0])  # at s = 1e-4 (SNR ~ 1e4) nothing with P >= 20 is drowned


def test_gaussian_image_model_of_digits_is_nearly_flat():
    from kellynotes import data

    model = spectrum.gaussian_image_model(data.digits("train").images)
    assert model.dimension == 64
    # The corner pixels of the 8x8 digits are (almost) always blank: the covariance is singular.
    assert model.eigenvalues[0] < 1e-6 * model.eigenvalues[-1]


def test_bad_input_is_rejected_with_a_named_error():
    with pytest.raises(ValueError, match="images must have shape"):
        spectrum.radial_power_spectrum(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="eigenvalues must be non-negative"):
        spectrum.spectrum_entropy_rate(np.array([1.0, -0.5]), SDE, np.array([0.1]))
    with pytest.raises(ValueError, match="same length"):
        spectrum.total_correlation_noised(np.ones(3), np.ones(4), SDE, np.array([0.1]))


def test_eq8_parts_add_up_to_the_cut_total():
    rng = np.random.default_rng(5)
    cov = _spd(rng, 6, 0.0) + np.diag([0, 0, 0, 0, 1e-6, 1e-6])
    mean = rng.normal(size=6)
    model = spectrum.GaussianImageModel(mean, np.linalg.eigvalsh(cov), np.diag(cov).copy())
    s_min = 1e-3
    marginal, tc = spectrum.eq8_parts(model, SDE, np.array([s_min, SDE.T]))
    kl = marginal + tc
    # S(s_min) = KL(p_s_min || N) - KL(p_T || N) for the ideal field: closed form vs quadrature of the rate.
    expected = spectrum.spectrum_total_entropy(model.eigenvalues, SDE, s_min, float(mean @ mean))
    assert kl[0] - kl[1] == pytest.approx(expected, rel=1e-7)
