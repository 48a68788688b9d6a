r"""Figures for the manifolds chapter: total correlation, image spectra under noise, and
neural-entropy profiles of image models. Every function draws onto the axes or figure
it is given (no pyplot state) and returns it."""

from collections.abc import Mapping

import numpy as np
from matplotlib.ticker import NullFormatter

from .. import spectrum
from ..sde import VPSDE

__all__ = [
    "draw_drowned_frequency",
    "draw_eq8_decomposition",
    "draw_gaussian_model_rates",
    "draw_neural_entropy_profiles",
    "draw_power_spectra",
    "draw_sample_grid",
    "label_information_table",
]


def draw_eq8_decomposition(ax, lambda_delta, total, marginals, total_correlation, mutual_information=None):
    r"""Eq. 8 on the flattened Gaussian: $S_{\rm tot}$, the marginal divergences and TC against
    $\lambda_\delta$ (log axis), with $I(X;Y)$ for comparison when given."""
    ax.plot(lambda_delta, total, "k-", lw=2, label=r"$S_{\rm tot}^X$")
    ax.plot(lambda_delta, total_correlation, "C3--", lw=2, label="TC(X)")
    ax.plot(lambda_delta, marginals, "C0-", label=r"$\sum_k D_{\rm KL}$ of marginals")
    if mutual_information is not None:
        ax.plot(lambda_delta, mutual_information, "C2:", lw=2, label="I(X;Y)")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel(r"$\lambda_\delta$ (flatter to the right)")
    ax.set_ylabel("nats")
    ax.legend(fontsize=8)
    return ax


def draw_power_spectra(ax, spectra: Mapping[str, spectrum.RadialSpectrum], sde: VPSDE, s_marks=(1e-3, 1e-2, 0.1)):
    r"""Radially averaged power spectra (log-log) with the white-noise level $1/\mathrm{SNR}(s)$ of
    a few times: a mode is drowned where its power lies below the line."""
    for i, (name, result) in enumerate(spectra.items()):
        ax.loglog(result.frequency, result.power, "o-", ms=3, color=f"C{i}", label=name)
    for s in s_marks:
        level = float(np.exp(-sde.float64.log_snr(np.float64(s))))
        ax.axhline(level, color="0.5", lw=0.8, ls="--")
        ax.text(0.02, level, f"noise at s={s:g}", transform=ax.get_yaxis_transform(), fontsize=7, color="0.35",
                va="bottom")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("spatial frequency |k| (cycles per pixel)")
    ax.set_ylabel("power per mode (pixels in [-1, 1])")
    ax.legend(fontsize=8)
    return ax


def draw_drowned_frequency(ax, spectra: Mapping[str, spectrum.RadialSpectrum], sde: VPSDE, s=None):
    """The frequency above which noise outweighs signal, against forward time s."""
    s = np.geomspace(1e-4, sde.T, 200) if s is None else s
    for i, (name, result) in enumerate(spectra.items()):
        cutoff = spectrum.drowned_frequency(result, sde, s)
        ax.semilogx(s, np.where(np.isfinite(cutoff), cutoff, np.nan), color=f"C{i}", label=name)
    ax.set_xlabel("forward time s")
    ax.set_ylabel("lowest drowned frequency")
    ax.legend(fontsize=8)
    return ax


def draw_gaussian_model_rates(axes, models: Mapping[str, spectrum.GaussianImageModel], sde: VPSDE, s=None):
    r"""Left: the exact entropy rate of each Gaussian image model, per pixel and per unit
    $\log s$ ($s\cdot$rate$/D$), with a white-spectrum model of the same total variance (dashed).
    Right: the two parts of Eq. 8 for $X_s$ per pixel, total correlation (solid) and the
    marginal divergences (dashed)."""
    s = np.geomspace(1e-4, sde.T, 200) if s is None else s
    rate_ax, parts_ax = axes
    for i, (name, model) in enumerate(models.items()):
        norm = float(model.mean @ model.mean)
        d = model.dimension
        rate = spectrum.spectrum_entropy_rate(model.eigenvalues, sde, s, norm)
        white = spectrum.spectrum_entropy_rate(np.full(d, model.eigenvalues.mean()), sde, s, norm)
        rate_ax.semilogx(s, s * rate / d, color=f"C{i}", label=name)
        rate_ax.semilogx(s, s * white / d, color=f"C{i}", ls="--", lw=0.9)
        marginal, tc = spectrum.eq8_parts(model, sde, s)
        parts_ax.semilogx(s, tc / d, color=f"C{i}", label=name)
        parts_ax.semilogx(s, marginal / d, color=f"C{i}", ls="--", lw=0.9)
    rate_ax.set_xlabel("forward time s")
    rate_ax.set_ylabel("s x rate / D (nats per pixel per unit log s)")
    rate_ax.set_title("measured spectrum (solid) vs white (dashed)", fontsize=9)
    rate_ax.legend(fontsize=8)
    parts_ax.set_xlabel("forward time s")
    parts_ax.set_ylabel(r"nats per pixel")
    parts_ax.set_title(r"Eq. 8 for $X_s$: TC (solid), marginals (dashed)", fontsize=9)
    return axes


