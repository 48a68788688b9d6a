r"""Autoencoders with Gaussian and diffusion decoders (App. F of the paper), as pure functions.

All models work on *flattened* images ``x`` of size D = H·W·C (channel-last, like
:class:`kellynotes.unet.UNet`); call a module on one example and ``jax.vmap`` it over a
batch (the losses below do that). Everything is in **nats**.

* **Encoder** (Eq. 68): $q_\phi(\mathbf z\mid\mathbf x) = \mathcal N(\boldsymbol\mu_\phi(\mathbf x),
  \mathrm{diag}\,\boldsymbol\sigma^2_\phi(\mathbf x))$, a small convolutional network
  (:class:`GaussianEncoder`) returning the mean and the log-variance. Latents are drawn
  with the reparameterisation $\mathbf z = \boldsymbol\mu + \boldsymbol\sigma\odot\boldsymbol\varepsilon$
  from an explicit key. The prior is $p(\mathbf z) = \mathcal N(0, I)$ and
  $D_{\rm KL}(q\,\|\,p) = \tfrac12\sum_i(\sigma_i^2 + \mu_i^2 - 1 - \log\sigma_i^2)$
  (:func:`kl_to_standard_normal`).
* **VAE** (Eqs. 66 and 70): a Gaussian decoder
  $p_\psi(\mathbf x\mid\mathbf z) = \mathcal N(f_\psi(\mathbf z), \sigma_{\rm dec}^2 I)$
  with a fixed $\sigma_{\rm dec}$; :func:`vae_loss` is
  $\mathbb E_q[-\log p_\psi(\mathbf x\mid\mathbf z)] + \gamma\,D_{\rm KL}$ (the negative ELBO at $\gamma = 1$).
* **Diffusion autoencoder** (Eqs. 66 and 67): the decoder is the entropy-matching
  network $\mathbf e_\theta(\tilde{\mathbf x}_s, s;\mathbf z)$ (:class:`LatentConditionedUNet`), and the
  reconstruction term is the denoising entropy-matching loss given $\mathbf z$,
  $\mathcal L^{\mathbf X\mid\mathbf Z}_{\rm DEM}$, an upper bound on $\mathbb E[-\log p_\theta(\mathbf x\mid\mathbf z)]$
  up to a constant (:func:`dae_loss`, computed by :func:`kellynotes.entropy.denoising_loss`).
* **Split DAE** (Eq. 74): a perceptual latent $\mathbf z_{\rm per}$ conditions the loss for
  $s\in(0,\tau)$ and a semantic latent $\mathbf z_{\rm sem}$ for $s\in[\tau, T]$, each from its
  own encoder (the semantic one downsamples more and pools globally: a larger receptive
  field). :class:`SplitLatentDecoder` does the switching inside the network call, from
  the log-SNR it is given ($s < \tau \iff \lambda(s) > \lambda(\tau)$), so the split model is an
  ordinary entropy network with the condition $[\mathbf z_{\rm per}, \mathbf z_{\rm sem}]$ and works with
  the estimators and the samplers unchanged (:func:`split_dae_loss`).
"""

import math
from dataclasses import dataclass, replace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from . import entropy, sampling
from .sde import VPSDE
from .unet import UNet, UNetConfig

__all__ = [
    "MEAN_INIT_GAIN",
    "DiffusionAutoencoder",
    "EncoderConfig",
    "GaussianDecoder",
    "GaussianDecoderConfig",
    "GaussianEncoder",
    "LatentConditionedUNet",
    "MEAN_INIT_GAIN",
    "SplitDiffusionAutoencoder",
    "SplitLatentDecoder",
    "VAE",
    "dae_loss",
    "dae_reconstruct",
    "encode",
    "gaussian_nll",
    "kl_to_standard_normal",
    "posterior",
    "posterior_means",
    "reparameterize",
    "split_dae_loss",
    "trainable",
    "vae_loss",
    "vae_reconstruct",
]


def _check_batch(x, dim: int, name: str = "x") -> None:
    if jnp.ndim(x) != 2 or jnp.shape(x)[1] != dim:
        raise ValueError(f"{name} must have shape (batch, {dim}) (flattened images), got shape {jnp.shape(x)}")


def _check_example(x, dim: int, name: str) -> None:
    if jnp.shape(x) != (dim,):
        raise ValueError(f"{name} must have shape ({dim},) for one example (vmap over a batch), "
                         f"got shape {jnp.shape(x)}")


