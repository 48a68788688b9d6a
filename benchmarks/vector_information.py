"""estimate_mutual_information on vectors as a new user calls it: held-out estimates, the marginal
maps and the two modes, against exact answers (issue 17).

    python benchmarks/vector_information.py                    # every task and variant, ~35 min on 2 cores
    python benchmarks/vector_information.py --dims 5 --kinds gaussian --variants default two-networks

Tasks (N = 10,000 pairs, the exact I known in closed form): a *sparse Gaussian* with D dimensions
per variable, X ~ N(0, I_D) and Y = A X + ε with A nonzero on two coordinates only, so that
I = log(1 + a²) = 1 nat whatever D; and the same pairs *warped* coordinate by coordinate
(asinh of X, cube of Y), which leaves I unchanged. For each variant it prints the value (the
held-out MINDE estimate, or where the fitted Gaussian won, its information in closed form), MINDE
on the training pairs (what the package returned before it held pairs out), their errors against
the truth, the steps of the kept weights, which field
was used (the network's, or the fitted Gaussian's when it won on validation) and the cost.

Variants: ``default`` (one network with label dropout, the copula map of the marginals, 70/10/20
split, weights chosen on the validation loss); ``two-networks`` (the paper's protocol: a
conditional and an unconditional network, each trained for the default steps, so twice the
work); ``previous-default`` (one network, standardised marginals: the default before issue 17);
``no-validation`` (the previous default keeping the last weights); ``two-networks-standardized``.
Table and decisions: benchmarks/README.md.
"""

import argparse
import time
from dataclasses import replace

import jax
import numpy as np

import kellynotes
from kellynotes import api, gaussian
from kellynotes.figures import information

N = 10_000
COUPLED = 2  # coordinates of X that Y depends on
GAIN = np.sqrt(np.e - 1.0)  # log(1 + GAIN²) = 1: each coupled coordinate carries 1/2 nat
DEFAULT = api.VectorInformationConfig()
VARIANTS = {
    "default": DEFAULT,
    "two-networks": replace(DEFAULT, networks="two"),
    "previous-default": replace(DEFAULT, marginals="standardize"),
    "no-validation": replace(DEFAULT, marginals="standardize", validation_fraction=0.0),
    "two-networks-standardized": replace(DEFAULT, networks="two", marginals="standardize"),
}


def sparse_gaussian(dim: int) -> gaussian.JointGaussian:
    """X ~ N(0, I_dim), Y = A X + ε with A = GAIN on the first COUPLED diagonal entries: I = 1 nat."""
    gain = np.zeros((dim, dim))
    gain[np.arange(COUPLED), np.arange(COUPLED)] = GAIN
    return gaussian.JointGaussian(np.eye(dim), gain, 1.0)


def task(dim: int, warped: bool, key) -> tuple[np.ndarray, np.ndarray, float]:
    g = sparse_gaussian(dim)
    x, y = (np.asarray(a, np.float64) for a in g.sample(key, N))
    if warped:
        x, y = np.arcsinh(3.0 * x), y**3
    return x, y, gaussian.mutual_information(g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dims", nargs="+", type=int, default=[5, 25, 50])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--kinds", nargs="+", default=["gaussian", "warped"], choices=["gaussian", "warped"])
    args = parser.parse_args()
    header = (f"{'task':16s} {'variant':26s} {'truth':>6s} {'value':>14s} {'error':>7s} "
              f"{'train pairs':>14s} {'error':>7s} {'kept step':>9s} {'field':>8s} {'warn':>4s} {'cost s':>6s}")
    print(header)
    print("-" * len(header))
    for dim in args.dims:
        for warped in [kind == "warped" for kind in args.kinds]:
            x, y, truth = task(dim, warped, jax.random.key(dim))
            name = f"{'warped' if warped else 'gaussian'} D={dim}"
            for variant in args.variants:
                start = time.perf_counter()
                result = kellynotes.estimate_mutual_information(x, y, key=jax.random.key(0), config=VARIANTS[variant])
                seconds = time.perf_counter() - start
                train = result.train_estimate
                kept = "/".join(str(t.selected_step) for t in result.training)
                used = information.gaussian_used(result.settings["gaussian_baseline"])
                field = "/".join("Gaussian" if u else "network" for u in used)
                print(f"{name:16s} {variant:26s} {truth:6.3f} {result.value:7.3f} ± {result.stderr:4.3f} "
                      f"{result.value - truth:+7.3f} {train.value:7.3f} ± {train.stderr:4.3f} "
                      f"{train.value - truth:+7.3f} {kept:>9s} {field:>8s} {len(result.warnings):4d} {seconds:6.0f}", flush=True)


if __name__ == "__main__":
    main()
