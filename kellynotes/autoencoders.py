r"""What diffusion decoders store, probed with autoencoders (App. F of the paper), as one experiment.

``python -m kellynotes run autoencoders --dataset digits [--quick]`` trains, on images scaled to [-1, 1]:

1. **VAE vs DAE** (App. F.2, Figs. 12 and 13). A VAE with the Gaussian decoder of Eq. (70)
   and a diffusion autoencoder (Eqs. 66, 67) with the same encoder architecture and
   $D_Z = 2$. Both reconstruct the same test images from their posterior means
   $\boldsymbol\mu_\phi(\mathbf x)$: the VAE as its decoder mean $f_\psi(\boldsymbol\mu)$, the DAE by
   integrating the probability-flow ODE (:func:`kellynotes.sampling.probability_flow`)
   from Gaussian noise at $s = T$ down to $s_{\min}$ with the field conditioned on
   $\boldsymbol\mu$. The posterior means of held-out images, with their labels, are the
   aggregated-posterior scatter of Fig. 13.
2. **Split DAE** (App. F.3, Eq. 74, Fig. 15) at $\tau = 0.1T$: a perceptual latent
   $\mathbf z_{\rm per}$ conditions the decoder for $s < \tau$ and a semantic latent $\mathbf z_{\rm sem}$
   (an encoder with more downsampling and a global pool) for $s \ge \tau$. t-SNE maps of
   both latents of the held-out images, coloured by label.
3. **τ scan** (Fig. 16): one split DAE per $\tau$, and for each latent the mutual
   information $I(\mathbf Z_\bullet; Y)$ with the label (nats, with standard errors) and its
   kNN label accuracy.

**Clustering and information are measured on latent samples** $\mathbf z\sim q_\phi(\mathbf z\mid\mathbf x)$,
the variable the decoder is given. A k-nearest-neighbour classifier (training-image latents
as references, held-out ones as queries) gives the label accuracy; the t-SNE maps are of
samples too. Posterior means alone mislead here: a latent the decoder ignores is pushed to
the prior by the KL term, yet keeps tiny means that still cluster by digit (measured: a
collapsed DAE latent with 0.05 nats of KL had a kNN accuracy of 0.8 on its means, chance on
its samples). Both accuracies and the mean KL to the prior, an upper bound on
$I(\mathbf X;\mathbf Z)$, are recorded for every latent.

**How** $I(\mathbf Z; Y)$ **is measured.** $Y$ is a class label, so the diffusion runs on the
continuous latent and is conditioned on the label: :func:`kellynotes.entropy.train` fits a small
label-conditional entropy-matching network to the reference pairs $(\mathbf z, y)$ (label dropout
gives the unconditional field too) and MINDE's estimate (Eq. 14) is read off the same pairs, the
paper's recipe for Fig. 16 ("training a small diffusion model on pairs $(\mathbf z_\bullet, y)$").
Mutual information is symmetric, and a diffusion over a discrete label would need a
discrete-state process the package does not have. The pairs are latents *sampled* from
$q_\phi(\mathbf z\mid\mathbf x)$ for training images (the random variable $\mathbf Z$ itself); the
estimator standardises them, which leaves $I$ unchanged. Since $Y$ is discrete,
$I(\mathbf Z; Y) \le H(Y) \approx \log 10$ nats; the artifact records the plug-in $H(Y)$.

Each model is trained by :func:`kellynotes.training.fit`; with a checkpoint folder each
gets its own subfolder (``vae``, ``dae``, ``split-tau0.1``, ...) and a killed run resumes
where it stopped: models from their last checkpoint, and finished evaluations (the VAE/DAE
comparison, each τ point) from the results stored beside the checkpoints, so a run can be
split over several short jobs. The split DAEs differ only in τ, which the decoder holds as
an array: the five of them share one compiled training step. The artifact
(``autoencoders-<dataset>.json`` and ``.npz``) has the format of :mod:`kellynotes.store`;
its arrays are listed in :data:`ARRAYS`.

The digits default trains its six diffusion autoencoders for 700 steps of 128 images
(about a minute each on two CPU cores: the artifact records wall times and throughput);
these short runs use an EMA decay of 0.99 (with 0.999 the EMA would still be half the
untrained model after 700 steps). The MNIST preset (:meth:`AutoencoderConfig.for_dataset`)
is sized for one GPU.
"""

