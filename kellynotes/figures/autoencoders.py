r"""Figures for the autoencoder experiment (App. F; Figs. 12, 13, 15 and 16 of the paper).

Each function draws onto a matplotlib ``Figure`` it is given (never pyplot state) from
an artifact written by :func:`kellynotes.autoencoders.run_autoencoders` and read with
:func:`kellynotes.store.load_artifact`, passed as ``(meta, arrays)``.
"""

import numpy as np

__all__ = ["draw_aggregated_posteriors", "draw_reconstructions", "draw_tau_scan", "draw_tsne"]

LABEL_COLOURS = "tab10"


def _image(ax, image: np.ndarray) -> None:
    image = np.asarray(image)
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_reconstructions(fig, meta: dict, arrays: dict, *, max_images: int | None = None) -> None:
    """Fig. 12: held-out images (top row), their VAE reconstructions $f_\\psi(\\mu_\\phi(\\mathbf x))$
    (middle) and their DAE reconstructions by the probability-flow ODE given $\\mu_\\phi(\\mathbf x)$ (bottom)."""
    rows = (("original", "reconstruction_originals"), ("VAE", "reconstruction_vae"), ("DAE", "reconstruction_dae"))
    count = len(arrays["reconstruction_originals"])
    count = count if max_images is None else min(max_images, count)
    axes = fig.subplots(len(rows), count, squeeze=False, gridspec_kw=dict(wspace=0.05, hspace=0.05))
    for row, (label, key) in enumerate(rows):
        for column in range(count):
            _image(axes[row, column], arrays[key][column])
        axes[row, 0].set_ylabel(label)
    dim = meta["results"]["comparison"]["latent_dim"]
    fig.suptitle(f"Reconstructions from a {dim}-dimensional latent: Gaussian decoder (VAE) vs diffusion decoder (DAE)",
                 fontsize=9)


def _label_scatter(ax, points, labels, *, size: float = 6.0):
    points = np.asarray(points)
    return ax.scatter(points[:, 0], points[:, 1], c=np.asarray(labels), cmap=LABEL_COLOURS, vmin=-0.5, vmax=9.5,
                      s=size, alpha=0.8, linewidths=0)


def _label_legend(fig, scatter) -> None:
    handles, names = scatter.legend_elements(prop="colors", num=None)
    fig.legend(handles, names, title="label", loc="center right", fontsize=7, title_fontsize=8, frameon=False)


def draw_aggregated_posteriors(fig, meta: dict, arrays: dict) -> None:
    """Fig. 13: posterior means $\\mu_\\phi(\\mathbf x)$ of held-out images ($D_Z = 2$) for the VAE
    and the DAE, coloured by label, with each latent's kNN label accuracy."""
    axes = fig.subplots(1, 2)
    comparison = meta["results"]["comparison"]
    scatter = None
    for ax, name, title in zip(axes, ("vae", "dae"), ("VAE (Gaussian decoder)", "DAE (diffusion decoder)")):
        scatter = _label_scatter(ax, arrays[f"latents_{name}"], arrays["labels"])
        ax.set_title(f"{title}\nkNN accuracy {comparison[name]['knn_accuracy']:.2f}", fontsize=9)
        ax.set(xlabel="$z_1$", ylabel="$z_2$")
    _label_legend(fig, scatter)
    fig.subplots_adjust(right=0.88)


def draw_tsne(fig, meta: dict, arrays: dict) -> None:
    """Fig. 15: t-SNE maps of the semantic and perceptual latents of the split DAE at
    $\\tau$ (the artifact's ``results.split.tau``), coloured by label."""
    split = meta["results"]["split"]
    axes = fig.subplots(1, 2)
    scatter = None
    for ax, name, symbol in zip(axes, ("semantic", "perceptual"), ("sem", "per")):
        scatter = _label_scatter(ax, arrays[f"tsne_{name}"], arrays["labels"])
        ax.set_title(f"$z_{{\\rm {symbol}}}$ ({name}), $D_Z$ = {split['latent_dim']}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"t-SNE of the split DAE's latents, $\\tau$ = {split['tau']:g} T", fontsize=10)
    _label_legend(fig, scatter)
    fig.subplots_adjust(right=0.88)


def draw_tau_scan(fig, meta: dict, arrays: dict) -> None:
    """Fig. 16: $I(\\mathbf Z_{\\rm sem}; Y)$ and $I(\\mathbf Z_{\\rm per}; Y)$ (nats, ± 2 standard errors)
    against the split time $\\tau$, with the label entropy $H(Y)$ that bounds them (left),
    and the kNN label accuracy of each latent with chance level (right)."""
    ax_information, ax_accuracy = fig.subplots(1, 2)
    tau = np.asarray(arrays["tau"])
    for name, symbol, colour in (("semantic", "sem", "C0"), ("perceptual", "per", "C3")):
        label = f"$Z_{{\\rm {symbol}}}$"
        errors = 2 * np.asarray(arrays[f"information_{name}_stderr"])
        ax_information.errorbar(tau, arrays[f"information_{name}"], yerr=errors, fmt="o-", color=colour, ms=4,
                                capsize=2, label=label)
        ax_accuracy.plot(tau, arrays[f"knn_accuracy_{name}"], "o-", color=colour, ms=4, label=label)
    results = meta["results"]
    ax_information.axhline(results["label_entropy"], color="0.5", ls="--", lw=1, label="$H(Y)$")
    bottom = min(0.0, ax_information.get_ylim()[0])  # 0, or lower if an estimate dips below it
    ax_information.set(xlabel=r"split time $\tau$", ylabel="$I(Z;Y)$ (nats)", ylim=(bottom, None))
    ax_information.legend(fontsize=8)
    classes = len(np.unique(arrays["labels"]))
    ax_accuracy.axhline(1.0 / classes, color="0.5", ls="--", lw=1, label="chance")
    ax_accuracy.set(xlabel=r"split time $\tau$", ylabel="kNN label accuracy", ylim=(0, 1.02))
    ax_accuracy.legend(fontsize=8)

