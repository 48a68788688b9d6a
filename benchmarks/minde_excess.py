"""MINDE's excess over the label ceiling on the 8x8 digits, explained by measurement (issue 16, part 5).

    python benchmarks/minde_excess.py                  # the stored base run + four variants, ~30 min
    python benchmarks/minde_excess.py --variants base channels-32   # retrain the base too; a wider U-Net

For each variant of the digits model (kellynotes.images.fit_image_model; base = the defaults
of `python -m kellynotes run neural-entropy --dataset digits`) it prints, on the 360 held-out
test images: the bounded estimate H(Y) - E[-log q(Y|X)] (q: the model's own posterior), the
loss gap E[L_0 - L_Y], its unconditional excess E[L_0 - L_mix] (loss gap = bounded +
excess, exactly), MINDE on held-out and on training images, and MINDE's integrand per
unit ln s, s*R(s), at s = 1e-3 and 1e-2 (a true label rate is ~0 there: once the class is
decided, what is left is field error). H(Y) = 2.287 nats on these images (log 10 = 2.303).
The first row reads the stored artifact `neural-entropy-digits` (the base model, same code
path and keys), so the base is not trained again unless asked for.
"""

import argparse
import time
from dataclasses import replace

import jax
import numpy as np

from kellynotes import data, entropy, images, results

BASE = images.ImageModelConfig()
VARIANTS = {
    "base": BASE,
    "steps-1000": replace(BASE, fit=replace(BASE.fit, steps=1000)),
    "dropout-0.2": replace(BASE, label_dropout=0.2),  # the default before this study
    "dropout-0.8": replace(BASE, label_dropout=0.8),
    "half-data": BASE,  # trained on the first half of the training images
    "channels-32": replace(BASE, channels=32),
}
INFORMATION = images.LabelInformationConfig(curve_points=0)


def measure(name: str, config: images.ImageModelConfig) -> dict:
    train, test = data.digits("train"), data.digits("test")
    count = train.labels.size // 2 if name == "half-data" else train.labels.size
    key_model, key_fit, key_estimate, _ = jax.random.split(jax.random.key(0), 4)  # the experiment's streams
    start = time.perf_counter()
    model, fitted = images.fit_image_model(key_model, key_fit, train.images[:count], train.labels[:count],
                                           num_classes=10, config=config)
    info = images.measure_label_information(model, test.images, test.labels, key=jax.random.fold_in(key_estimate, 2),
                                            num_classes=10, config=INFORMATION)
    x_train = images.to_vectors(train.images[:360])
    minde_train = entropy.mutual_information_minde(model.entropy_field, model.sde, x_train, train.labels[:360],
                                                   key=jax.random.fold_in(key_estimate, 3), s_min=model.s_min,
                                                   num_samples=INFORMATION.num_samples)
    s_low = np.array([1e-3, 1e-2])
    rate = entropy.mutual_information_rate(model.entropy_field, model.sde, images.to_vectors(test.images),
                                           test.labels, s_low, key=jax.random.fold_in(key_estimate, 4),
                                           samples_per_point=4096)
    return dict(info=info, minde_train=minde_train, floor=s_low * rate.rate, floor_stderr=s_low * rate.stderr,
                final_loss=float(fitted.loss[-1]), seconds=time.perf_counter() - start)


def fmt(estimate) -> str:
    """``value ± stderr`` of an Estimate or of its stored dict."""
    if isinstance(estimate, dict):
        estimate = entropy.Estimate(estimate["value"], estimate["stderr"], estimate["num_samples"])
    return f"{estimate.value:5.2f} ± {estimate.stderr:4.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["dropout-0.2", "dropout-0.8", "steps-1000", "half-data"],
                        choices=list(VARIANTS))
    args = parser.parse_args()
    header = (f"{'variant':12s} {'bounded':>11s} {'acc':>5s} {'loss gap':>11s} {'uncond. excess':>14s} "
              f"{'MINDE':>11s} {'MINDE train':>11s} {'sR(1e-3)':>8s} {'sR(1e-2)':>8s} {'loss':>6s} {'cost s':>6s}")
    print(header)
    print("-" * len(header))
    if results.available("neural-entropy-digits"):
        meta, arrays = results.load("neural-entropy-digits")
        info, r = meta["results"].get("label_information"), meta["results"]
        if info is not None:
            floor = arrays["s"] * arrays["rate_mutual_information"]
            at = np.interp(np.log([1e-3, 1e-2]), np.log(arrays["s"]), floor)
            print(f"{'base*':12s} {fmt(info['bounded'])} {info['accuracy']:5.3f} {fmt(info['loss_gap'])} "
                  f"{fmt(info['unconditional_excess']):>14s} {fmt(info['minde'])} "
                  f"{fmt(r['mutual_information_minde_train_images'])} {at[0]:8.3f} {at[1]:8.3f} "
                  f"{meta['training']['loss'][-1]:6.1f} {'stored':>6s}", flush=True)
    for name in args.variants:
        row = measure(name, VARIANTS[name])
        info = row["info"]
        print(f"{name:12s} {fmt(info.bounded)} {info.accuracy:5.3f} {fmt(info.loss_gap)} "
              f"{fmt(info.unconditional_excess):>14s} {fmt(info.minde)} {fmt(row['minde_train'])} "
              f"{row['floor'][0]:8.3f} {row['floor'][1]:8.3f} {row['final_loss']:6.1f} {row['seconds']:6.0f}",
              flush=True)


if __name__ == "__main__":
    main()
