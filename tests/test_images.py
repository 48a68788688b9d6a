"""Label information of labelled images (kellynotes.images) and the image input of the public API:
shapes, the held-out split, the sandwich, and the errors that name bad input. The networks are
trained for a few steps only: these tests check the plumbing and the bounds that hold by
construction, not accuracy (that is benchmarks/label_information.py)."""

from dataclasses import replace

import jax
import numpy as np
import pytest

import kellynotes
from kellynotes import api, classifier, data, images

DIGITS = data.digits("train")
TINY = api.ImageInformationConfig(
    model=replace(images.ImageModelConfig(channels=8),
                  fit=replace(images.ImageModelConfig().fit, steps=20, steps_per_call=10, checkpoint_every=10,
                              warmup_steps=2, batch_size=16)),
    information=images.LabelInformationConfig(curve_points=2, curve_images=20).quick(),
    reference_classifier=classifier.ClassifierConfig().quick(),
)


@pytest.fixture(scope="module")
def result():
    x, y = DIGITS.images[:200, :, :, 0], DIGITS.labels[:200]  # (N, H, W) float in [0, 1]
    return api.estimate_mutual_information(x, y, key=jax.random.key(0), config=TINY)


def test_image_input_gives_the_bounded_estimate_and_the_sandwich(result):
    assert isinstance(result, api.ImageMutualInformationResult)
    info = result.information
    h = info.label_entropy.value
    # A Barber-Agakov bound with plug-in H(Y): never above H(Y) (log q <= 0), whatever the training.
    assert result.value <= h + 1e-12 and info.bounded.value == result.value
    assert result.sandwich.upper.value == h and result.sandwich.lower.value <= h + 1e-12
    assert h <= np.log(10) + 1e-12
    # The loss gap splits exactly into the bounded part and the unconditional excess.
    np.testing.assert_allclose(info.loss_gap.value, info.bounded.value + info.unconditional_excess.value, atol=1e-9)
    for estimate in (info.minde, info.entropy_difference, info.loss_gap):
        assert np.isfinite(estimate.value) and estimate.stderr >= 0
    assert info.curve.s.shape == info.curve.information.shape == (2,)
    assert set(info.seconds) >= {"bounded_and_loss_gap", "minde", "entropy_difference", "curve"}
    assert set(result.seconds) >= {"training", "reference_classifier", *info.seconds}
    assert info.as_dict()["sandwich"]["upper"]["value"] == h


def test_held_out_split_is_disjoint_stratified_and_a_function_of_the_key(result):
    train, held_out = result.train_index, result.held_out_index
    assert np.intersect1d(train, held_out).size == 0 and train.size + held_out.size == 200
    labels = DIGITS.labels[:200]
    again = api.held_out_split(labels, 0.2, jax.random.split(jax.random.key(0), 5)[0])
    np.testing.assert_array_equal(again[1], held_out)  # the same key gives the same split
    other = api.held_out_split(labels, 0.2, jax.random.key(1))
    assert not np.array_equal(other[1], held_out)
    counts = np.bincount(labels[held_out], minlength=10)
    np.testing.assert_array_equal(counts, np.round(0.2 * np.bincount(labels, minlength=10)))


def test_channel_last_uint8_images_through_the_package_namespace():
    x = np.round(DIGITS.images[:200] * 255).astype(np.uint8)  # (N, H, W, 1), 0..255
    config = replace(TINY, reference_classifier=None,
                     information=replace(TINY.information, curve_points=0))
    out = kellynotes.estimate_mutual_information(x, DIGITS.labels[:200], key=jax.random.key(2), config=config)
    assert out.sandwich is None and out.information.curve is None
    assert out.value <= out.information.label_entropy.value + 1e-12
    assert out.settings["image_shape"] == [8, 8, 1]


def test_bad_images_and_labels_are_named():
    x, y = DIGITS.images[:200], DIGITS.labels[:200]
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="same shape"):
        api.estimate_mutual_information([x[0], x[1, :4]], y[:2], key=key)
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        api.estimate_mutual_information(255.0 * x, y, key=key)
    with pytest.raises(ValueError, match="0..255"):
        api.estimate_mutual_information(x.astype(np.int32) - 1, y, key=key)
    with pytest.raises(ValueError, match="integers"):
        api.estimate_mutual_information(x, y.astype(float), key=key)
    with pytest.raises(ValueError, match="one integer label each"):
        api.estimate_mutual_information(x, y[:10], key=key)
    with pytest.raises(ValueError, match=r"at least 10 images; too few in classes"):
        api.estimate_mutual_information(x[:60], y[:60], key=key)
    with pytest.raises(ValueError, match="labels"):
        api.estimate_mutual_information(x, y + 3, key=key)  # classes 0..2 missing
    with pytest.raises(ValueError, match="held_out_fraction"):
        api.ImageInformationConfig(held_out_fraction=1.0)
    with pytest.raises(ValueError, match=r"\(N, H, W\[, C\]\)"):
        api.estimate_mutual_information(x.reshape(200, -1)[:, :1].ravel(), y, key=key)


def test_the_chapters_table_shows_every_estimate_and_names_old_runs(result):
    from kellynotes.figures import manifolds

    info = result.information
    new = {"results": {"label_information": info.as_dict(), "mutual_information_minde": {"value": 1.0, "stderr": 0.1}}}
    old = {"results": {"mutual_information_minde": {"value": 3.4, "stderr": 0.05}}}
    table = manifolds.label_information_table({"new run": new, "old run": old}, {"old run": "python -m x"})
    new_row = next(line for line in table.splitlines() if line.startswith("new run"))
    assert f"{info.bounded.value:6.2f} ± {info.bounded.stderr:4.2f}" in new_row
    assert f"{info.unconditional_excess.value:6.2f}" in new_row
    old_row = next(line for line in table.splitlines() if line.startswith("old run"))
    assert "stored before" in old_row and "rerun `python -m x`" in old_row and "3.40 ± 0.05" in old_row
