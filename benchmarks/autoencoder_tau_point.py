"""Cost of one τ point of the split-DAE τ scan (``kellynotes.autoencoders``, Fig. 16).

    .venv/bin/python benchmarks/autoencoder_tau_point.py            # ~3-4 min on 2 CPU cores
    .venv/bin/python benchmarks/autoencoder_tau_point.py --quick    # smoke run (~45 s; ~2 min on busy cores)
    .venv/bin/python benchmarks/autoencoder_tau_point.py --only digits   # or --only mnist

One τ point of ``run_autoencoders`` is: build a ``dae.SplitDiffusionAutoencoder``, train it
(``dae_fit``), then for each of its two latents (semantic, perceptual) draw the latents of the
reference and held-out images, their kNN label accuracies, and one I(Z;Y) estimate
(``entropy.train`` of a label-conditional entropy MLP on the reference pairs (z, y), then MINDE
and the entropy difference on the same pairs from ``information_samples`` draws each); at
τ = ``tsne_tau_fraction`` also a t-SNE of each latent.

Part 1, small scale, measured end to end: the digits preset
(``AutoencoderConfig.for_dataset("digits")``: 8x8 images, 700 steps of batch 128, D_Z = 8
per latent, I(Z;Y) from 1500 steps + 2 x 20_000 samples). The script repeats the body of
the τ loop of ``run_autoencoders`` with the module's own internal functions (``_fit``,
``_latents``, ``_knn_report``, ``_information``, ``_tsne``) and the same keys as the real
run, and times each piece: model construction (cold: the first model of the process, so it
includes JAX's one-time compilation of the eager initialisation ops; in a full run this is
paid once, by the VAE/DAE before the scan), training (compile, steady step time, total),
latents, kNN, each I(Z;Y) estimate, and the t-SNE that only the τ = 0.1 point does.
Excluded: loading the dataset (timed and printed separately) and writing the artifact.
"total" is the sum of the rows above it; "total without t-SNE" is what every other τ point
costs. After the table, the first compiled call of a second split DAE at another τ (same
shapes, loss function and FitConfig) is timed: the scan's split DAEs share one compiled
training step, so only the first τ point pays for compilation.

Part 2, full scale: the "mnist" preset (28x28, U-Net 32 channels x (1, 2, 2) with attention
at 7x7, D_Z = 20, 1500 bfloat16 steps of batch 256, I(Z;Y) on 10_000 reference images with
2000 steps of batch 512 and 2 x 50_000 samples). This CPU cannot train it, so the script
measures, on random 28x28 inputs in [-1, 1]: the construction of the split DAE (cold), the
compile time and steady time per step of ``training.fit`` at the preset's batch size and
dtype (``steps_per_call = 1``: 1 + ``--mnist-steps`` steps; compile = first call minus one
steady step; XLA's FLOP count per step), both encoders' posterior on one batch of 1024
images (``dae.posterior``'s batch; a τ point needs ceil(10000/1024) + ceil(2000/1024) = 12 per encoder), the
kNN accuracy on random latents at the preset's sizes, and one whole I(Z;Y) estimate
(``_information`` with the preset's settings) on synthetic latents (10_000 x 20,
class-dependent means). It then prints the PROJECTED time of one τ point:
1500 x step time + compile + 2 x (12 encoder batches + kNN) + 2 x I(Z;Y). This is a
projection from CPU step times measured here; on a GPU every term is far smaller (for
scale: the cached neural-entropy MNIST run trained a larger U-Net, 32 x (1, 2, 4) channels
with two blocks per level, at about 10k img/s on an H100; this CPU does 10-25 img/s on the
split DAE). Construction is listed but not projected (paid once per process). The I(Z;Y)
time includes compiling the entropy MLP's training step, which later estimates of the same
shapes reuse (compare the two I(Z;Y) rows of Part 1), so 2 x that time is an upper bound.

Tables go to stdout, progress to stderr.
"""

import argparse
import math
import sys
import time
from dataclasses import replace

import jax
import numpy as np

from kellynotes import autoencoders, dae, training
from kellynotes.sde import VPSDE

SDE = VPSDE()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Clock:
    """Rows of (name, seconds, note); ``time(name)`` is a context manager that appends one."""

    def __init__(self):
        self.rows = []

    def add(self, name: str, seconds: float, note: str = "") -> None:
        self.rows.append((name, seconds, note))

    def time(self, name: str, note: str = ""):
        clock = self

        class _Timer:
            def __enter__(self):
                self.start = time.perf_counter()
                log(f"  {name} ...")
                return self

            def __exit__(self, *exc):
                clock.add(name, time.perf_counter() - self.start, note)
                return False

        return _Timer()


