"""Image experiments as dataclass configs, run by one command, written as small artifacts.

``python -m kellynotes run neural-entropy --dataset digits [--quick] [--results DIR]``
trains a class-conditional U-Net by denoising entropy matching (label dropout makes it
unconditional and CFG-ready too), then measures on held-out images the neural-entropy
rate curves and totals $S_{\\rm NN}^{\\mathbf X}$,
$S_{\\rm NN}^{\\mathbf X\\mid\\mathbf Y}$ and MINDE's $I(\\mathbf X;\\mathbf Y)$
(nats, with standard errors), the label information every other way
(:func:`kellynotes.images.measure_label_information`: the bounded estimate from the model's
own class posterior, the sandwich of a reference CNN, the loss gap and its unconditional
excess, Eq. 52, MINDE on training images, and $H(Y\\mid\\tilde{\\mathbf X}_s)$ along the noise), and
draws sample grids (unconditional, per class, and with guidance). It writes ``<name>.json``
(config, numbers, training curve, provenance:
package version and git commit, device, wall time, date) and ``<name>.npz`` (curves
and uint8 sample grids) into the results folder the book reads. Checkpoints go to a
separate folder and make the run resumable; they are never part of the results.

The defaults are sized for 8×8 digits on a CPU (about 75 ms per training step on 2
cores: 5 min of training, then 10 min of label estimates); ``--quick`` (20 steps) checks
the pipeline in about three minutes.

Images are scaled from [0, 1] to [-1, 1] before training (the usual diffusion
convention); neural entropy depends on this scale (see :mod:`kellynotes.api`).
"""

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import classifier, data, entropy, guidance, images, sampling, store, training
from .sde import VPSDE

__all__ = ["NeuralEntropyConfig", "run_neural_entropy", "run_neural_entropy_from_arguments", "run_spectra",
           "run_spectra_from_arguments"]


@dataclass(frozen=True)
class NeuralEntropyConfig:
    dataset: str = "digits"
    name: str = ""  # artifact name; defaults to "neural-entropy-<dataset>"
    #: The U-Net and its training (defaults: the digits model measured on a CPU).
    model: images.ImageModelConfig = field(default_factory=images.ImageModelConfig)
    estimate_images: int = 360  # held-out images used by the estimators
    # the totals, the bounded estimate, the loss gap and the posterior along the noise
    label_information: images.LabelInformationConfig = field(default_factory=images.LabelInformationConfig)
    reference_classifier: classifier.ClassifierConfig = field(default_factory=classifier.ClassifierConfig)
    rate_points: int = 24
    rate_samples: int = 1024
    guidance_weights: tuple[float, ...] = (0.0, 1.0, 3.0)
    samples_per_class: int = 4
    seed: int = 0

    @property
    def artifact_name(self) -> str:
        return self.name or f"neural-entropy-{self.dataset}"

    @classmethod
    def for_dataset(cls, dataset: str) -> "NeuralEntropyConfig":
        """The preset for ``dataset``: the CPU default for ``digits``; for MNIST,
        Fashion-MNIST and CIFAR-10 the sizes used for the cached single-GPU runs
        (bf16 compute; estimates on 1000 held-out images, like the paper's)."""
        # posterior calls evaluate (K + 1) * batch_size * 64 images at once: 11k for MNIST at 16
        gpu_information = images.LabelInformationConfig(num_samples=50_000, batch_size=16)
        gpu_estimates = dict(estimate_images=1000, label_information=gpu_information, rate_points=40,
                             rate_samples=2048, samples_per_class=8, guidance_weights=(0.0, 1.0, 3.0))
        presets = {
            "digits": {},
            "mnist": dict(model=images.ImageModelConfig(
                channels=32, channel_multipliers=(1, 2, 4), attention_resolutions=(7,), blocks_per_level=2,
                fit=training.FitConfig(steps=20_000, batch_size=256, learning_rate=5e-4, warmup_steps=500,
                                       steps_per_call=500, checkpoint_every=2000, compute_dtype="bfloat16")),
                          **gpu_estimates),
            "cifar10": dict(model=images.ImageModelConfig(
                channels=64, channel_multipliers=(1, 2, 2, 2), attention_resolutions=(16,), blocks_per_level=2,
                fit=training.FitConfig(steps=20_000, batch_size=128, learning_rate=5e-4, warmup_steps=500,
                                       steps_per_call=250, checkpoint_every=1000, compute_dtype="bfloat16")),
                            **{**gpu_estimates, "label_information": replace(gpu_information, total_batch_size=1024,
                                                                             batch_size=8)}),
        }
        presets["fashion_mnist"] = presets["mnist"]
        if dataset not in presets:
            raise ValueError(f"no preset for dataset {dataset!r}; known: {sorted(presets)}")
        return cls(dataset=dataset, **presets[dataset])

    def quick(self) -> "NeuralEntropyConfig":
        """A few-step version for tests and smoke runs (its numbers mean nothing)."""
        model = replace(self.model, channels=16, fit=replace(self.model.fit, steps=20, batch_size=16,
                                                             steps_per_call=10, checkpoint_every=10, warmup_steps=2))
        return replace(self, name=self.artifact_name + "-quick", model=model, estimate_images=64,
                       label_information=self.label_information.quick(),
                       reference_classifier=self.reference_classifier.quick(),
                       rate_points=4, rate_samples=64, samples_per_class=1, guidance_weights=(0.0, 2.0))