#: The gain of the encoder mean's output layer at initialisation (see :class:`GaussianEncoder`).
MEAN_INIT_GAIN = 10.0

# --------------------------------------------------------------------------- #
# The Gaussian encoder q_phi(z | x) and the KL term
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class EncoderConfig:
    """A convolutional Gaussian encoder: a 3×3 stem, ``downsamples`` stride-2 3×3 convolutions
    (channels doubling), one more 3×3 convolution, then either a flatten (local features
    kept in place) or a global mean pool (``global_pool``: position-free features, the
    largest receptive field), a layer normalisation, and an MLP head with one hidden layer
    to the mean and log-variance of ``latent_dim`` coordinates.

    Initialisation matters for a diffusion decoder, which can model the data without the
    latent and learns to use it only if it already varies from image to image: the
    normalisation and a gain of :data:`MEAN_INIT_GAIN` on the mean outputs give untrained
    means a spread of order one over the 8×8 digits (about 0.002 without either), and the
    log-variances start at ``initial_log_variance``, so the reparameterisation noise does
    not drown that spread. (Measured on the digits: with the default initialisation a DAE's
    latents were unused after 600 steps, KL ≈ 0.05 nats; with this one, used.)"""

    image_shape: tuple[int, int, int]  # (H, W, C)
    latent_dim: int
    channels: int = 16
    downsamples: int = 1
    global_pool: bool = False
    hidden: int = 128
    initial_log_variance: float = -2.0  # log sigma^2 of the untrained encoder (sigma ~ 0.37)

    def __post_init__(self):
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"EncoderConfig.image_shape must be (H, W, C) with positive sizes, got {self.image_shape}")
        for name in ("latent_dim", "channels", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"EncoderConfig.{name} must be positive, got {getattr(self, name)}")
        if self.downsamples < 0:
            raise ValueError(f"EncoderConfig.downsamples must be >= 0, got {self.downsamples}")
        if not math.isfinite(self.initial_log_variance):
            raise ValueError(f"EncoderConfig.initial_log_variance must be finite, got {self.initial_log_variance}")

    @property
    def input_dim(self) -> int:
        return math.prod(self.image_shape)