def split_configs(config: autoencoders.AutoencoderConfig, image_shape):
    """The encoder and U-Net configurations of the scan's split DAEs, as ``run_autoencoders`` builds them."""
    architectures = autoencoders.model_configs(config, image_shape)
    return architectures.perceptual, architectures.semantic, architectures.unet


def split_loss(config: autoencoders.AutoencoderConfig):
    return autoencoders.loss_functions(config, SDE)["split"]


def fit_timing(record: dict, fit_config: training.FitConfig) -> tuple[float, float]:
    """(compile s, steady s per step) from a ``_fit`` record: the first compiled call runs
    ``steps_per_call`` steps, so compile = first call - that many steady steps."""
    step_s = fit_config.batch_size / record["steady_examples_per_s"]
    first_steps = min(fit_config.steps_per_call, fit_config.steps)
    return record["first_call_s"] - first_steps * step_s, step_s


def first_call_of_another_split_model(config, fit: training.FitConfig, image_shape, x, tau: float) -> float:
    """Seconds until the first compiled call of a new split DAE at another ``tau`` (same shapes,
    loss function and FitConfig as the one just trained) returns; the run is then stopped.
    With the compiled step shared between split models this is the time of the call's steps
    alone; without it, compilation would be added again."""

    class _Stop(Exception):
        pass

    perceptual, semantic, unet = split_configs(config, image_shape)
    model = dae.SplitDiffusionAutoencoder(perceptual, semantic, unet, tau, SDE, key=jax.random.key(11))
    start, stamps = time.perf_counter(), []

    def stop(step, loss):
        stamps.append(time.perf_counter() - start)
        raise _Stop

    try:
        training.fit(split_loss(config), model, {"x": x}, replace(fit, progress=False), key=jax.random.key(12),
                     callback=stop, trainable=dae.trainable(model))
    except _Stop:
        pass
    return stamps[0]


# --------------------------------------------------------------------------- #
# Part 1: one digits τ point, end to end
# --------------------------------------------------------------------------- #


def digits_tau_point(config: autoencoders.AutoencoderConfig, fraction: float) -> None:
    if fraction not in config.tau_fractions:
        raise SystemExit(f"--tau {fraction} is not one of the preset's tau_fractions {config.tau_fractions}")
    index = config.tau_fractions.index(fraction)
    clock = Clock()
    log(f"Part 1: {config.dataset} tau point, tau = {fraction} T")
    start = time.perf_counter()
    images = autoencoders.load_data(config)
    load_s = time.perf_counter() - start
    image_shape, x_train, x_eval, y_eval = images.image_shape, images.x_train, images.x_eval, images.y_eval
    x_reference, y_reference = images.x_reference, images.y_reference
    perceptual, semantic, unet = split_configs(config, image_shape)
    _, key_scan = jax.random.split(jax.random.key(config.seed))
    keys = iter(jax.random.split(jax.random.fold_in(key_scan, index), 6))  # as run_autoencoders

    tau = fraction * SDE.T
    with clock.time("build split DAE", "cold: first model of the process"):
        model = dae.SplitDiffusionAutoencoder(perceptual, semantic, unet, tau, SDE, key=next(keys))
    fit = config.dae_fit
    start = time.perf_counter()
    log(f"  training {fit.steps} steps of batch {fit.batch_size} ...")
    model, record = autoencoders.fit_model(f"split-tau{fraction:g}", split_loss(config), model, x_train, fit,
                                      key=next(keys), checkpoint_dir=None, progress=False)
    train_total = time.perf_counter() - start
    compile_s, step_s = fit_timing(record, fit)
    steady_s = record["wall_time_s"] - record["first_call_s"]
    clock.add("train: setup + FLOP count", train_total - record["wall_time_s"], "before the first step")
    clock.add("train: first call", record["first_call_s"],
              f"compile {compile_s:.1f} s + {min(fit.steps_per_call, fit.steps)} steps")
    clock.add("train: remaining steps", steady_s,
              f"{fit.steps - min(fit.steps_per_call, fit.steps)} steps, {1000 * step_s:.1f} ms/step steady, "
              f"batch {fit.batch_size}")
    other_tau = next(t for t in config.tau_fractions if t != fraction) * SDE.T
    log(f"  first call of a second split DAE (tau = {other_tau:g}) ...")
    second_first_call = first_call_of_another_split_model(config, fit, image_shape, x_train, other_tau)
    results = {}
    for latent, encoder in (("semantic", model.semantic_encoder), ("perceptual", model.perceptual_encoder)):
        with clock.time(f"{latent}: latents", f"{len(x_reference)} reference + {len(x_eval)} held-out images"):
            latents = autoencoders.encode_latents(encoder, x_reference, x_eval, next(keys))
        with clock.time(f"{latent}: kNN accuracies", f"k={config.knn_neighbors}, samples and means"):
            knn = autoencoders.knn_report(latents, y_reference, y_eval, config.knn_neighbors)
        information_config = config.information
        with clock.time(f"{latent}: I(Z;Y) estimate",
                        f"{information_config.steps} steps x {information_config.batch_size}, "
                        f"2 x {config.information_samples} samples"):
            information = autoencoders.label_information(latents.reference_samples, y_reference, config, next(keys))
        results[latent] = (knn, information)
        if fraction == config.tsne_tau_fraction:
            with clock.time(f"{latent}: t-SNE", f"only at tau = {config.tsne_tau_fraction} T"):
                autoencoders.tsne_embedding(latents.held_out_samples, config.tsne_perplexity, config.seed)

    print(f"\nPart 1: one tau point of the {config.dataset} preset, measured end to end "
          f"(tau = {tau:g}, D_Z = {config.split_latent_dim} per latent, {len(x_train)} training images)")
    print(f"{'piece':32s} {'seconds':>8s}  note")
    for name, seconds, note in clock.rows:
        print(f"{name:32s} {seconds:8.2f}  {note}")
    total = sum(seconds for _, seconds, _ in clock.rows)
    tsne = sum(seconds for name, seconds, _ in clock.rows if name.endswith("t-SNE"))
    print(f"{'total':32s} {total:8.2f}  (dataset loading excluded: {load_s:.2f} s)")
    if tsne:
        print(f"{'total without t-SNE':32s} {total - tsne:8.2f}  (any other tau point)")
    first_steps = min(fit.steps_per_call, fit.steps)
    print(f"compile reuse: the first call ({first_steps} steps) of another split DAE (tau = {other_tau:g}) took "
          f"{second_first_call:.2f} s, vs {record['first_call_s']:.2f} s for this one (compile {compile_s:.1f} s + "
          f"{first_steps} steps of {1000 * step_s:.1f} ms); not part of the total")
    for latent, (knn, information) in results.items():
        print(f"  {latent:10s}: I(Z;Y) = {information['value']:.3f} ± {information['stderr']:.3f} nats "
              f"(entropy difference {information['entropy_difference']:.3f}), kNN accuracy {knn['knn_accuracy']:.3f}"
              f" (of means {knn['knn_accuracy_of_means']:.3f}), KL {knn['kl']:.2f} nats")