# Read once, when the experiment code is imported: the commit of the code that runs, even if
# the checkout changes while a long run is going.
store.code_commit()


def run_neural_entropy(config: NeuralEntropyConfig, results_dir, *, checkpoint_dir=None, progress: bool = True,
                       data_root=None, download: bool = False) -> Path:
    """Run the experiment (see the module docstring); returns the path of the JSON artifact."""
    start = time.perf_counter()
    results_dir = Path(results_dir)
    key = jax.random.key(config.seed)
    key_model, key_fit, key_estimate, key_sample = jax.random.split(key, 4)
    options = data.load_options(config.dataset, data_root, download)
    train_set = data.load(config.dataset, "train", **options)
    test_set = data.load(config.dataset, "test", **options)
    height, width, channels = train_set.images.shape[1:]
    num_classes = train_set.num_classes
    x_train = images.to_vectors(train_set.images)
    test_images, y_test = test_set.images[: config.estimate_images], test_set.labels[: config.estimate_images]
    x_test = images.to_vectors(test_images)
    sde = VPSDE()
    model, fitted = images.fit_image_model(key_model, key_fit, train_set.images, train_set.labels,
                                           num_classes=num_classes, config=config.model, sde=sde,
                                           checkpoint_dir=checkpoint_dir, progress=progress)
    field_fn = model.entropy_field

    timings = dict(training_s=fitted.total_wall_time_s)  # every job of a run split over several
    clock = time.perf_counter()
    reference = classifier.train_classifier(jax.random.fold_in(key_estimate, 1), train_set.images,
                                            train_set.labels, num_classes=num_classes,
                                            config=config.reference_classifier, progress=progress)
    reference_log_q = reference.log_probabilities(test_images)
    timings["reference_classifier_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    label_information = images.measure_label_information(
        model, test_images, y_test, key=jax.random.fold_in(key_estimate, 2), num_classes=num_classes,
        config=config.label_information, reference_log_probabilities=reference_log_q)
    # MINDE on the training images too: memorisation shows as a gap between the two.
    minde_train = entropy.mutual_information_minde(
        field_fn, sde, x_train[: config.estimate_images], train_set.labels[: config.estimate_images],
        key=jax.random.fold_in(key_estimate, 3), num_samples=config.label_information.num_samples,
        s_min=config.model.s_min, batch_size=config.label_information.total_batch_size)
    timings["label_information_s"] = time.perf_counter() - clock
    keys = jax.random.split(key_estimate, 6)
    clock = time.perf_counter()
    s_grid = np.geomspace(config.model.s_min, sde.T, config.rate_points)
    rates = dict(
        rate_x=entropy.neural_entropy_rate(field_fn, sde, x_test, s_grid, key=keys[3],
                                           samples_per_point=config.rate_samples),
        rate_x_given_y=entropy.neural_entropy_rate(field_fn, sde, x_test, s_grid, key=keys[4], y=y_test,
                                                   samples_per_point=config.rate_samples),
        rate_mutual_information=entropy.mutual_information_rate(field_fn, sde, x_test, y_test, s_grid, key=keys[5],
                                                                samples_per_point=config.rate_samples),
    )

    timings["rate_curves_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    # Sample grids: per class (rows) for each guidance weight, and unconditional.
    num_classes, per_class = train_set.num_classes, config.samples_per_class
    labels = jnp.repeat(jnp.arange(num_classes), per_class)
    start_noise = jax.random.normal(key_sample, (labels.shape[0], x_train.shape[1]))
    grids = {}
    unconditional = sampling.probability_flow(field_fn, sde, start_noise, s_end=config.model.s_min)
    grids["samples_unconditional"] = store.to_uint8(unconditional.x).reshape(-1, height, width, channels)
    for w in config.guidance_weights:
        guided = sampling.probability_flow(guidance.guided_field(field_fn, w), sde, start_noise, y=labels,
                                           s_end=config.model.s_min)
        grids[f"samples_w{w:g}"] = store.to_uint8(guided.x).reshape(-1, height, width, channels)

    timings["sampling_s"] = time.perf_counter() - clock
    wall = time.perf_counter() - start
    estimate = lambda e: dict(value=e.value, stderr=e.stderr, num_samples=e.num_samples)  # noqa: E731
    artifact = dict(
        name=config.artifact_name, kind="neural-entropy",
        config=asdict(config),
        results=dict(neural_entropy_x=estimate(label_information.neural_entropy_x),
                     neural_entropy_x_given_y=estimate(label_information.neural_entropy_x_given_y),
                     mutual_information_minde=estimate(label_information.minde),
                     mutual_information_minde_train_images=estimate(minde_train),
                     label_information=label_information.as_dict(), dimension=int(x_train.shape[1]),
                     images_for_estimates=int(x_test.shape[0]), units="nats",
                     guidance_weights=list(config.guidance_weights), sample_labels=np.asarray(labels).tolist()),
        training=dict(loss_steps=fitted.loss_steps.tolist(), loss=fitted.loss.tolist(),
                      resumed_from=fitted.resumed_from, **store.device_report(fitted, config.model.fit.compute_dtype)),
        timings={name: round(value, 2) for name, value in timings.items()},
        provenance=store.provenance(wall),
    )
    arrays = dict(s=s_grid, **{f"{name}": curve.rate for name, curve in rates.items()},
                  **{f"{name}_stderr": curve.stderr for name, curve in rates.items()}, **grids)
    if label_information.curve is not None:
        curve = label_information.curve
        arrays.update(posterior_s=curve.s, posterior_conditional_entropy=curve.conditional_entropy,
                      posterior_conditional_entropy_stderr=curve.conditional_entropy_stderr,
                      posterior_information=curve.information, posterior_information_stderr=curve.information_stderr,
                      posterior_accuracy=curve.accuracy)
    return store.save_artifact(results_dir / f"{config.artifact_name}.json", artifact, arrays)


def run_spectra(dataset: str, results_dir, *, data_root=None, download: bool = False) -> Path:
    """Measure the radially averaged power spectrum and the Gaussian image model
    (:mod:`kellynotes.spectrum`) of a dataset's training images; writes
    ``spectra-<dataset>.json`` + ``.npz`` (no training: ``training`` is empty)."""
    from . import spectrum

    start = time.perf_counter()
    options = data.load_options(dataset, data_root, download)
    images = data.load(dataset, "train", **options).images
    radial = spectrum.radial_power_spectrum(images)
    model = spectrum.gaussian_image_model(images)
    name = f"spectra-{dataset}"
    artifact = dict(name=name, kind="spectra", config=dict(dataset=dataset, split="train", pixel_range=[-1, 1]),
                    results=dict(num_images=int(images.shape[0]), image_shape=list(images.shape[1:]),
                                 dimension=model.dimension, mean_norm_sq=float(model.mean @ model.mean)),
                    training={}, provenance=store.provenance(time.perf_counter() - start))
    arrays = dict(frequency=radial.frequency, power=radial.power, modes=radial.modes,
                  eigenvalues=model.eigenvalues, variances=model.variances)
    return store.save_artifact(Path(results_dir) / f"{name}.json", artifact, arrays)


def run_neural_entropy_from_arguments(args) -> int:
    """``python -m kellynotes run neural-entropy``: run from the options of
    :func:`kellynotes.cli.add_run_arguments` and print the totals; returns the exit status."""
    config = NeuralEntropyConfig.for_dataset(args.dataset)
    if args.steps is not None:
        config = replace(config, model=replace(config.model, fit=replace(config.model.fit, steps=args.steps)))
    if args.quick:
        config = config.quick()
    path = run_neural_entropy(config, args.results, checkpoint_dir=args.checkpoints, data_root=args.data_root,
                              download=args.download)
    meta, _ = store.load_artifact(path)
    results = meta["results"]
    print(f"wrote {path}")
    for key in ("neural_entropy_x", "neural_entropy_x_given_y", "mutual_information_minde"):
        print(f"  {key}: {results[key]['value']:.3f} ± {results[key]['stderr']:.3f} nats")
    return 0


def run_spectra_from_arguments(args) -> int:
    """``python -m kellynotes run spectra``: run from the options of :func:`kellynotes.cli.add_run_arguments`."""
    print(f"wrote {run_spectra(args.dataset, args.results, data_root=args.data_root, download=args.download)}")
    return 0
