"""Label information with a ceiling: the class posterior of a diffusion model against exact answers.

    python benchmarks/label_information.py            # mixtures (exact fields), ~1 min
    python benchmarks/label_information.py --digits   # + the sandwich on the 8x8 digits (CNN), ~1 min

Part 1 (issue 16's target): on the Gaussian mixtures of the semantic chapter, at every s of
its grid, H(Y|X_s) from kellynotes.posterior (per-class losses of the exact field) against
(a) the exact posterior at the same noisy points (the estimator's own error) and (b) the
exact curve (kellynotes.mixture.label_posterior_entropy, 200k draws). Target: within 2 %,
or 0.01 nats where the value is near 0, of (a). (b) adds the sampling error of the points.

Part 2: H(Y) and the held-out Barber-Agakov bound of the reference CNN on the digits, with
the cost of each on this machine.
"""

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from kellynotes import bounds, classifier, data, mixture, posterior, semantic
from kellynotes.sde import VPSDE

SDE = VPSDE()
GRID = np.geomspace(1e-3, SDE.T, 40)[:-1]  # the semantic chapter's grid, without s = T itself
MIXTURES = {
    "3 classes on a line, d=1.5, v=0.05": semantic.line_mixture(3, 1.5, variance=0.05),
    "5 classes on a line, d=1.0, v=0.05": semantic.line_mixture(5, 1.0, variance=0.05),
    "2 classes in 4-D, d=2.0, v=0.2": semantic.line_mixture(2, 2.0, variance=0.2, dimension=4),
}


def mixtures(num_points: int, num_time_samples: int) -> bool:
    ok = True
    for name, mix in MIXTURES.items():
        field = functools.partial(mixture.exact_entropy_field, mix, SDE)
        x0, y = (np.asarray(a) for a in mix.sample(jax.random.key(0), num_points))
        key = jax.random.key(1)
        start = time.perf_counter()
        info = posterior.noisy_label_information(field, SDE, x0, y, GRID, key=key, class_prior=mix.weights,
                                                 num_time_samples=num_time_samples, batch_size=200)
        cost = time.perf_counter() - start
        noise = np.asarray(jax.random.normal(jax.random.split(key)[0], x0.shape), np.float32)
        print(f"\n{name}: {num_points} points x {GRID.size} times x {num_time_samples} draws, {cost:.1f} s")
        print(f"{'s':>8s} {'estimate':>9s} {'exact@pts':>9s} {'error':>8s} {'exact H(Y|X_s)':>15s}  within target")
        worst = 0.0
        for i, s in enumerate(GRID):
            alpha = float(SDE.alpha(s))
            x_s = np.sqrt(alpha) * x0 + np.sqrt(1 - alpha) * noise
            log_r = np.asarray(jax.nn.log_softmax(mix.diffuse(SDE, s).component_log_prob(jnp.asarray(x_s)), -1))
            at_points = -log_r[np.arange(y.size), y].mean()
            curve = mixture.label_posterior_entropy(mix, SDE, float(s), key=jax.random.key(2), num_samples=200_000)
            error = info.conditional_entropy[i] - at_points
            good = abs(error) <= max(0.02 * at_points, 0.01)
            ok &= good
            worst = max(worst, abs(error) / max(at_points, 0.5))
            print(f"{s:8.4f} {info.conditional_entropy[i]:9.4f} {at_points:9.4f} {error:+8.4f} "
                  f"{curve.value:9.4f} ± {curve.stderr:.4f}  {'yes' if good else 'NO'}")
    print(f"\nmixtures: every point within target: {ok}")
    return ok


def digits_sandwich() -> None:
    train, test = data.digits("train"), data.digits("test")
    start = time.perf_counter()
    h = bounds.label_entropy(test.labels)
    h_cost = time.perf_counter() - start
    start = time.perf_counter()
    cnn = classifier.train_classifier(jax.random.key(0), train.images, train.labels, num_classes=10)
    sandwich = bounds.label_sandwich(test.labels, log_probabilities=cnn.log_probabilities(test.images))
    cost = time.perf_counter() - start
    print(f"\ndigits ({test.images.shape[0]} held-out images), nats:")
    print(f"  H(Y) (upper)                 {h.value:.3f} ± {h.stderr:.3f}   {h_cost:.3f} s")
    print(f"  Barber-Agakov, CNN (lower)   {sandwich.lower.value:.3f} ± {sandwich.lower.stderr:.3f}   {cost:.0f} s "
          f"(training included); accuracy {sandwich.accuracy:.3f}, cross-entropy {sandwich.cross_entropy:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--digits", action="store_true")
    parser.add_argument("--points", type=int, default=600)
    parser.add_argument("--draws", type=int, default=1024)
    args = parser.parse_args()
    mixtures(args.points, args.draws)
    if args.digits:
        digits_sandwich()
