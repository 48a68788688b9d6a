"""The autoencoder experiment end to end in quick mode: artifact schema and shapes, resume, CLI, figures."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from kellynotes import autoencoders, cli, store
from kellynotes.figures import autoencoders as figures
from kellynotes.sde import VPSDE

ARGS = ["run", "autoencoders", "--dataset", "digits", "--quick"]
NAME = "autoencoders-digits-quick"
MODELS = ("vae", "dae", "split-tau0.1", "split-tau0.9")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    status = cli.main([*ARGS, "--results", str(folder / "results"), "--checkpoints",
                                str(folder / "checkpoints")])
    assert status == 0
    return folder


@pytest.fixture(scope="module")
def artifact(run):
    return store.load_artifact(run / "results" / f"{NAME}.json")


def test_quick_run_writes_a_complete_artifact(run, artifact):
    meta, arrays = artifact
    config = autoencoders.AutoencoderConfig().quick()
    assert meta["kind"] == "autoencoders" and meta["config"]["dataset"] == "digits"
    assert meta["provenance"]["device"].startswith("cpu")
    r, n, k = config.reconstruction_images, config.evaluation_images, len(config.tau_fractions)
    expected = {
        "reconstruction_originals": (r, 8, 8, 1), "reconstruction_vae": (r, 8, 8, 1),
        "reconstruction_dae": (r, 8, 8, 1), "reconstruction_labels": (r,),
        "latents_vae": (n, 2), "latents_dae": (n, 2), "labels": (n,),
        "tsne_semantic": (n, 2), "tsne_perceptual": (n, 2),
        **{name: (k,) for name in ("tau", "information_semantic", "information_semantic_stderr",
                                   "information_perceptual", "information_perceptual_stderr",
                                   "knn_accuracy_semantic", "knn_accuracy_perceptual", "kl_semantic",
                                   "kl_perceptual")},
    }
    assert set(arrays) == set(expected) == set(autoencoders.ARRAYS)  # the documented arrays, no others
    for name, shape in expected.items():
        assert arrays[name].shape == shape, name
        assert np.all(np.isfinite(arrays[name])), name
    for name in ("reconstruction_originals", "reconstruction_vae", "reconstruction_dae"):
        assert arrays[name].dtype == np.uint8
    np.testing.assert_allclose(arrays["tau"], [0.1, 0.9])
    assert np.all((arrays["knn_accuracy_semantic"] >= 0) & (arrays["knn_accuracy_semantic"] <= 1))
    assert np.all(arrays["information_semantic_stderr"] >= 0) and np.all(arrays["kl_perceptual"] >= 0)
    results = meta["results"]
    assert results["units"] == "nats" and 0 < results["label_entropy"] <= np.log(10) + 1e-9
    assert len(results["tau_scan"]["time_s"]) == k
    for model in MODELS:  # 10 steps in calls of 5; throughput recorded; one checkpoint folder each
        record = meta["training"][model]
        assert len(record["loss"]) == 2 and record["examples_per_s"] > 0 and record["resumed_from"] == 0
        assert (run / "checkpoints" / model / "checkpoint.eqx").exists()
    assert sum(p.stat().st_size for p in (run / "results").iterdir()) < 200_000


def test_a_second_run_resumes_every_model_from_its_checkpoint(run, artifact, tmp_path):
    _, first = artifact
    status = cli.main([*ARGS, "--results", str(tmp_path), "--checkpoints", str(run / "checkpoints")])
    assert status == 0
    meta, again = store.load_artifact(tmp_path / f"{NAME}.json")
    assert all(meta["training"][model]["resumed_from"] == 10 for model in MODELS)  # nothing retrained
    for name in ("latents_vae", "latents_dae", "reconstruction_dae", "tsne_semantic", "information_semantic"):
        np.testing.assert_array_equal(again[name], first[name])  # same models, same keys: same numbers


def test_figures_draw_from_the_artifact(artifact):
    meta, arrays = artifact
    for draw, axes in ((figures.draw_reconstructions, 3 * 4), (figures.draw_aggregated_posteriors, 2),
                       (figures.draw_tsne, 2), (figures.draw_tau_scan, 2)):
        fig = Figure()
        draw(fig, meta, arrays)
        assert len(fig.axes) == axes, draw.__name__


def test_cli_wiring():
    args = cli.parse_arguments(["run", "autoencoders", "--dataset", "mnist", "--quick", "--steps", "5", "--data-root",
                                "d", "--download"])
    assert cli.handler(args.experiment) is autoencoders.run_from_arguments
    assert (args.dataset, args.quick, args.steps, args.data_root, args.download, args.results, args.checkpoints) == (
        "mnist", True, 5, "d", True, "results", None)


def test_presets_and_bad_configs():
    mnist = autoencoders.AutoencoderConfig.for_dataset("mnist")
    assert mnist.split_latent_dim == 20 and len(mnist.tau_fractions) >= 5  # the paper's D_Z; a 5-point scan
    assert min(mnist.tau_fractions) == pytest.approx(0.1) and max(mnist.tau_fractions) == pytest.approx(0.9)
    assert mnist.with_steps(7).dae_fit.steps == 7 and mnist.with_steps(7).vae_fit.steps == 7
    losses = autoencoders.loss_functions(mnist, VPSDE())
    assert losses["split"] is autoencoders.loss_functions(mnist, VPSDE())["split"]  # one object: one compiled step
    with pytest.raises(ValueError, match="no preset"):
        autoencoders.AutoencoderConfig.for_dataset("imagenet")
    with pytest.raises(ValueError, match="tsne_tau_fraction"):
        autoencoders.AutoencoderConfig(tau_fractions=(0.3, 0.5))
    with pytest.raises(ValueError, match="tau_fractions"):
        autoencoders.AutoencoderConfig(tau_fractions=(0.1, 1.0))
    with pytest.raises(ValueError, match="reconstruction_images"):
        autoencoders.AutoencoderConfig(reconstruction_images=20, evaluation_images=10)
    with pytest.raises(ValueError, match="gamma"):
        autoencoders.AutoencoderConfig(gamma=-1.0)


def test_a_run_killed_in_the_scan_resumes_without_redoing_finished_work(run, artifact, tmp_path, monkeypatch):
    """Split over two jobs: the first dies while evaluating the second tau point; the second
    job retrains nothing that was finished and re-evaluates only the unfinished tau point."""
    checkpoints = tmp_path / "checkpoints"
    calls = []
    information = autoencoders.label_information

    def dies_on_the_third_estimate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # tau 0.1 has two estimates; the third belongs to tau 0.9
            raise KeyboardInterrupt
        return information(*args, **kwargs)

    monkeypatch.setattr(autoencoders, "label_information", dies_on_the_third_estimate)
    with pytest.raises(KeyboardInterrupt):
        cli.main([*ARGS, "--results", str(tmp_path / "results"), "--checkpoints", str(checkpoints)])
    assert (checkpoints / "split-tau0.1" / "evaluation.json").exists()
    assert not (checkpoints / "split-tau0.9" / "evaluation.json").exists()

    calls.clear()
    compare = autoencoders.dae.dae_reconstruct
    monkeypatch.setattr(autoencoders.dae, "dae_reconstruct", lambda *a, **k: pytest.fail("comparison recomputed"))
    assert cli.main([*ARGS, "--results", str(tmp_path / "results"), "--checkpoints", str(checkpoints)]) == 0
    monkeypatch.setattr(autoencoders.dae, "dae_reconstruct", compare)
    assert len(calls) == 2  # only tau 0.9's two estimates
    meta, again = store.load_artifact(tmp_path / "results" / f"{NAME}.json")
    assert all(meta["training"][model]["resumed_from"] == 10 for model in MODELS)
    _, first = artifact
    for name in autoencoders.ARRAYS:  # the same numbers as the uninterrupted run
        np.testing.assert_array_equal(again[name], first[name], err_msg=name)

