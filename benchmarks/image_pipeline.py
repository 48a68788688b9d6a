"""Image pipeline cost: U-Net training throughput, compile time, estimator and sampler cost.

    .venv/bin/python benchmarks/image_pipeline.py            # ~3-4 min on 2 CPU cores
    .venv/bin/python benchmarks/image_pipeline.py --quick    # smoke run
    PYTHONPATH=. python benchmarks/image_pipeline.py --presets mnist cifar10   # on a GPU

Part 1 (measured now, on this machine's default JAX device): for each preset of
``experiments.NeuralEntropyConfig.for_dataset`` (default: digits; on a GPU add mnist and
cifar10), a U-Net of that size is trained on random images of the right shape with
``training.fit`` for a fixed number of steps. "compile s" is the first compiled call
(trace + compile + its steps) minus the steady time of those steps; "img/s" is steady-state
throughput; "GFLOP/step" is XLA's count for one forward+backward step (cost analysis of the
lowered program) and "TFLOP/s" the achieved rate, with its fraction of the device's dense
peak where the device is in ``store.PEAK_FLOPS``. Then the estimator cost: seconds per
1000 Monte Carlo samples of ``entropy.neural_entropy`` (one network call each) after
compilation, and the probability-flow sampler (adaptive Tsit5, 16 images) with its number
of field evaluations.

Part 2 (read from the cached artifacts in results/): the training throughput, FLOP rate and
peak memory recorded by each stored run, with the device it ran on.
"""

import argparse
import sys
import time
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from kellynotes import entropy, experiments, results, sampling, store, training
from kellynotes.sde import VPSDE
from kellynotes.unet import UNet

SHAPES = {"digits": (8, 8, 1), "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}


def measure(preset: str, steps: int, estimate_samples: int) -> dict:
    config = experiments.NeuralEntropyConfig.for_dataset(preset)
    shape = SHAPES[preset]
    model_config = config.model
    network = UNet(model_config.unet(shape, num_classes=10), key=jax.random.key(0))
    sde = VPSDE()
    rng = np.random.default_rng(0)
    dim = int(np.prod(shape))
    images = rng.uniform(-1, 1, size=(2048, dim)).astype(np.float32)
    labels = rng.integers(0, 10, size=2048).astype(np.int32)
    per_call = max(steps // 4, 1)
    fit_config = replace(model_config.fit, steps=4 * per_call, steps_per_call=per_call, checkpoint_every=per_call,
                         warmup_steps=1, progress=False)

    def loss_fn(model, batch, key):
        return entropy.denoising_loss(model, sde, batch["x"], batch["y"], key, s_min=model_config.s_min, label_dropout=0.2)

    fitted = training.fit(loss_fn, network, {"x": images, "y": labels}, fit_config, key=jax.random.key(1))
    report = store.device_report(fitted, fit_config.compute_dtype)
    steady_step_s = fit_config.batch_size / fitted.steady_examples_per_s
    model = entropy.EntropyModel(fitted.ema_model, sde, model_config.s_min)
    x, y = jnp.asarray(images[:256]), jnp.asarray(labels[:256])

    def estimate():
        value = entropy.neural_entropy(model.entropy_field, sde, x, key=jax.random.key(2), y=y,
                                       num_samples=estimate_samples, s_min=model_config.s_min)
        return value.value

    start = time.perf_counter()
    estimate()
    first = time.perf_counter() - start
    start = time.perf_counter()
    estimate()
    estimate_s = time.perf_counter() - start
    start_noise = jax.random.normal(jax.random.key(3), (16, dim))
    start = time.perf_counter()
    flow = sampling.probability_flow(model.entropy_field, sde, start_noise, y=jnp.arange(16) % 10, s_end=model_config.s_min)
    jax.block_until_ready(flow.x)
    sample_first = time.perf_counter() - start
    start = time.perf_counter()
    flow = sampling.probability_flow(model.entropy_field, sde, start_noise, y=jnp.arange(16) % 10, s_end=model_config.s_min)
    jax.block_until_ready(flow.x)
    sample_s = time.perf_counter() - start
    return dict(preset=preset, batch=fit_config.batch_size, dtype=fit_config.compute_dtype,
                compile_s=fitted.first_call_s - per_call * steady_step_s, img_s=fitted.steady_examples_per_s,
                gflop=(report["flops_per_step"] or float("nan")) / 1e9,
                tflops=(report["achieved_flops_per_s"] or float("nan")) / 1e12, peak=report["peak_flop_fraction"],
                est_per_1k=1000 * estimate_s / estimate_samples, est_compile=first - estimate_s,
                sample_s=sample_s, sample_compile=sample_first - sample_s, evals=int(np.max(np.asarray(flow.num_field_evaluations))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["digits"], choices=sorted(SHAPES))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    steps = 8 if args.quick else 200
    samples = 2048 if args.quick else 20_000
    device = jax.devices()[0]
    print(f"device: {device.platform}: {device.device_kind} x{jax.device_count()}, jax {jax.__version__}")
    print("\nPart 1: measured now")
    print(f"{'preset':14s} {'batch':>5s} {'dtype':>8s} {'compile s':>9s} {'img/s':>9s} {'GFLOP/step':>10s} "
          f"{'TFLOP/s':>8s} {'of peak':>8s} {'est s/1k':>8s} {'est comp':>8s} {'ODE s':>6s} {'ODE comp':>8s} "
          f"{'evals':>5s}")
    for preset in args.presets:
        print(f"  measuring {preset} ...", file=sys.stderr)
        r = measure(preset, steps, samples)
        peak = "-" if r["peak"] is None else f"{100 * r['peak']:.1f}%"
        print(f"{r['preset']:14s} {r['batch']:5d} {r['dtype']:>8s} {r['compile_s']:9.1f} {r['img_s']:9.0f} "
              f"{r['gflop']:10.1f} {r['tflops']:8.3f} {peak:>8s} {r['est_per_1k']:8.3f} {r['est_compile']:8.1f} "
              f"{r['sample_s']:6.2f} {r['sample_compile']:8.1f} {r['evals']:5d}")

    print("\nPart 2: recorded by the cached runs in results/")
    print(f"{'artifact':30s} {'device':24s} {'steps':>6s} {'train s':>8s} {'img/s':>8s} {'TFLOP/s':>8s} "
          f"{'of peak':>8s} {'peak GiB':>8s} {'estimate s':>10s} {'sampling s':>10s}")
    for item in results.CATALOG:
        if not item.name.startswith("neural-entropy") or not results.available(item.name):
            continue
        meta, _ = results.load(item.name)
        t, timings = meta["training"], meta.get("timings", {})
        rate = t.get("achieved_flops_per_s")
        peak = t.get("peak_flop_fraction")
        memory = t.get("peak_memory_bytes")
        steady = t.get("steady_examples_per_s", t.get("examples_per_s", float("nan")))
        print(f"{item.name:30s} {meta['provenance']['device'][:24]:24s} {results.model_settings(meta)['fit']['steps']:6d} "
              f"{timings.get('training_s', float('nan')):8.0f} {steady:8.0f} "
              f"{'-' if rate is None else f'{rate / 1e12:.2f}':>8s} {'-' if peak is None else f'{100 * peak:.1f}%':>8s} "
              f"{'-' if memory is None else f'{memory / 2**30:.1f}':>8s} "
              f"{timings.get('totals_s', float('nan')) + timings.get('rate_curves_s', float('nan')):10.0f} "
              f"{timings.get('sampling_s', float('nan')):10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
