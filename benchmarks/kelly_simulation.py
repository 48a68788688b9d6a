"""Kelly simulations: speed, and agreement with the exact doubling rates.

    .venv/bin/python benchmarks/kelly_simulation.py

Prints one row per (strategy, size): exact rate, simulated rate, |z| (the gap in
standard errors: values above ~3 would point at a bug) and rounds simulated per second.
"""

import time

import jax
import numpy as np

from kellynotes import kelly

P = np.array([0.35, 0.25, 0.15, 0.10, 0.10, 0.05])


def main():
    channel = kelly.symmetric_channel(6, 0.3)
    strategies = {
        "Kelly": (P, None),
        "half Kelly": (0.5 * P, None),
        "wrong model": (P[::-1], None),
        "Kelly + side info": (kelly.posterior(P, channel), channel),
    }
    print(f"{'strategy':18s} {'paths x rounds':>15s} {'exact':>9s} {'simulated':>10s} {'s.e.':>8s} "
          f"{'|z|':>5s} {'rounds/s':>10s}")
    for paths, rounds in [(100, 1_000), (200, 20_000), (1_000, 20_000)]:
        for name, (bets, ch) in strategies.items():
            kelly.simulate_wealth(jax.random.key(0), P, bets, rounds=rounds, paths=paths, channel=ch)  # compile
            start = time.perf_counter()
            run = kelly.simulate_wealth(jax.random.key(1), P, bets, rounds=rounds, paths=paths, channel=ch)
            elapsed = time.perf_counter() - start
            exact = kelly.doubling_rate(P, bets, channel=ch)
            estimate, stderr = run.doubling_rate()
            print(f"{name:18s} {f'{paths} x {rounds}':>15s} {exact:+9.4f} {estimate:+10.4f} {stderr:8.1e} "
                  f"{abs(estimate - exact) / stderr:5.1f} {paths * rounds / elapsed:10.3g}")


if __name__ == "__main__":
    main()