class GaussianEncoder(eqx.Module):
    r"""$\mathbf x\mapsto(\boldsymbol\mu_\phi(\mathbf x), \log\boldsymbol\sigma^2_\phi(\mathbf x))$
    for one flattened image (Eq. 68)."""

    config: EncoderConfig = eqx.field(static=True)
    convs: list
    norm: eqx.nn.LayerNorm
    head: eqx.nn.MLP

    def __init__(self, config: EncoderConfig, *, key: PRNGKeyArray):
        self.config = config
        height, width, in_channels = config.image_shape
        keys = iter(jax.random.split(key, config.downsamples + 3))
        channels = config.channels
        convs = [eqx.nn.Conv2d(in_channels, channels, 3, padding=1, key=next(keys))]
        for _ in range(config.downsamples):
            convs.append(eqx.nn.Conv2d(channels, 2 * channels, 3, stride=2, padding=1, key=next(keys)))
            channels *= 2
            height, width = -(-height // 2), -(-width // 2)  # ceil: 3x3, stride 2, padding 1
        convs.append(eqx.nn.Conv2d(channels, channels, 3, padding=1, key=next(keys)))
        self.convs = convs
        features = channels if config.global_pool else channels * height * width
        self.norm = eqx.nn.LayerNorm(features)
        head = eqx.nn.MLP(features, 2 * config.latent_dim, config.hidden, 1, activation=jax.nn.silu, key=next(keys))
        last = head.layers[-1]
        weight = last.weight.at[: config.latent_dim].multiply(MEAN_INIT_GAIN)
        bias = last.bias.at[config.latent_dim:].set(config.initial_log_variance)
        self.head = eqx.tree_at(lambda h: (h.layers[-1].weight, h.layers[-1].bias), head, (weight, bias))

    def __call__(self, x: Float[Array, " D"]) -> tuple[Float[Array, " D_Z"], Float[Array, " D_Z"]]:
        _check_example(x, self.config.input_dim, "the encoder's input x")
        height, width, channels = self.config.image_shape
        h = x.reshape(height, width, channels).transpose(2, 0, 1)
        for conv in self.convs:
            h = jax.nn.silu(conv(h))
        h = jnp.mean(h, axis=(1, 2)) if self.config.global_pool else h.reshape(-1)
        out = self.head(self.norm(h))
        return out[: self.config.latent_dim], out[self.config.latent_dim:]


def encode(encoder: GaussianEncoder, x: Float[Array, "B D"]) -> tuple[Float[Array, "B D_Z"], Float[Array, "B D_Z"]]:
    """Means and log-variances of $q_\\phi(\\mathbf z\\mid\\mathbf x)$ for a batch."""
    _check_batch(x, encoder.config.input_dim)
    return jax.vmap(encoder)(x)


def reparameterize(mean: Float[Array, "*B D_Z"], log_var: Float[Array, "*B D_Z"],
                   key: PRNGKeyArray) -> Float[Array, "*B D_Z"]:
    r"""$\mathbf z = \boldsymbol\mu + e^{\log\boldsymbol\sigma^2/2}\odot\boldsymbol\varepsilon$,
    $\boldsymbol\varepsilon\sim\mathcal N(0, I)$ from ``key``."""
    if jnp.shape(mean) != jnp.shape(log_var):
        raise ValueError(f"mean and log_var must have the same shape, got {jnp.shape(mean)} and {jnp.shape(log_var)}")
    noise = jax.random.normal(key, jnp.shape(mean), jnp.result_type(mean))
    return mean + jnp.exp(0.5 * log_var) * noise


def kl_to_standard_normal(mean: Float[Array, "*B D_Z"], log_var: Float[Array, "*B D_Z"]) -> Float[Array, "*B"]:
    r"""$D_{\rm KL}\big(\mathcal N(\boldsymbol\mu, \mathrm{diag}\,\boldsymbol\sigma^2)\,\|\,\mathcal N(0, I)\big)
    = \tfrac12\sum_i\big(\sigma_i^2 + \mu_i^2 - 1 - \log\sigma_i^2\big)$ in nats, summed over the last axis."""
    if jnp.shape(mean) != jnp.shape(log_var) or jnp.ndim(mean) < 1:
        raise ValueError(f"mean and log_var must have the same shape (..., D_Z), got {jnp.shape(mean)} and "
                         f"{jnp.shape(log_var)}")
    return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


# --------------------------------------------------------------------------- #
# VAE: the Gaussian decoder of Eq. (70)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class GaussianDecoderConfig:
    r"""$f_\psi$: an MLP from $\mathbf z$ to the mean image (``depth`` hidden layers of ``width``);
    ``sigma`` is the fixed standard deviation $\sigma_{\rm dec}$ of Eq. (70), in data units."""

    width: int = 256
    depth: int = 2
    sigma: float = 0.2

    def __post_init__(self):
        if self.width < 1 or self.depth < 1:
            raise ValueError(f"GaussianDecoderConfig width and depth must be positive, got {self.width}, {self.depth}")
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"GaussianDecoderConfig.sigma must be positive, got {self.sigma}")


class GaussianDecoder(eqx.Module):
    r"""The mean $f_\psi(\mathbf z)$ of
    $p_\psi(\mathbf x\mid\mathbf z) = \mathcal N(f_\psi(\mathbf z), \sigma_{\rm dec}^2 I)$."""

    mlp: eqx.nn.MLP
    latent_dim: int = eqx.field(static=True)
    sigma: float = eqx.field(static=True)

    def __init__(self, latent_dim: int, output_dim: int, config: GaussianDecoderConfig, *, key: PRNGKeyArray):
        self.mlp = eqx.nn.MLP(latent_dim, output_dim, config.width, config.depth, activation=jax.nn.silu, key=key)
        self.latent_dim = latent_dim
        self.sigma = config.sigma

    def __call__(self, z: Float[Array, " D_Z"]) -> Float[Array, " D"]:
        _check_example(z, self.latent_dim, "the latent z")
        return self.mlp(z)