import functools
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import jax
import numpy as np

from . import _validation as check
from . import dae, data, entropy, marginals, store, training
from .atomic import atomic_write
from .sde import VPSDE
from .unet import UNetConfig

__all__ = ["ARRAYS", "AutoencoderConfig", "ExperimentData", "Latents", "ModelConfigs", "encode_latents", "fit_model",
           "knn_report", "label_information", "load_data", "loss_functions", "model_configs", "run_autoencoders",
           "run_from_arguments", "tsne_embedding"]

#: name -> shape, with R = reconstruction_images, N = evaluation_images, K = len(tau_fractions);
#: images are uint8 (H, W, C), latents float32, labels int32.
ARRAYS = {
    "reconstruction_originals": "(R, H, W, C) uint8",
    "reconstruction_vae": "(R, H, W, C) uint8",
    "reconstruction_dae": "(R, H, W, C) uint8",
    "reconstruction_labels": "(R,)",
    "latents_vae": "(N, 2) posterior means",
    "latents_dae": "(N, 2) posterior means",
    "labels": "(N,) labels of the held-out images",
    "tsne_semantic": "(N, 2) t-SNE of latent samples z ~ q(z|x)",
    "tsne_perceptual": "(N, 2)",
    "tau": "(K,)",
    "information_semantic": "(K,) nats",
    "information_semantic_stderr": "(K,)",
    "information_perceptual": "(K,) nats",
    "information_perceptual_stderr": "(K,)",
    "knn_accuracy_semantic": "(K,) of latent samples",
    "knn_accuracy_perceptual": "(K,) of latent samples",
    "kl_semantic": "(K,) nats, mean KL(q(z|x) || N(0, I)) over held-out images",
    "kl_perceptual": "(K,) nats",
}


def _digits_fit(steps: int, batch_size: int) -> training.FitConfig:
    return training.FitConfig(steps=steps, batch_size=batch_size, learning_rate=2e-3, warmup_steps=50,
                              steps_per_call=50, checkpoint_every=100, ema_decay=0.99)


