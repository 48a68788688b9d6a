r"""An Equinox U-Net for the entropy field of images.

Residual blocks with group normalisation, self-attention at the low resolutions, an
embedding of the log-SNR (sinusoidal features and an MLP), and class conditioning
through a learned label embedding with an extra *null* class, so one network is
conditional, unconditional and ready for classifier-free guidance (in the style of
Ho et al., 2020 and Ho & Salimans, 2022). Sizes come from :class:`UNetConfig`: small
for 8×8 digits on a CPU, paper-sized for 28×28 and 32×32 on a GPU.

Like :class:`kellynotes.nets.EntropyMLP`, the network works on one *flattened* example
``x`` of size H·W·C (channel-last order) and outputs the scaled entropy field
$\mathbf u = \sqrt{1-\alpha}\,\mathbf e$ of the same size; its last convolution starts at zero, the
model that stores no information. It is therefore a drop-in replacement wherever an
``EntropyMLP`` is used (:class:`kellynotes.entropy.EntropyModel`, the estimators).
"""

import math
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

__all__ = ["UNet", "UNetConfig"]


@dataclass(frozen=True)
class UNetConfig:
    image_shape: tuple[int, int, int]  # (H, W, C)
    num_classes: int | None = None  # None: unconditional
    channels: int = 32
    channel_multipliers: tuple[int, ...] = (1, 2)
    blocks_per_level: int = 1
    attention_resolutions: tuple[int, ...] = (4,)  # spatial sizes with self-attention
    attention_heads: int = 4
    groups: int = 8

    def __post_init__(self):
        height, width, _ = self.image_shape
        factor = 2 ** (len(self.channel_multipliers) - 1)
        if height % factor or width % factor:
            raise ValueError(f"image_shape {self.image_shape} must be divisible by {factor} "
                             f"for {len(self.channel_multipliers)} resolution levels")
        for multiplier in self.channel_multipliers:
            if (self.channels * multiplier) % self.groups:
                raise ValueError(f"channels x multiplier ({self.channels * multiplier}) must be divisible by "
                                 f"groups ({self.groups})")


def _log_snr_features(log_snr, dim: int):
    half = dim // 2
    frequencies = jnp.exp(-math.log(1000.0) * jnp.arange(half) / half)
    angles = (log_snr / 10.0) * 100.0 * frequencies
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)])