def gaussian_nll(x: Float[Array, "*B D"], mean: Float[Array, "*B D"], sigma: float) -> Float[Array, "*B"]:
    r"""$-\log\mathcal N(\mathbf x; \mathbf m, \sigma^2 I) =
    \frac{\|\mathbf x - \mathbf m\|^2}{2\sigma^2} + \frac D2\log(2\pi\sigma^2)$, nats."""
    if jnp.shape(x) != jnp.shape(mean):
        raise ValueError(f"x and mean must have the same shape, got {jnp.shape(x)} and {jnp.shape(mean)}")
    dim = jnp.shape(x)[-1]
    return 0.5 * jnp.sum((x - mean) ** 2, axis=-1) / sigma**2 + 0.5 * dim * math.log(2 * math.pi * sigma**2)


class VAE(eqx.Module):
    """Gaussian encoder and Gaussian decoder (the baseline of App. F.2)."""

    encoder: GaussianEncoder
    decoder: GaussianDecoder

    def __init__(self, encoder: EncoderConfig, decoder: GaussianDecoderConfig, *, key: PRNGKeyArray):
        key_encoder, key_decoder = jax.random.split(key)
        self.encoder = GaussianEncoder(encoder, key=key_encoder)
        self.decoder = GaussianDecoder(encoder.latent_dim, encoder.input_dim, decoder, key=key_decoder)


def vae_loss(model: VAE, x: Float[Array, "B D"], key: PRNGKeyArray, *, gamma: float = 1.0) -> Float[Array, ""]:
    r"""Eq. (66) with the Gaussian decoder of Eq. (70), averaged over the batch (nats per image):
    $\mathbb E_{q_\phi(\mathbf z\mid\mathbf x)}[-\log p_\psi(\mathbf x\mid\mathbf z)] +
    \gamma\,D_{\rm KL}(q_\phi(\mathbf z\mid\mathbf x)\,\|\,p(\mathbf z))$,
    with one reparameterised latent per image."""
    mean, log_var = encode(model.encoder, x)
    z = reparameterize(mean, log_var, key)
    reconstruction = gaussian_nll(x, jax.vmap(model.decoder)(z), model.decoder.sigma)
    return jnp.mean(reconstruction + gamma * kl_to_standard_normal(mean, log_var))


# --------------------------------------------------------------------------- #
# Diffusion decoders: the U-Net conditioned on a continuous latent
# --------------------------------------------------------------------------- #


class LatentConditionedUNet(eqx.Module):
    r"""$\mathbf u_\theta(\tilde{\mathbf x}_s, \lambda;\mathbf z) =
    \sqrt{1-\alpha}\,\mathbf e_\theta(\tilde{\mathbf x}_s, s;\mathbf z)$:
    a :class:`~kellynotes.unet.UNet` conditioned on a continuous latent $\mathbf z\in\mathbb R^{D_Z}$.

    The U-Net adds a label embedding to its time embedding; here that embedding is computed
    from $\mathbf z$ by an MLP (initialised at the scale of the label embeddings) instead of
    looked up: the U-Net is built with one class, and at
    each call row 0 of its embedding table is replaced by ``projection(z)``. Row 1, the
    U-Net's learned *null* class, stays the "no condition" input, so ``z=None`` or
    ``use_condition=False`` give the unconditional field, exactly as for class labels.
    The call signature is that of :class:`~kellynotes.nets.EntropyMLP` and ``UNet``, so this
    is a drop-in network for :func:`kellynotes.entropy.denoising_loss`,
    :class:`kellynotes.entropy.EntropyModel` and the samplers (with ``y = z``).
    """

    unet: UNet
    projection: eqx.nn.MLP
    latent_dim: int = eqx.field(static=True)

    def __init__(self, config: UNetConfig, latent_dim: int, *, key: PRNGKeyArray):
        if config.num_classes is not None:
            raise ValueError(f"the latent is the condition: build the UNetConfig with num_classes=None, "
                             f"got num_classes={config.num_classes}")
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        key_unet, key_projection = jax.random.split(key)
        self.unet = UNet(replace(config, num_classes=1), key=key_unet)
        embedding_dim = self.unet.label_embedding.weight.shape[1]
        key_projection, key_calibration = jax.random.split(key_projection)
        projection = eqx.nn.MLP(latent_dim, embedding_dim, embedding_dim, 1, activation=jax.nn.silu,
                                key=key_projection)
        # Calibrate to the scale of the U-Net's label embeddings (N(0, 1) entries): for prior
        # draws z ~ N(0, I) the embedding's entries vary with unit standard deviation, so
        # different latents start as distinct as different classes would.
        spread = jnp.mean(jnp.std(jax.vmap(projection)(jax.random.normal(key_calibration, (1024, latent_dim))),
                                  axis=0))
        self.projection = eqx.tree_at(lambda p: p.layers[-1].weight, projection, projection.layers[-1].weight / spread)
        self.latent_dim = latent_dim

    @property
    def image_dim(self) -> int:
        return math.prod(self.unet.config.image_shape)

    def __call__(self, x: Float[Array, " D"], log_snr: Float[Array, ""], z: Float[Array, " D_Z"] | None = None,
                 use_condition=True) -> Float[Array, " D"]:
        _check_example(x, self.image_dim, "the decoder's input x")
        if z is None:
            return self.unet(x, log_snr, None)
        _check_example(z, self.latent_dim, "the latent z")
        table = self.unet.label_embedding.weight
        table = table.at[0].set(self.projection(z.astype(table.dtype)))
        unet = eqx.tree_at(lambda u: u.label_embedding.weight, self.unet, table)
        return unet(x, log_snr, 0, use_condition)


