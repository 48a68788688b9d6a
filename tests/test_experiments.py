"""The image experiment end to end in quick mode, through the command line, and its artifact schema."""

import json

import numpy as np
import pytest

from kellynotes import cli, images, results, store


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    status = cli.main(["run", "neural-entropy", "--dataset", "digits", "--quick",
                               "--results", str(folder / "results"), "--checkpoints", str(folder / "checkpoints")])
    assert status == 0
    return folder


def test_quick_run_writes_a_complete_artifact(artifact):
    meta, arrays = store.load_artifact(artifact / "results" / "neural-entropy-digits-quick.json")
    assert meta["kind"] == "neural-entropy" and meta["config"]["dataset"] == "digits"
    model = results.model_settings(meta)  # the model's settings, nested as NeuralEntropyConfig nests them
    assert model == meta["config"]["model"] and model["fit"]["steps"] == 20
    assert set(model) == set(images.ImageModelConfig.__dataclass_fields__)
    assert meta["provenance"]["package_version"] and meta["provenance"]["device"].startswith("cpu")
    for key in ("neural_entropy_x", "neural_entropy_x_given_y", "mutual_information_minde"):
        assert np.isfinite(meta["results"][key]["value"]) and meta["results"][key]["stderr"] >= 0
    assert len(meta["training"]["loss"]) == 2  # 20 steps in calls of 10
    info = meta["results"]["label_information"]
    assert info["bounded"]["value"] <= info["label_entropy"]["value"] + 1e-12 and info["sandwich"] is not None
    assert arrays["posterior_information"].shape == arrays["posterior_s"].shape == (2,)
    assert set(meta["timings"]) >= {"training_s", "reference_classifier_s", "label_information_s"}
    assert arrays["rate_x"].shape == arrays["s"].shape == (4,)
    assert arrays["samples_w2"].shape == (10, 8, 8, 1) and arrays["samples_w2"].dtype == np.uint8
    assert arrays["samples_unconditional"].shape == (10, 8, 8, 1)
    # The artifact is small, and checkpoints never land in the results folder.
    assert sum(p.stat().st_size for p in (artifact / "results").iterdir()) < 200_000
    assert (artifact / "checkpoints" / "checkpoint.eqx").exists()


def test_schema_violations_are_named(artifact, tmp_path):
    meta = json.loads((artifact / "results" / "neural-entropy-digits-quick.json").read_text())
    del meta["provenance"]["git_commit"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="git_commit"):
        store.load_artifact(broken)
    with pytest.raises(ValueError, match="does not exist"):
        store.load_artifact(tmp_path / "missing.json")