def draw_neural_entropy_profiles(axes, artifacts: Mapping[str, tuple[dict, dict]]):
    r"""Fig. 14 for cached runs: the neural-entropy rates $dS^X_{\rm NN}/ds$ (solid) and
    $dS^{X|Y}_{\rm NN}/ds$ (dashed) per pixel, ± 2 standard errors, on log $s$; right: the MINDE
    rate. ``artifacts`` maps a label to ``(meta, arrays)`` of a neural-entropy artifact."""
    rate_ax, mi_ax = axes
    for i, (label, (meta, arrays)) in enumerate(artifacts.items()):
        d = meta["results"]["dimension"]
        s = arrays["s"]
        for key, style in (("rate_x", "-"), ("rate_x_given_y", "--")):
            rate, err = arrays[key] / d, arrays[f"{key}_stderr"] / d
            rate_ax.plot(s, rate, style, color=f"C{i}", label=label if key == "rate_x" else None)
            rate_ax.fill_between(s, rate - 2 * err, rate + 2 * err, color=f"C{i}", alpha=0.2, lw=0)
        mi, mi_err = arrays["rate_mutual_information"], arrays["rate_mutual_information_stderr"]
        mi_ax.plot(s, mi, color=f"C{i}", label=label)
        mi_ax.fill_between(s, mi - 2 * mi_err, mi + 2 * mi_err, color=f"C{i}", alpha=0.2, lw=0)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("forward time s")
    rate_ax.set_yscale("log")
    rate_ax.set_ylabel("entropy rate / D (nats per pixel per unit s)")
    rate_ax.legend(fontsize=8)
    mi_ax.set_ylabel("MINDE rate (nats per unit s)")
    return axes


def draw_sample_grid(ax, images, columns: int, title: str = ""):
    """Tile uint8 images (N, H, W, C) into a grid with ``columns`` images per row."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = -(-n // columns)
    canvas = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, c), 255, np.uint8)
    for index, image in enumerate(images):
        r, q = divmod(index, columns)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + q * (w + 1): 1 + q * (w + 1) + w] = image
    ax.imshow(canvas[..., 0] if c == 1 else canvas, cmap="gray_r" if c == 1 else None, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def label_information_table(runs: Mapping[str, dict], commands: Mapping[str, str] | None = None) -> str:
    r"""A text table of every estimate of $I(\mathbf X;Y)$ stored in image-experiment artifacts (nats).

    ``runs`` maps a row title to an artifact's metadata (``meta`` of
    :func:`kellynotes.store.load_artifact`). Columns: the sandwich ($H(Y)$ above, the
    reference CNN's Barber–Agakov bound below), the bounded estimate (the diffusion model's own
    posterior, with its accuracy), the loss gap and its unconditional excess, MINDE on held-out
    and on training images, Eq. 52, and the seconds the bounded estimate took. A run stored
    before these estimates existed gets a line saying so, with its command from ``commands``.
    """
    fmt = lambda e: f"{e['value']:6.2f} ± {e['stderr']:4.2f}"  # noqa: E731
    header = (f"{'run':28s} {'H(Y)':>13s} {'CNN bound':>13s} {'bounded':>13s} {'acc':>5s} {'loss gap':>13s} "
              f"{'uncond. excess':>14s} {'MINDE':>13s} {'MINDE train':>13s} {'Eq. 52':>13s} {'s':>5s}")
    lines = [header, "-" * len(header)]
    for title, meta in runs.items():
        r = meta["results"]
        info = r.get("label_information")
        if info is None:
            command = (commands or {}).get(title, "")
            lines.append(f"{title:28s} stored before the bounded estimates existed "
                         f"(no model is stored to re-evaluate); "
                         f"MINDE {fmt(r['mutual_information_minde'])}" + (f"; rerun `{command}`" if command else ""))
            continue
        lower = fmt(info["sandwich"]["lower"]) if info["sandwich"] else "-"
        train = r.get("mutual_information_minde_train_images")
        train = fmt(train) if train else "-"
        lines.append(f"{title:28s} {fmt(info['label_entropy'])} {lower:>13s} {fmt(info['bounded'])} "
                     f"{info['accuracy']:5.3f} {fmt(info['loss_gap'])} {fmt(info['unconditional_excess']):>14s} "
                     f"{fmt(info['minde'])} {train:>13s} {fmt(info['entropy_difference'])} "
                     f"{info['seconds']['bounded_and_loss_gap']:5.0f}")
    return "\n".join(lines)