class SplitLatentDecoder(eqx.Module):
    r"""The split condition of Eq. (74) inside one network: the condition is
    $\mathbf y = [\mathbf z_{\rm per}, \mathbf z_{\rm sem}]$ (size $2D_Z$) and the wrapped
    :class:`LatentConditionedUNet` sees $\mathbf z_{\rm per}$ where $s < \tau$ and $\mathbf z_{\rm sem}$
    where $s \geq \tau$. The switch reads the log-SNR the network is called with
    ($\lambda$ decreases with $s$, so $s < \tau \iff \lambda > \lambda(\tau)$).

    $\tau$ and $\lambda(\tau)$ are stored as (float32, scalar) arrays, not as static fields, so split
    models that differ only in $\tau$ share one compiled training step; they are fixed, not
    trained: train with ``trainable=dae.trainable(model)``."""

    network: LatentConditionedUNet
    tau: Float[Array, ""]
    log_snr_tau: Float[Array, ""]

    def __init__(self, network: LatentConditionedUNet, tau: float, sde: VPSDE):
        if not 0.0 < tau < sde.T:
            raise ValueError(f"tau must lie in (0, T={sde.T}), got {tau}")
        self.network = network
        self.tau = jnp.asarray(tau, jnp.float32)
        self.log_snr_tau = sde.log_snr(jnp.float32(tau))

    @property
    def latent_dim(self) -> int:
        return self.network.latent_dim

    def __call__(self, x: Float[Array, " D"], log_snr: Float[Array, ""], y: Float[Array, " 2*D_Z"] | None = None,
                 use_condition=True) -> Float[Array, " D"]:
        if y is None:
            return self.network(x, log_snr, None)
        _check_example(y, 2 * self.latent_dim, "the split condition [z_per, z_sem]")
        z_per, z_sem = y[: self.latent_dim], y[self.latent_dim:]
        z = jnp.where(log_snr > self.log_snr_tau, z_per, z_sem)
        return self.network(x, log_snr, z, use_condition)


class DiffusionAutoencoder(eqx.Module):
    """A Gaussian encoder and a latent-conditioned entropy-matching decoder (App. F.1)."""

    encoder: GaussianEncoder
    decoder: LatentConditionedUNet

    def __init__(self, encoder: EncoderConfig, decoder: UNetConfig, *, key: PRNGKeyArray):
        _check_same_image(encoder, decoder)
        key_encoder, key_decoder = jax.random.split(key)
        self.encoder = GaussianEncoder(encoder, key=key_encoder)
        self.decoder = LatentConditionedUNet(decoder, encoder.latent_dim, key=key_decoder)


class SplitDiffusionAutoencoder(eqx.Module):
    """Two Gaussian encoders (perceptual and semantic, with the same ``latent_dim``) and one
    diffusion decoder that switches between their latents at ``tau`` (App. F.3, Eq. 74)."""

    perceptual_encoder: GaussianEncoder
    semantic_encoder: GaussianEncoder
    decoder: SplitLatentDecoder

    def __init__(self, perceptual: EncoderConfig, semantic: EncoderConfig, decoder: UNetConfig, tau: float,
                 sde: VPSDE, *, key: PRNGKeyArray):
        if perceptual.latent_dim != semantic.latent_dim or perceptual.image_shape != semantic.image_shape:
            raise ValueError(f"the two encoders must share image_shape and latent_dim, got "
                             f"{perceptual.image_shape}/{perceptual.latent_dim} and "
                             f"{semantic.image_shape}/{semantic.latent_dim}")
        _check_same_image(perceptual, decoder)
        key_per, key_sem, key_decoder = jax.random.split(key, 3)
        self.perceptual_encoder = GaussianEncoder(perceptual, key=key_per)
        self.semantic_encoder = GaussianEncoder(semantic, key=key_sem)
        network = LatentConditionedUNet(decoder, perceptual.latent_dim, key=key_decoder)
        self.decoder = SplitLatentDecoder(network, tau, sde)