class _ResBlock(eqx.Module):
    norm1: eqx.nn.GroupNorm
    conv1: eqx.nn.Conv2d
    embed: eqx.nn.Linear
    norm2: eqx.nn.GroupNorm
    conv2: eqx.nn.Conv2d
    skip: eqx.nn.Conv2d | None

    def __init__(self, in_ch, out_ch, emb_dim, groups, *, key):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.norm1 = eqx.nn.GroupNorm(groups, in_ch)
        self.conv1 = eqx.nn.Conv2d(in_ch, out_ch, 3, padding=1, key=k1)
        self.embed = eqx.nn.Linear(emb_dim, out_ch, key=k2)
        self.norm2 = eqx.nn.GroupNorm(groups, out_ch)
        self.conv2 = eqx.nn.Conv2d(out_ch, out_ch, 3, padding=1, key=k3)
        self.skip = eqx.nn.Conv2d(in_ch, out_ch, 1, key=k4) if in_ch != out_ch else None

    def __call__(self, x, emb):
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.embed(emb)[:, None, None]
        h = self.conv2(jax.nn.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class _Attention(eqx.Module):
    norm: eqx.nn.GroupNorm
    attention: eqx.nn.MultiheadAttention

    def __init__(self, channels, heads, groups, *, key):
        self.norm = eqx.nn.GroupNorm(groups, channels)
        self.attention = eqx.nn.MultiheadAttention(heads, channels, key=key)

    def __call__(self, x):
        c, h, w = x.shape
        tokens = self.norm(x).reshape(c, h * w).T
        return x + self.attention(tokens, tokens, tokens).T.reshape(c, h, w)


class UNet(eqx.Module):
    """U-Net for the scaled entropy field of one flattened image (see the module docstring)."""

    config: UNetConfig = eqx.field(static=True)
    time_mlp: eqx.nn.MLP
    label_embedding: eqx.nn.Embedding | None
    stem: eqx.nn.Conv2d
    down: list
    middle: list
    up: list
    out_norm: eqx.nn.GroupNorm
    out_conv: eqx.nn.Conv2d

    def __init__(self, config: UNetConfig, *, key: PRNGKeyArray):
        self.config = config
        keys = iter(jax.random.split(key, 64))
        height, _, in_ch = config.image_shape
        base = config.channels
        emb_dim = 4 * base
        self.time_mlp = eqx.nn.MLP(base, emb_dim, emb_dim, 1, activation=jax.nn.silu, key=next(keys))
        self.label_embedding = (None if config.num_classes is None
                                else eqx.nn.Embedding(config.num_classes + 1, emb_dim, key=next(keys)))
        self.stem = eqx.nn.Conv2d(in_ch, base, 3, padding=1, key=next(keys))
        skip_channels, ch, resolution = [base], base, height
        self.down = []
        for level, multiplier in enumerate(config.channel_multipliers):
            for _ in range(config.blocks_per_level):
                block = [_ResBlock(ch, base * multiplier, emb_dim, config.groups, key=next(keys))]
                ch = base * multiplier
                if resolution in config.attention_resolutions:
                    block.append(_Attention(ch, config.attention_heads, config.groups, key=next(keys)))
                self.down.append(block)
                skip_channels.append(ch)
            if level < len(config.channel_multipliers) - 1:
                self.down.append([eqx.nn.Conv2d(ch, ch, 3, stride=2, padding=1, key=next(keys))])
                skip_channels.append(ch)
                resolution //= 2
        self.middle = [_ResBlock(ch, ch, emb_dim, config.groups, key=next(keys)),
                       _Attention(ch, config.attention_heads, config.groups, key=next(keys)),
                       _ResBlock(ch, ch, emb_dim, config.groups, key=next(keys))]
        self.up = []
        for level, multiplier in reversed(list(enumerate(config.channel_multipliers))):
            for _ in range(config.blocks_per_level + 1):
                block = [_ResBlock(ch + skip_channels.pop(), base * multiplier, emb_dim, config.groups,
                                   key=next(keys))]
                ch = base * multiplier
                if resolution in config.attention_resolutions:
                    block.append(_Attention(ch, config.attention_heads, config.groups, key=next(keys)))
                self.up.append(block)
            if level > 0:
                self.up.append([eqx.nn.Conv2d(ch, ch, 3, padding=1, key=next(keys))])  # after 2x upsampling
                resolution *= 2
        self.out_norm = eqx.nn.GroupNorm(config.groups, ch)
        out_conv = eqx.nn.Conv2d(ch, in_ch, 3, padding=1, key=next(keys))
        # Start at u = 0: the model that stores no information.
        self.out_conv = eqx.tree_at(lambda c: (c.weight, c.bias), out_conv,
                                    (jnp.zeros_like(out_conv.weight), jnp.zeros_like(out_conv.bias)))

    @property
    def conditional(self) -> bool:
        return self.label_embedding is not None

    def __call__(
        self,
        x: Float[Array, " D"],
        log_snr: Float[Array, ""],
        y=None,
        use_condition=True,
    ) -> Float[Array, " D"]:
        height, width, channels = self.config.image_shape
        # Compute in the weights' dtype (bfloat16 under mixed precision); the time features
        # are formed in float32 first, since their phases need more than bf16's 8 bits.
        dtype, out_dtype = self.stem.weight.dtype, x.dtype
        h = x.astype(dtype).reshape(height, width, channels).transpose(2, 0, 1)
        features = _log_snr_features(jnp.asarray(log_snr, jnp.float32), self.config.channels)
        emb = self.time_mlp(features.astype(dtype))
        if self.conditional:
            null = self.config.num_classes
            label = null if y is None else jnp.where(jnp.asarray(use_condition), y, null)
            emb = emb + self.label_embedding(jnp.asarray(label, jnp.int32))
        h = self.stem(h)
        skips = [h]
        for block in self.down:
            if isinstance(block[0], eqx.nn.Conv2d):
                h = block[0](h)
            else:
                h = block[0](h, emb)
                for layer in block[1:]:
                    h = layer(h)
            skips.append(h)
        h = self.middle[2](self.middle[1](self.middle[0](h, emb)), emb)
        for block in self.up:
            if isinstance(block[0], eqx.nn.Conv2d):
                c, hh, ww = h.shape
                h = block[0](jax.image.resize(h, (c, 2 * hh, 2 * ww), "nearest"))
            else:
                h = block[0](jnp.concatenate([h, skips.pop()]), emb)
                for layer in block[1:]:
                    h = layer(h)
        h = self.out_conv(jax.nn.silu(self.out_norm(h)))
        return h.transpose(1, 2, 0).reshape(-1).astype(out_dtype)
