"""The peer diffusion estimator on the benchmark-mi samples: MINDE of PyPI ``diffusion-mi`` (torch).

Runs in its own virtual environment (torch on the CPU; ``diffusion-mi`` imports torchvision)::

    python3.11 -m venv /tmp/dmi
    /tmp/dmi/bin/pip install torch==2.14.1 torchvision==0.29.1 lightning pytorch-lightning \\
        scikit-learn scipy tqdm matplotlib tensorboardX huggingface-hub
    /tmp/dmi/bin/pip install --no-deps diffusion-mi==0.1.0   # its torchaudio pin is never imported
    /tmp/dmi/bin/python benchmarks/benchmark_mi_torch.py [--tasks ID ...]

It reads the samples that ``benchmark_mi_sample.py`` wrote, fits the estimator on the first 80 %
of each task's pairs and estimates on the last 20 % (the pairs are i.i.d., so this is a random
split), and writes ``<task id>.diffusion-mi.json`` beside each sample for ``benchmark_mi.py``.
Settings: the package's own README example (learning rate 1e-4, batch 256, its MLP, EMA,
importance-sampled time, conditional "c" mode), trained for ``--epochs`` epochs of the 8,000
training pairs (default 320, about 10,000 steps: the step count of kellynotes' default). This
script imports nothing from kellynotes.
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from dmi import estimators

SAMPLES = Path(__file__).resolve().parent.parent / "results" / "_scratch" / "benchmark-mi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--epochs", type=int, default=320)
    args = parser.parse_args()
    paths = sorted(SAMPLES.glob("*.npz")) if args.tasks is None else [SAMPLES / f"{t}.npz" for t in args.tasks]
    if not paths or not all(path.exists() for path in paths):
        raise SystemExit(f"samples missing in {SAMPLES}: run benchmarks/benchmark_mi_sample.py first")
    for path in paths:
        out = path.with_suffix(".diffusion-mi.json")
        if out.exists():
            continue
        with np.load(path) as data:
            x, y, truth = data["x"], data["y"], float(data["truth"])
        split = int(0.8 * x.shape[0])
        torch.manual_seed(0)
        start = time.perf_counter()
        estimator = estimators.MINDEEstimator(learning_rate=1e-4, batch_size=256, max_epochs=args.epochs, seed=0)
        estimator.fit(x[:split], y[:split])
        estimate = float(estimator.estimate(x[split:], y[split:]))
        seconds = time.perf_counter() - start
        temporary = out.with_suffix(".tmp")
        temporary.write_text(json.dumps(dict(estimate=estimate, seconds=seconds, epochs=args.epochs,
                                             settings="diffusion-mi 0.1.0 MINDEEstimator, lr 1e-4, batch 256")))
        os.replace(temporary, out)
        print(f"{path.stem:52s} {truth:6.3f} {estimate:7.3f} ({estimate - truth:+.3f}) {seconds:5.0f} s", flush=True)


if __name__ == "__main__":
    main()