def trainable(model: eqx.Module):
    """The Equinox filter spec of the weights to train in ``model`` (for
    :func:`kellynotes.training.fit`): every floating array except the split times
    (``tau``, ``log_snr_tau``) of any :class:`SplitLatentDecoder` inside it."""
    spec = jax.tree.map(eqx.is_inexact_array, model)
    is_split = lambda node: isinstance(node, SplitLatentDecoder)  # noqa: E731

    def split_times(tree):
        return [leaf for node in jax.tree.leaves(tree, is_leaf=is_split) if is_split(node)
                for leaf in (node.tau, node.log_snr_tau)]

    fixed = split_times(spec)
    return eqx.tree_at(split_times, spec, replace=[False] * len(fixed)) if fixed else spec


def _check_same_image(encoder: EncoderConfig, decoder: UNetConfig) -> None:
    if tuple(encoder.image_shape) != tuple(decoder.image_shape):
        raise ValueError(f"encoder and decoder must share image_shape, got {encoder.image_shape} and "
                         f"{decoder.image_shape}")


# --------------------------------------------------------------------------- #
# DAE losses (Eqs. 66, 67, 74)
# --------------------------------------------------------------------------- #


def dae_loss(model: DiffusionAutoencoder, sde: VPSDE, x: Float[Array, "B D"], key: PRNGKeyArray, *,
             s_min: float, gamma: float = 1.0) -> Float[Array, ""]:
    r"""Eq. (66) with the reconstruction term replaced by its bound, Eq. (67), nats per image:
    $\mathcal L^{\mathbf X\mid\mathbf Z}_{\rm DEM} +
    \gamma\,D_{\rm KL}(q_\phi(\mathbf z\mid\mathbf x)\,\|\,p(\mathbf z))$,
    with one reparameterised latent and one $(s, \tilde{\mathbf x}_s)$ per image, $s$ drawn
    uniformly in log-SNR on $[s_{\min}, T]$ (:func:`kellynotes.entropy.denoising_loss`)."""
    key_latent, key_denoise = jax.random.split(key)
    mean, log_var = encode(model.encoder, x)
    z = reparameterize(mean, log_var, key_latent)
    denoising = entropy.denoising_loss(model.decoder, sde, x, z, key_denoise, s_min=s_min)
    return denoising + gamma * jnp.mean(kl_to_standard_normal(mean, log_var))


def split_dae_loss(model: SplitDiffusionAutoencoder, sde: VPSDE, x: Float[Array, "B D"], key: PRNGKeyArray, *,
                   s_min: float, gamma: float = 1.0) -> Float[Array, ""]:
    r"""$\mathcal L^{\rm split}_{\rm DEM}$ of Eq. (74) plus $\gamma$ times both KL terms, nats per image:
    $\int_{s_{\min}}^\tau ds\,\mathbb E_{\mathbf z_{\rm per}}[L(\mathbf z_{\rm per}; s)] +
    \int_\tau^T ds\,\mathbb E_{\mathbf z_{\rm sem}}[L(\mathbf z_{\rm sem}; s)]
    + \gamma\,(D_{\rm KL}^{\rm per} + D_{\rm KL}^{\rm sem})$.

    One noise draw $\boldsymbol\varepsilon$ reparameterises both latents. Each term of Eq. (74)
    depends on one latent only, so this leaves the expectation unchanged, and it makes the
    split reduce *exactly* to :func:`dae_loss` when the two encoders are the same (same key:
    same latents, same $s$, same noise)."""
    _check_batch(x, model.perceptual_encoder.config.input_dim)
    key_latent, key_denoise = jax.random.split(key)
    mean_per, log_var_per = encode(model.perceptual_encoder, x)
    mean_sem, log_var_sem = encode(model.semantic_encoder, x)
    noise = jax.random.normal(key_latent, mean_per.shape, jnp.result_type(mean_per))
    z_per = mean_per + jnp.exp(0.5 * log_var_per) * noise
    z_sem = mean_sem + jnp.exp(0.5 * log_var_sem) * noise
    condition = jnp.concatenate([z_per, z_sem], axis=-1)
    denoising = entropy.denoising_loss(model.decoder, sde, x, condition, key_denoise, s_min=s_min)
    kl = kl_to_standard_normal(mean_per, log_var_per) + kl_to_standard_normal(mean_sem, log_var_sem)
    return denoising + gamma * jnp.mean(kl)


