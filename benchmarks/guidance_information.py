"""Mutual information under classifier-free guidance: exact against estimated.

    .venv/bin/python benchmarks/guidance_information.py            # ~8 min on 2 CPU cores
    .venv/bin/python benchmarks/guidance_information.py --quick    # smoke run

For the joint Gaussian (D_X = 25, σ_ε = 1) and each D_Y and guidance weight w: exact
I(X_CFG; Y) from the guided flow, the exact information left at the estimator's time cut,
I(X_smin; Y) - I(X_T; Y), and MINDE from a network trained on exact guided samples (the
paper's recipe for Fig. 8), with its error against the cut value and against the uncut one.
"""

import argparse
import sys
import time

import jax

from kellynotes import entropy, gaussian, guidance
from kellynotes.sde import VPSDE


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one D_Y, two weights, short training")
    args = parser.parse_args()
    sde = VPSDE()
    if args.quick:
        dims, weights, steps, n, samples = (5,), (0.0, 2.0), 500, 10_000, 20_000
    else:
        dims, weights, steps, n, samples = (5, 10, 15), (0.0, 1.0, 2.0, 4.0), 10_000, 100_000, 200_000
    config = entropy.TrainConfig(steps=steps, progress=False)
    print(f"{'D_Y':>3s} {'w':>4s} {'exact I_CFG':>11s} {'I at s_min':>10s} {'MINDE':>16s} "
          f"{'err vs cut':>10s} {'err vs exact':>12s} {'train s':>8s}")
    for d_y in dims:
        g = gaussian.full_rank(jax.random.key(1), dim_x=25, dim_y=d_y, noise_std=1.0)
        for i, w in enumerate(weights):
            print(f"D_Y={d_y} w={w}: training", file=sys.stderr, flush=True)
            law = guidance.guided_gaussian(g, w, sde)
            x, y = law.sample(jax.random.key(10 + i), n)
            start = time.perf_counter()
            run = entropy.train(jax.random.key(20 + i), x, y, config=config)
            seconds = time.perf_counter() - start
            estimate = entropy.mutual_information_minde(run.model.entropy_field, sde, x, y, key=jax.random.key(30 + i),
                                                        s_min=config.s_min, num_samples=samples)
            cut = law.noised_mutual_information(sde, config.s_min) - law.noised_mutual_information(sde, sde.T)
            exact = law.mutual_information()
            print(f"{d_y:3d} {w:4g} {exact:11.2f} {cut:10.2f} {estimate.value:9.2f} ± {estimate.stderr:4.2f} "
                  f"{100 * (estimate.value / cut - 1):+9.1f}% {100 * (estimate.value / exact - 1):+11.1f}% "
                  f"{seconds:8.0f}", flush=True)


if __name__ == "__main__":
    main()