@dataclass(frozen=True)
class AutoencoderConfig:
    dataset: str = "digits"
    name: str = ""  # artifact name; defaults to "autoencoders-<dataset>"
    # Encoders q_phi(z|x) (Eq. 68). The VAE, the DAE and the perceptual encoder use
    # `perceptual_downsamples` and a flatten; the semantic encoder downsamples more and pools.
    encoder_channels: int = 8
    encoder_hidden: int = 128
    perceptual_downsamples: int = 1
    semantic_downsamples: int = 2
    # Diffusion decoder: the U-Net (kellynotes.unet) conditioned on z.
    unet_channels: int = 8
    channel_multipliers: tuple[int, ...] = (1, 2)
    attention_resolutions: tuple[int, ...] = ()
    blocks_per_level: int = 1
    # Gaussian decoder of the VAE (Eq. 70).
    vae_decoder: dae.GaussianDecoderConfig = field(default_factory=dae.GaussianDecoderConfig)
    gamma: float = 0.1  # weight of the KL term (Eq. 66)
    s_min: float = 1e-3
    comparison_latent_dim: int = 2  # D_Z of the VAE and the DAE (part 1)
    split_latent_dim: int = 8  # D_Z of each of z_per and z_sem
    tau_fractions: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)  # tau / T for the scan
    tsne_tau_fraction: float = 0.1  # the scan's model shown by t-SNE (must be in tau_fractions)
    vae_fit: training.FitConfig = field(default_factory=lambda: _digits_fit(1000, 64))
    dae_fit: training.FitConfig = field(default_factory=lambda: _digits_fit(700, 128))  # DAE and split DAEs
    # Evaluation.
    reconstruction_images: int = 10
    evaluation_images: int = 360  # held-out images: scatter, t-SNE, kNN queries
    reference_images: int = 0  # training images for kNN references and I(Z;Y) (0: all)
    knn_neighbors: int = 10
    information: entropy.TrainConfig = field(default_factory=lambda: entropy.TrainConfig(
        steps=1500, batch_size=256, learning_rate=3e-3, warmup_steps=100, width=64, depth=3, steps_per_call=500))
    information_samples: int = 20_000  # Monte Carlo samples of each MINDE estimate
    tsne_perplexity: float = 30.0
    reconstruction_solver: str = "tsit5"  # probability-flow solver; "heun"/"euler" need reconstruction_steps
    reconstruction_steps: int | None = None  # None: adaptive (tsit5)
    seed: int = 0

    def __post_init__(self):
        if not self.tau_fractions or any(not 0.0 < t < 1.0 for t in self.tau_fractions):
            raise ValueError(f"tau_fractions must be non-empty fractions of T in (0, 1), got {self.tau_fractions}")
        if self.tsne_tau_fraction not in self.tau_fractions:
            raise ValueError(f"tsne_tau_fraction {self.tsne_tau_fraction} must be one of tau_fractions "
                             f"{self.tau_fractions}")
        check.count_fields(self, ("reconstruction_images", "evaluation_images", "knn_neighbors",
                                  "comparison_latent_dim", "split_latent_dim", "information_samples"))
        if self.reconstruction_images > self.evaluation_images:
            raise ValueError(f"reconstruction_images ({self.reconstruction_images}) must not exceed "
                             f"evaluation_images ({self.evaluation_images}): the reconstructed images are among them")
        if self.reference_images < 0:
            raise ValueError(f"AutoencoderConfig.reference_images must be >= 0 (0: all), got {self.reference_images}")
        if not (self.gamma >= 0 and math.isfinite(self.gamma)):
            raise ValueError(f"AutoencoderConfig.gamma must be non-negative, got {self.gamma}")

    @property
    def artifact_name(self) -> str:
        return self.name or f"autoencoders-{self.dataset}"

    @classmethod
    def for_dataset(cls, dataset: str) -> "AutoencoderConfig":
        r"""The preset for ``dataset``: the CPU default for ``digits``; for MNIST and
        Fashion-MNIST ($D_Z = 20$ per split latent, as in the paper) and CIFAR-10 ($D_Z = 60$)
        sizes for one GPU: 1500 bf16 steps of batch 256 per diffusion autoencoder (seven
        models, each compiled once), held-out evaluation on 2000 test images, and
        $I(\mathbf Z; Y)$ from 10 000 training images."""
        gpu_fit = training.FitConfig(steps=1500, batch_size=256, learning_rate=1e-3, warmup_steps=100,
                                     steps_per_call=250, checkpoint_every=500, ema_decay=0.995,
                                     compute_dtype="bfloat16")
        gpu = dict(encoder_channels=32, encoder_hidden=256, perceptual_downsamples=1, semantic_downsamples=3,
                   unet_channels=32, channel_multipliers=(1, 2, 2), blocks_per_level=1,
                   vae_decoder=dae.GaussianDecoderConfig(width=512, depth=2, sigma=0.2),
                   vae_fit=replace(gpu_fit, steps=2000), dae_fit=gpu_fit,
                   reconstruction_images=16, evaluation_images=2000, reference_images=10_000,
                   information=entropy.TrainConfig(steps=2000, batch_size=512, learning_rate=3e-3, warmup_steps=200,
                                                   width=128, depth=3, steps_per_call=1000),
                   information_samples=50_000)
        presets = {
            "digits": {},
            "mnist": dict(gpu, attention_resolutions=(7,), split_latent_dim=20),
            "cifar10": dict(gpu, attention_resolutions=(8,), split_latent_dim=60, comparison_latent_dim=2),
        }
        presets["fashion_mnist"] = presets["mnist"]
        if dataset not in presets:
            raise ValueError(f"no preset for dataset {dataset!r}; known: {sorted(presets)}")
        return cls(dataset=dataset, **presets[dataset])

    def with_steps(self, steps: int) -> "AutoencoderConfig":
        """The same run with ``steps`` training steps for every autoencoder (warmup capped at a tenth)."""
        steps = int(steps)
        fit = lambda f: replace(f, steps=steps, warmup_steps=min(f.warmup_steps, max(steps // 10, 1)))  # noqa: E731
        return replace(self, vae_fit=fit(self.vae_fit), dae_fit=fit(self.dae_fit))

    def quick(self) -> "AutoencoderConfig":
        """A few-step version for tests and smoke runs (its numbers mean nothing): two τ values,
        a tiny U-Net, a four-step Euler decode."""
        fit = lambda f: replace(f, steps=10, batch_size=16, steps_per_call=5, checkpoint_every=5,  # noqa: E731
                                warmup_steps=2)
        return replace(self, name=self.artifact_name + "-quick", vae_fit=fit(self.vae_fit), dae_fit=fit(self.dae_fit),
                       unet_channels=8, channel_multipliers=(1,), attention_resolutions=(), encoder_channels=8,
                       encoder_hidden=32, split_latent_dim=min(self.split_latent_dim, 4),
                       tau_fractions=(0.1, 0.9), tsne_tau_fraction=0.1, reconstruction_images=4, evaluation_images=48,
                       reference_images=120, knn_neighbors=3,
                       information=replace(self.information, steps=20, batch_size=32, warmup_steps=2, width=16,
                                           steps_per_call=10),
                       information_samples=256, tsne_perplexity=5.0, reconstruction_solver="euler",
                       reconstruction_steps=4)


# --------------------------------------------------------------------------- #
# Pieces of the run
# --------------------------------------------------------------------------- #


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[autoencoders] {message}", file=sys.stderr, flush=True)


def fit_model(name: str, loss_fn, model, x, fit_config: training.FitConfig, *, key, checkpoint_dir, progress: bool):
    """Stage: train one model on images ``x`` with :func:`kellynotes.training.fit` (checkpoints in
    ``checkpoint_dir/name``, or none; split times held fixed). Returns ``(EMA model, record)``, the record
    holding the loss curve, the wall time and :func:`kellynotes.store.device_report`."""
    folder = None if checkpoint_dir is None else Path(checkpoint_dir) / name
    fitted = training.fit(loss_fn, model, {"x": x}, replace(fit_config, progress=progress), key=key,
                          checkpoint_dir=folder, trainable=dae.trainable(model))
    record = dict(loss_steps=fitted.loss_steps.tolist(), loss=fitted.loss.tolist(), wall_time_s=fitted.wall_time_s,
                  resumed_from=fitted.resumed_from, **store.device_report(fitted, fit_config.compute_dtype))
    return fitted.ema_model, record


def _stage(checkpoint_dir, name: str, config: AutoencoderConfig, compute):
    """``compute()`` returns ``(record, arrays)`` (a JSON-able dict and a dict of arrays). With a
    checkpoint folder the result is stored in ``checkpoint_dir/name/evaluation.{json,npz}``
    (atomically, the JSON last), and a later job with the same config loads it instead of
    computing it again: a run split over several jobs evaluates each model once."""
    if checkpoint_dir is None:
        return compute()
    folder = Path(checkpoint_dir) / name
    record_path, arrays_path = folder / "evaluation.json", folder / "evaluation.npz"
    fingerprint = json.loads(json.dumps(asdict(config)))
    if record_path.exists() and arrays_path.exists():
        stored = json.loads(record_path.read_text())
        if stored.get("config") == fingerprint:
            with np.load(arrays_path) as stored_arrays:
                return stored["record"], {key: stored_arrays[key] for key in stored_arrays.files}
    record, arrays = compute()
    atomic_write(arrays_path, lambda file: np.savez(file, **arrays))
    atomic_write(record_path, lambda file: file.write(json.dumps(dict(config=fingerprint,
                                                                                record=record)).encode()))
    return json.loads(json.dumps(record)), arrays  # the same JSON round trip as a loaded stage


def _knn_accuracy(reference, reference_labels, queries, query_labels, neighbours: int) -> float:
    """Fraction of ``queries`` whose label is the majority label of their ``neighbours``
    nearest ``reference`` points (Euclidean)."""
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    classifier = KNeighborsClassifier(n_neighbors=min(neighbours, len(reference)))
    with threadpool_limits(1):  # see tsne_embedding
        return float(classifier.fit(reference, reference_labels).score(queries, query_labels))


def tsne_embedding(points: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """Stage: the 2-D t-SNE embedding of ``points`` (n, D) -> (n, 2). Its OpenMP threads are limited
    to one: beside JAX's threads on a busy 2-core machine they oversubscribe the cores (measured:
    47 s instead of 1.2 s for 360 points)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = min(perplexity, (len(points) - 1) / 3)  # t-SNE needs perplexity < n
    with threadpool_limits(1):
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
            np.asarray(points, np.float64)).astype(np.float32)


@dataclass(frozen=True)
class Latents:
    """One encoder's latents: posterior means and one draw z ~ q(z|x) per image, for the
    reference (training) and the held-out images, and the mean KL to the prior (nats)."""

    reference_means: np.ndarray
    reference_samples: np.ndarray
    held_out_means: np.ndarray
    held_out_samples: np.ndarray
    kl: float


def encode_latents(encoder: dae.GaussianEncoder, x_reference, x_held_out, key) -> Latents:
    """Stage: the :class:`Latents` of one encoder on the reference and held-out images (one draw each,
    by ``key``)."""
    key_reference, key_held_out = jax.random.split(key)
    draws = []
    for x, draw_key in ((x_reference, key_reference), (x_held_out, key_held_out)):
        mean, log_var = dae.posterior(encoder, x)
        draws.append((mean, np.asarray(dae.reparameterize(mean, log_var, draw_key)), log_var))
    (reference_means, reference_samples, _), (held_out_means, held_out_samples, log_var) = draws
    kl = float(np.mean(dae.kl_to_standard_normal(held_out_means, log_var)))
    return Latents(reference_means, reference_samples, held_out_means, held_out_samples, kl)


def knn_report(latents: Latents, y_reference, y_held_out, neighbours: int) -> dict:
    """Stage: kNN label accuracy of the latent samples (what the decoder is given) and, for
    comparison, of the posterior means, which can cluster even where the latent carries
    no information (a collapsed posterior keeps tiny but structured means)."""
    return dict(knn_accuracy=_knn_accuracy(latents.reference_samples, y_reference, latents.held_out_samples,
                                           y_held_out, neighbours),
                knn_accuracy_of_means=_knn_accuracy(latents.reference_means, y_reference, latents.held_out_means,
                                                    y_held_out, neighbours),
                kl=latents.kl)


def label_information(z: np.ndarray, labels: np.ndarray, config: AutoencoderConfig, key) -> dict:
    """Stage: MINDE's $I(\\mathbf Z; Y)$ (Eq. 14) and the entropy difference (Eq. 52), nats, on the reference
    pairs the network was trained on (App. F's protocol; standardised latents), not on held-out
    pairs as :func:`kellynotes.api.estimate_mutual_information` does: the stored runs were made so."""
    z = marginals.standardize(np.asarray(z, np.float64), "z")
    labels = np.asarray(labels, np.int32)
    key_train, key_minde, key_difference, _ = jax.random.split(key, 4)
    training = entropy.train(key_train, z, labels, config=replace(config.information, progress=False))
    options = dict(s_min=config.information.s_min, num_samples=config.information_samples)
    field = training.model.entropy_field
    minde = entropy.mutual_information_minde(field, training.model.sde, z, labels, key=key_minde, **options)
    difference = entropy.mutual_information_entropy_difference(field, training.model.sde, z, labels,
                                                               key=key_difference, **options)
    return dict(value=minde.value, stderr=minde.stderr, entropy_difference=difference.value,
                entropy_difference_stderr=difference.stderr)


# --------------------------------------------------------------------------- #
# The experiment
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ExperimentData:
    r"""The images of one run as flattened vectors in [-1, 1]: all training images, the
    reference images (the first ``reference_images`` of them: kNN references and
    $I(\mathbf Z; Y)$ pairs) and the held-out (test) images, with labels."""

    image_shape: tuple[int, ...]
    x_train: np.ndarray
    x_reference: np.ndarray
    y_reference: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray


def load_data(config: AutoencoderConfig, data_root=None, download: bool = False) -> ExperimentData:
    """The dataset of ``config`` (via :mod:`kellynotes.data`) cut as the experiment uses it."""
    options = data.load_options(config.dataset, data_root, download)
    train_set = data.load(config.dataset, "train", **options)
    test_set = data.load(config.dataset, "test", **options)
    to_vectors = lambda images: (2.0 * images - 1.0).reshape(len(images), -1).astype(np.float32)  # noqa: E731
    x_train = to_vectors(train_set.images)
    references = len(x_train) if config.reference_images == 0 else min(config.reference_images, len(x_train))
    return ExperimentData(tuple(int(n) for n in train_set.images.shape[1:]), x_train, x_train[:references],
                          train_set.labels[:references], to_vectors(test_set.images[: config.evaluation_images]),
                          test_set.labels[: config.evaluation_images])


@dataclass(frozen=True)
class ModelConfigs:
    """Architectures of the run: the encoder of the VAE and the DAE (``comparison``), the two
    encoders of the split DAEs, and the diffusion decoder's U-Net."""

    comparison: dae.EncoderConfig
    perceptual: dae.EncoderConfig
    semantic: dae.EncoderConfig
    unet: UNetConfig


def model_configs(config: AutoencoderConfig, image_shape: tuple[int, ...]) -> ModelConfigs:
    comparison = dae.EncoderConfig(image_shape, config.comparison_latent_dim, channels=config.encoder_channels,
                                   downsamples=config.perceptual_downsamples, hidden=config.encoder_hidden)
    perceptual = replace(comparison, latent_dim=config.split_latent_dim)
    semantic = replace(perceptual, downsamples=config.semantic_downsamples, global_pool=True)
    unet = UNetConfig(image_shape, channels=config.unet_channels, channel_multipliers=config.channel_multipliers,
                      attention_resolutions=config.attention_resolutions, blocks_per_level=config.blocks_per_level,
                      groups=min(8, config.unet_channels // 2))
    return ModelConfigs(comparison, perceptual, semantic, unet)


@functools.cache
def loss_functions(config: AutoencoderConfig, sde: VPSDE) -> MappingProxyType:
    """``loss(model, batch, key)`` for ``"vae"``, ``"dae"`` and ``"split"`` (Eqs. 66, 67, 70, 74).
    Cached: the same ``config`` and ``sde`` give the same function objects, so every split DAE
    of a run (and of a benchmark) trains with one function, and models of the same shape and
    loss function share a compiled training step (:func:`kellynotes.training.fit`)."""
    return MappingProxyType(dict(
        vae=lambda m, batch, key: dae.vae_loss(m, batch["x"], key, gamma=config.gamma),
        dae=lambda m, batch, key: dae.dae_loss(m, sde, batch["x"], key, s_min=config.s_min, gamma=config.gamma),
        split=lambda m, batch, key: dae.split_dae_loss(m, sde, batch["x"], key, s_min=config.s_min,
                                                       gamma=config.gamma),
    ))


def run_autoencoders(config: AutoencoderConfig, results_dir, *, checkpoint_dir=None, progress: bool = True,
                     data_root=None, download: bool = False) -> Path:
    """Run the experiment (see the module docstring); returns the path of the JSON artifact.
    ``data_root`` and ``download`` are passed to the dataset loader (:mod:`kellynotes.data`).

    With ``checkpoint_dir`` the run can be killed and started again with the same arguments
    any number of times: each model resumes from its checkpoint and each finished
    evaluation (the VAE/DAE comparison, each τ point) is loaded, not recomputed. The artifact
    is the same as that of an uninterrupted run except for timings."""
    start = time.perf_counter()
    results_dir = Path(results_dir)
    images = load_data(config, data_root, download)
    image_shape, x_train, x_eval, y_eval = images.image_shape, images.x_train, images.x_eval, images.y_eval
    x_reference, y_reference = images.x_reference, images.y_reference
    sde = VPSDE()
    key_comparison, key_scan = jax.random.split(jax.random.key(config.seed))
    keys = iter(jax.random.split(key_comparison, 7))  # 2 per model, 1 for decoding, 1 per latent
    architectures = model_configs(config, image_shape)
    losses = loss_functions(config, sde)
    fit_options = dict(checkpoint_dir=checkpoint_dir, progress=progress)
    training_records, timings = {}, {}
    total_models = 2 + len(config.tau_fractions)

    # 1. VAE vs DAE with D_Z = 2 (Figs. 12, 13).
    clock = time.perf_counter()
    _say(progress, f"model 1/{total_models}: VAE, D_Z = {config.comparison_latent_dim}")
    vae, training_records["vae"] = fit_model(
        "vae", losses["vae"], dae.VAE(architectures.comparison, config.vae_decoder, key=next(keys)), x_train,
        config.vae_fit, key=next(keys), **fit_options)
    _say(progress, f"model 2/{total_models}: DAE, D_Z = {config.comparison_latent_dim}")
    autoencoder, training_records["dae"] = fit_model(
        "dae", losses["dae"], dae.DiffusionAutoencoder(architectures.comparison, architectures.unet, key=next(keys)),
        x_train, config.dae_fit, key=next(keys), **fit_options)
    timings["comparison_training_s"] = time.perf_counter() - clock
    evaluation_keys = [next(keys) for _ in range(3)]

    def compare():
        _say(progress, "reconstructing (DAE: probability-flow ODE from noise given z)")
        originals = x_eval[: config.reconstruction_images]
        vae_images = np.asarray(dae.vae_reconstruct(vae, originals))
        latents = dae.posterior_means(autoencoder.encoder, originals)
        dae_images = np.asarray(dae.dae_reconstruct(autoencoder.decoder, sde, latents, evaluation_keys[0],
                                                    s_min=config.s_min, solver=config.reconstruction_solver,
                                                    num_steps=config.reconstruction_steps))
        comparison = {}
        arrays = dict(reconstruction_originals=store.to_uint8(originals).reshape(-1, *image_shape),
                      reconstruction_vae=store.to_uint8(vae_images).reshape(-1, *image_shape),
                      reconstruction_dae=store.to_uint8(dae_images).reshape(-1, *image_shape))
        for (name, model, decoded), key in zip((("vae", vae, vae_images), ("dae", autoencoder, dae_images)),
                                               evaluation_keys[1:]):
            latents = encode_latents(model.encoder, x_reference, x_eval, key)
            arrays[f"latents_{name}"] = latents.held_out_means.astype(np.float32)
            comparison[name] = dict(reconstruction_mse=float(np.mean((decoded - originals) ** 2)),
                                    **knn_report(latents, y_reference, y_eval, config.knn_neighbors))
        return comparison, arrays

    clock = time.perf_counter()
    comparison, arrays = _stage(checkpoint_dir, "comparison", config, compare)
    arrays.update(reconstruction_labels=y_eval[: config.reconstruction_images].astype(np.int32),
                  labels=y_eval.astype(np.int32))
    timings["comparison_evaluation_s"] = time.perf_counter() - clock

    # 2 and 3. Split DAEs over tau (Figs. 15, 16).
    scan = dict(tau=[], time_s=[], **{f"{quantity}_{latent}": [] for quantity in ("information", "knn_accuracy",
                                                                                   "knn_accuracy_of_means", "kl")
                                        for latent in ("semantic", "perceptual")})
    for index, fraction in enumerate(config.tau_fractions):
        tau = fraction * sde.T
        name = f"split-tau{fraction:g}"
        _say(progress, f"model {3 + index}/{total_models}: split DAE, tau = {tau:g}, D_Z = {config.split_latent_dim}")
        keys = iter(jax.random.split(jax.random.fold_in(key_scan, index), 6))  # 2 for the model, 2 per latent
        model, training_records[name] = fit_model(
            name, losses["split"],
            dae.SplitDiffusionAutoencoder(architectures.perceptual, architectures.semantic, architectures.unet, tau,
                                          sde, key=next(keys)),
            x_train, config.dae_fit, key=next(keys), **fit_options)
        latent_keys = [(next(keys), next(keys)) for _ in range(2)]

        def evaluate(model=model, latent_keys=latent_keys, fraction=fraction, tau=tau):
            _say(progress, f"tau = {tau:g}: I(Z_sem; Y), I(Z_per; Y) and kNN accuracies")
            clock = time.perf_counter()
            record, arrays = {}, {}
            for (latent, encoder), (key_latents, key_information) in zip(
                    (("semantic", model.semantic_encoder), ("perceptual", model.perceptual_encoder)), latent_keys):
                latents = encode_latents(encoder, x_reference, x_eval, key_latents)
                record.update({f"{quantity}_{latent}": value for quantity, value in
                               knn_report(latents, y_reference, y_eval, config.knn_neighbors).items()})
                record[f"information_{latent}"] = label_information(latents.reference_samples, y_reference, config,
                                                               key_information)
                if fraction == config.tsne_tau_fraction:
                    arrays[f"tsne_{latent}"] = tsne_embedding(latents.held_out_samples, config.tsne_perplexity,
                                                              config.seed)
            record["evaluation_s"] = time.perf_counter() - clock
            return record, arrays

        point, point_arrays = _stage(checkpoint_dir, name, config, evaluate)
        arrays.update(point_arrays)
        scan["tau"].append(tau)
        scan["time_s"].append(training_records[name]["training_wall_time_s"] + point["evaluation_s"])
        for quantity in scan:
            if quantity in point:
                scan[quantity].append(point[quantity])
        _say(progress, "  I(Z_sem; Y) = {:.3f} ± {:.3f}, I(Z_per; Y) = {:.3f} ± {:.3f} nats; kNN {:.2f} / {:.2f}; "
                       "KL {:.2f} / {:.2f} nats (training + evaluation {:.0f} s)".format(
                           scan["information_semantic"][-1]["value"], scan["information_semantic"][-1]["stderr"],
                           scan["information_perceptual"][-1]["value"], scan["information_perceptual"][-1]["stderr"],
                           scan["knn_accuracy_semantic"][-1], scan["knn_accuracy_perceptual"][-1],
                           scan["kl_semantic"][-1], scan["kl_perceptual"][-1], scan["time_s"][-1]))
    arrays["tau"] = np.asarray(scan["tau"])
    for latent in ("semantic", "perceptual"):
        arrays[f"information_{latent}"] = np.array([e["value"] for e in scan[f"information_{latent}"]])
        arrays[f"information_{latent}_stderr"] = np.array([e["stderr"] for e in scan[f"information_{latent}"]])
        arrays[f"knn_accuracy_{latent}"] = np.asarray(scan[f"knn_accuracy_{latent}"])
        arrays[f"kl_{latent}"] = np.asarray(scan[f"kl_{latent}"])

    counts = np.bincount(y_reference)
    frequencies = counts[counts > 0] / counts.sum()
    wall = time.perf_counter() - start
    artifact = dict(
        name=config.artifact_name, kind="autoencoders", config=asdict(config),
        results=dict(
            comparison=dict(latent_dim=config.comparison_latent_dim, **comparison),
            split=dict(tau=config.tsne_tau_fraction * sde.T, latent_dim=config.split_latent_dim),
            tau_scan=scan,
            label_entropy=float(-np.sum(frequencies * np.log(frequencies))),
            image_shape=list(image_shape), evaluation_images=int(len(x_eval)), reference_images=int(len(x_reference)),
            units="nats",
            information_estimator="MINDE (Eq. 14) of a label-conditional entropy-matching MLP on (z ~ q(z|x), y) "
                                  "pairs of the reference images (kellynotes.estimate_mutual_information)",
            reconstruction="VAE: f(mu(x)); DAE: probability-flow ODE from N(0, I) at s = T to s_min, given mu(x)",
        ),
        training=training_records,
        timings={name: round(value, 2) for name, value in timings.items()},
        provenance=store.provenance(wall),
    )
    return store.save_artifact(results_dir / f"{config.artifact_name}.json", artifact, arrays)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #


def run_from_arguments(args) -> int:
    """``python -m kellynotes run autoencoders``: run from the options of
    :func:`kellynotes.cli.add_run_arguments` and print a summary; returns the exit status."""
    config = AutoencoderConfig.for_dataset(args.dataset)
    if getattr(args, "steps", None) is not None:
        config = config.with_steps(args.steps)
    if args.quick:
        config = config.quick()
    path = run_autoencoders(config, args.results, checkpoint_dir=args.checkpoints, data_root=args.data_root,
                            download=getattr(args, "download", False))
    meta, _ = store.load_artifact(path)
    results = meta["results"]
    print(f"wrote {path} ({meta['provenance']['wall_time_s']} s)")
    for name in ("vae", "dae"):
        report = results["comparison"][name]
        print(f"  {name}: 2-D latents: kNN accuracy {report['knn_accuracy']:.3f} (of the means "
              f"{report['knn_accuracy_of_means']:.3f}), KL {report['kl']:.2f} nats")
    scan = results["tau_scan"]
    for i, tau in enumerate(scan["tau"]):
        sem, per = scan["information_semantic"][i], scan["information_perceptual"][i]
        print(f"  tau = {tau:.2f}: I(Z_sem;Y) = {sem['value']:.3f} ± {sem['stderr']:.3f}, "
              f"I(Z_per;Y) = {per['value']:.3f} ± {per['stderr']:.3f} nats "
              f"(H(Y) = {results['label_entropy']:.3f}); kNN accuracy {scan['knn_accuracy_semantic'][i]:.2f} / "
              f"{scan['knn_accuracy_perceptual'][i]:.2f}")
    return 0