# --------------------------------------------------------------------------- #
# Using trained models: latents and reconstructions
# --------------------------------------------------------------------------- #


@eqx.filter_jit
def _moments(encoder, x):
    return jax.vmap(encoder)(x)


def posterior(encoder: GaussianEncoder, x, *, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    r"""Means $\boldsymbol\mu_\phi(\mathbf x)$ and log-variances $\log\boldsymbol\sigma^2_\phi(\mathbf x)$ for many
    images (N, D), each (N, D_Z), computed in compiled batches; the encoder enters the
    compiled function as an argument (never as constants)."""
    x = np.asarray(x, np.float32)
    _check_batch(x, encoder.config.input_dim)
    if len(x) == 0:
        empty = np.zeros((0, encoder.config.latent_dim), np.float32)
        return empty, empty
    n, batch_size = len(x), min(batch_size, len(x))
    padded = np.concatenate([x, np.zeros((-n % batch_size, x.shape[1]), np.float32)])  # one compiled shape
    parts = [_moments(encoder, jnp.asarray(padded[i: i + batch_size])) for i in range(0, n, batch_size)]
    return tuple(np.concatenate([np.asarray(part[j]) for part in parts])[:n] for j in (0, 1))


def posterior_means(encoder: GaussianEncoder, x, *, batch_size: int = 1024) -> np.ndarray:
    r"""$\boldsymbol\mu_\phi(\mathbf x)$ for many images: (N, D) -> (N, D_Z) (see :func:`posterior`)."""
    return posterior(encoder, x, batch_size=batch_size)[0]


@eqx.filter_jit
def _vae_decode_means(model, x):
    return jax.vmap(model.decoder)(jax.vmap(model.encoder)(x)[0])


def vae_reconstruct(model: VAE, x: Float[Array, "N D"]) -> Float[Array, "N D"]:
    r"""$f_\psi(\boldsymbol\mu_\phi(\mathbf x))$: the decoder mean at the posterior mean (what a
    Gaussian decoder reconstructs)."""
    _check_batch(x, model.encoder.config.input_dim)
    return _vae_decode_means(model, jnp.asarray(x, jnp.float32))


def dae_reconstruct(decoder: LatentConditionedUNet | SplitLatentDecoder, sde: VPSDE, condition, key: PRNGKeyArray,
                    *, s_min: float, solver: str = "tsit5", num_steps: int | None = None) -> Float[Array, "N D"]:
    r"""Decode latents with the diffusion decoder: integrate the probability-flow ODE (Eq. 65,
    :func:`kellynotes.sampling.probability_flow`) from $\mathbf x_T\sim\mathcal N(0, I)$ drawn with ``key``
    down to ``s_min``, with the field $\mathbf e_\theta(\cdot, s;\mathbf z)$ conditioned on ``condition``
    ((N, D_Z) latents, or (N, 2 D_Z) ``[z_per, z_sem]`` for a :class:`SplitLatentDecoder`).
    ``solver`` and ``num_steps`` are those of :func:`~kellynotes.sampling.probability_flow`
    (default: adaptive Tsit5)."""
    condition = jnp.asarray(condition, jnp.float32)
    width = decoder.latent_dim * (2 if isinstance(decoder, SplitLatentDecoder) else 1)
    _check_batch(condition, width, "condition")
    image_dim = (decoder.network if isinstance(decoder, SplitLatentDecoder) else decoder).image_dim
    noise = jax.random.normal(key, (condition.shape[0], image_dim))
    field = entropy.EntropyModel(decoder, sde, s_min).entropy_field
    return sampling.probability_flow(field, sde, noise, y=condition, s_end=s_min, solver=solver,
                                     num_steps=num_steps).x
