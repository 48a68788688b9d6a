"""The convolutional reference classifier (kellynotes.classifier) and its Barber–Agakov bound."""

from dataclasses import replace

import jax
import numpy as np
import pytest

from kellynotes import bounds, classifier, data


def test_a_short_run_on_digits_gives_a_valid_bound_below_the_ceiling():
    train, test = data.digits("train"), data.digits("test")
    config = classifier.ClassifierConfig()
    config = replace(config, fit=replace(config.fit, steps=300, steps_per_call=100, checkpoint_every=300,
                                         progress=False))
    trained = classifier.train_classifier(jax.random.key(0), train.images, train.labels, num_classes=10,
                                          config=config)
    log_q = trained.log_probabilities(test.images)
    assert log_q.shape == (360, 10)
    np.testing.assert_allclose(np.exp(log_q).sum(axis=1), 1.0, atol=1e-5)
    sandwich = bounds.label_sandwich(test.labels, log_probabilities=log_q)
    # 300 steps already classify 8x8 digits well (measured: ~95 %); 0.8 fails only a broken model.
    assert sandwich.accuracy > 0.8
    assert 1.0 < sandwich.lower.value < sandwich.upper.value + 2 * sandwich.upper.stderr


def test_bad_shapes_are_named():
    images = np.zeros((4, 8, 8, 1))
    with pytest.raises(ValueError, match=r"labels must have shape \(N=4,\)"):
        classifier.train_classifier(jax.random.key(0), images, np.zeros(3, int), num_classes=2)
    with pytest.raises(ValueError, match=r"images must have shape \(N, H, W, C\)"):
        classifier.train_classifier(jax.random.key(0), images[..., 0], np.zeros(4, int), num_classes=2)