# --------------------------------------------------------------------------- #
# Part 2: the full-scale preset, measured pieces and a projection
# --------------------------------------------------------------------------- #


def full_scale(config: autoencoders.AutoencoderConfig, steady_steps: int, quick: bool) -> None:
    image_shape = (28, 28, 1)
    dim = math.prod(image_shape)
    rng = np.random.default_rng(0)
    perceptual, semantic, unet = split_configs(config, image_shape)
    fit = config.dae_fit
    log(f"Part 2: {config.dataset} preset, batch {fit.batch_size}, {fit.compute_dtype}")
    start = time.perf_counter()
    model = dae.SplitDiffusionAutoencoder(perceptual, semantic, unet, config.tsne_tau_fraction * SDE.T, SDE,
                                          key=jax.random.key(0))
    build_s = time.perf_counter() - start

    log(f"  training 1 + {steady_steps} steps ...")
    x = rng.uniform(-1.0, 1.0, size=(2048, dim)).astype(np.float32)
    probe_fit = replace(fit, steps=1 + steady_steps, steps_per_call=1, checkpoint_every=1)
    start = time.perf_counter()
    fitted_model, record = autoencoders.fit_model("probe", split_loss(config), model, x, probe_fit, key=jax.random.key(1),
                                             checkpoint_dir=None, progress=False)
    setup_s = time.perf_counter() - start - record["wall_time_s"]
    compile_s, step_s = fit_timing(record, probe_fit)
    gflop = (record["flops_per_step"] or float("nan")) / 1e9

    log("  first call of a second split DAE (another tau) ...")
    second_first_call = first_call_of_another_split_model(config, probe_fit, image_shape, x, 0.5 * SDE.T)

    references, held_out = config.reference_images, config.evaluation_images
    batch = min(1024, references + held_out)
    encoder_batches = -(-references // batch) + -(-held_out // batch)  # dae.posterior pads each call to its batch
    log(f"  encoders on one batch of {batch} ...")
    images = rng.uniform(-1.0, 1.0, size=(batch, dim)).astype(np.float32)
    encoder_rows = []
    for latent, encoder in (("semantic", fitted_model.semantic_encoder),
                            ("perceptual", fitted_model.perceptual_encoder)):
        start = time.perf_counter()
        dae.posterior(encoder, images, batch_size=batch)
        first = time.perf_counter() - start
        start = time.perf_counter()
        dae.posterior(encoder, images, batch_size=batch)
        encoder_rows.append((latent, first, time.perf_counter() - start))

    num_classes, latent_dim = 10, config.split_latent_dim
    labels = rng.integers(0, num_classes, size=references).astype(np.int32)
    centres = rng.standard_normal((num_classes, latent_dim)).astype(np.float32)
    z = centres[labels] + rng.standard_normal((references, latent_dim)).astype(np.float32)
    held_labels = rng.integers(0, num_classes, size=held_out).astype(np.int32)
    z_held = centres[held_labels] + rng.standard_normal((held_out, latent_dim)).astype(np.float32)
    log("  kNN ...")
    start = time.perf_counter()
    latents = autoencoders.Latents(z, z, z_held, z_held, 0.0)
    autoencoders.knn_report(latents, labels, held_labels, config.knn_neighbors)
    knn_s = time.perf_counter() - start
    information_config = config.information
    log(f"  one I(Z;Y) estimate ({information_config.steps} steps, 2 x {config.information_samples} samples) ...")
    start = time.perf_counter()
    information = autoencoders.label_information(z, labels, config, jax.random.key(2))
    information_s = time.perf_counter() - start

    kind = "SMOKE RUN (--quick: a tiny model at 28x28; the numbers mean nothing)" if quick else "measured on this CPU"
    print(f"\nPart 2: the {config.dataset} preset at full scale, {kind}")
    print(f"{'piece':44s} {'seconds':>9s}  note")
    print(f"{'build split DAE (cold, once per process)':44s} {build_s:9.2f}  not in the projection")
    print(f"{'train: setup + FLOP count':44s} {setup_s:9.2f}  before the first step")
    print(f"{'train: compile':44s} {compile_s:9.2f}  first call ({record['first_call_s']:.1f} s) minus one step")
    print(f"{'train: one step (steady)':44s} {step_s:9.2f}  batch {fit.batch_size}, {fit.compute_dtype}, mean of "
          f"{steady_steps}; {gflop:.0f} GFLOP/step = {gflop / step_s:.1f} GFLOP/s")
    print(f"{'train: first call of another split DAE':44s} {second_first_call:9.2f}  tau = {0.5 * SDE.T:g}: "
          f"one step, compile reused (this model's first call took {record['first_call_s']:.1f} s)")
    for latent, first, run in encoder_rows:
        print(f"{f'{latent} encoder: one batch of {batch}':44s} {run:9.3f}  (+{first - run:.2f} s compile); "
              f"{encoder_batches} batches per tau point")
    print(f"{'kNN accuracies (samples and means)':44s} {knn_s:9.2f}  {references} references, {held_out} queries, "
          f"D_Z={latent_dim}")
    print(f"{'one I(Z;Y) estimate':44s} {information_s:9.2f}  {information_config.steps} steps x "
          f"{information_config.batch_size}, width {information_config.width}, 2 x {config.information_samples} "
          f"samples (I = {information['value']:.2f} ± {information['stderr']:.2f} nats on synthetic latents)")
    training_s = fit.steps * step_s
    latents_s = sum(encoder_batches * run for _, _, run in encoder_rows) + sum(first - run for _, first, run in
                                                                              encoder_rows)
    projected = training_s + compile_s + latents_s + 2 * knn_s + 2 * information_s
    print("PROJECTED time of one tau point from the CPU times above (not measured end to end; a GPU is far faster):")
    print(f"  {fit.steps} steps x {step_s:.2f} s = {training_s:,.0f} s, + compile {compile_s:.0f} s, "
          f"+ latents {latents_s:.0f} s, + kNN 2 x {knn_s:.1f} s, + I(Z;Y) 2 x {information_s:.0f} s")
    print(f"  = {projected:,.0f} s = {projected / 3600:.1f} h per tau point on this CPU "
          f"({len(config.tau_fractions)} tau points: {len(config.tau_fractions) * projected / 3600:.1f} h); "
          f"training is {100 * training_s / projected:.0f}% of it")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="the presets' quick() versions (tiny models): checks the script, not the numbers")
    parser.add_argument("--only", choices=("digits", "mnist"), default=None)
    parser.add_argument("--tau", type=float, default=0.1, help="tau / T of the digits tau point (default 0.1)")
    parser.add_argument("--mnist-steps", type=int, default=2,
                        help="steady steps timed after the first (compiling) one at full scale (default 2)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    device = jax.devices()[0]
    print(f"device: {device.platform}: {device.device_kind} x{jax.device_count()}, jax {jax.__version__}")
    if args.only in (None, "digits"):
        config = autoencoders.AutoencoderConfig.for_dataset("digits")
        tau = args.tau
        if args.quick:
            config = config.quick()
            tau = tau if tau in config.tau_fractions else config.tsne_tau_fraction
        digits_tau_point(config, tau)
    if args.only in (None, "mnist"):
        config = autoencoders.AutoencoderConfig.for_dataset("mnist")
        if args.quick:
            config = config.quick()
        full_scale(config, args.mnist_steps, args.quick)
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
