"""Training and estimators that need no closed-form Gaussian (those are in test_estimators_exact.py)."""

import dataclasses

import equinox as eqx
import jax
import numpy as np
import pytest
from helpers import SDE, backend_compilations

from kellynotes import entropy, training
from kellynotes.nets import EntropyMLP

QUICK = entropy.TrainConfig(steps=1500, batch_size=512, progress=False)


@pytest.fixture(scope="module")
def standard_normal_model():
    x = np.random.default_rng(0).normal(size=(20_000, 5))
    return x, entropy.train(jax.random.key(0), x, config=QUICK)


@pytest.mark.parametrize("residual", [False, True])
def test_untrained_network_stores_no_information(residual):
    # The last layer starts at zero: u = 0 is the exact model of p_d = p_eq (either body).
    network = EntropyMLP(4, key=jax.random.key(0), condition=("vector", 2), residual=residual)
    model = entropy.EntropyModel(network, SDE, 1e-3)
    x = np.random.default_rng(0).normal(size=(500, 4))
    y = np.random.default_rng(1).normal(size=(500, 2))
    for estimate in [
        entropy.neural_entropy(model.entropy_field, SDE, x, key=jax.random.key(0), num_samples=1000),
        entropy.mutual_information_minde(model.entropy_field, SDE, x, y, key=jax.random.key(0), num_samples=1000),
    ]:
        assert estimate.value == 0.0 and estimate.stderr == 0.0


def test_large_batches_of_a_zero_network_give_zero():
    """Regression: with the weights captured as jit constants, jax 0.10.2 on CPU returned
    NaN/inf for this network at batch 8192. Both field kinds (module method, plain function)."""
    network = EntropyMLP(4, key=jax.random.key(0), condition=("vector", 2))
    model = entropy.EntropyModel(network, SDE, 1e-3)
    x = np.random.default_rng(0).normal(size=(500, 4))
    for field in (model.entropy_field, lambda xs, s, y: model.entropy_field(xs, s, y)):
        estimate = entropy.neural_entropy(field, SDE, x, key=jax.random.key(0), num_samples=8192, batch_size=8192)
        assert estimate.value == 0.0


def test_estimators_compile_once_per_model_shape():
    network = EntropyMLP(3, key=jax.random.key(0))
    model = entropy.EntropyModel(network, SDE, 1e-3)
    other = entropy.EntropyModel(EntropyMLP(3, key=jax.random.key(5)), SDE, 1e-3)  # same shapes, other weights
    x = np.random.default_rng(0).normal(size=(300, 3))
    entropy.neural_entropy(model.entropy_field, SDE, x, key=jax.random.key(0), num_samples=512)
    before = backend_compilations()  # XLA programs compiled so far (JAX's monitoring events)
    entropy.neural_entropy(model.entropy_field, SDE, x, key=jax.random.key(1), num_samples=512)
    entropy.neural_entropy(other.entropy_field, SDE, x, key=jax.random.key(1), num_samples=512)
    assert backend_compilations() == before
    # Plain functions (fresh closures, here over the two models) are lifted: what the first compiles
    # serves the second.
    entropy.neural_entropy(lambda xs, s, y: model.entropy_field(xs, s, y), SDE, x, key=jax.random.key(0),
                           num_samples=512)
    first = backend_compilations()
    assert first > before
    entropy.neural_entropy(lambda xs, s, y: other.entropy_field(xs, s, y), SDE, x, key=jax.random.key(0),
                           num_samples=512)
    assert backend_compilations() == first


def test_entropy_matching_stores_nothing_when_data_are_at_equilibrium(standard_normal_model):
    """The thought experiment of Sec. 3: p_d = p_eq = N(0, I). S_tot = 0, and the
    trained entropy-matching network stores almost nothing, while the same
    integral of the score (score = e - x) is large."""
    x, result = standard_normal_model
    field = result.model.entropy_field
    stored = entropy.neural_entropy(field, SDE, x, key=jax.random.key(1), num_samples=20_000)
    score = entropy.neural_entropy(lambda xs, s, y: field(xs, s, y) - xs, SDE, x, key=jax.random.key(1),
                                   num_samples=20_000)
    # 0.05 nats is 1% of one dimension's score information below; a network that
    # learned anything spurious from 20k samples in 1500 steps would exceed it.
    assert 0 <= stored.value < 0.05
    # With exact fields the score integral is D/2 * ∫ β (1-α)... = 5 x ~5 nats; it is O(10) nats.
    assert score.value > 10.0


def test_training_is_deterministic_per_key(standard_normal_model):
    x, result = standard_normal_model
    again = entropy.train(jax.random.key(0), x, config=QUICK)
    np.testing.assert_array_equal(result.loss, again.loss)
    assert result.loss.shape == (QUICK.steps // QUICK.steps_per_call,)


def test_nan_loss_stops_training_with_a_clear_message():
    x = np.random.default_rng(0).normal(size=(200, 3)) * 1e30
    with pytest.raises(FloatingPointError, match="training loss became"):
        entropy.train(jax.random.key(0), x, config=entropy.TrainConfig(steps=10, batch_size=32, progress=False,
                                                                       steps_per_call=5))


def test_uniform_time_sampling_has_the_same_expectation_but_more_noise():
    # Same network, same data: the two samplers estimate the same integral.
    network = EntropyMLP(3, key=jax.random.key(0))
    x = np.random.default_rng(0).normal(size=(4096, 3)).astype(np.float32) * 0.3
    losses = {}
    for sampling in ("log_snr", "uniform"):
        values = [float(entropy.denoising_loss(network, SDE, x, None, k, s_min=1e-3, time_sampling=sampling))
                  for k in jax.random.split(jax.random.key(1), 40)]
        losses[sampling] = (np.mean(values), np.std(values) / np.sqrt(len(values)))
    (a, sa), (b, sb) = losses["log_snr"], losses["uniform"]
    assert abs(a - b) < 4 * np.hypot(sa, sb)  # unbiased: agree within 4 combined standard errors
    assert sb > 3 * sa  # log-SNR sampling is the less noisy one


@pytest.mark.parametrize("bad", [
    dict(steps=0), dict(label_dropout=1.0), dict(s_min=0.0), dict(time_sampling="beta"), dict(weighting="x"),
    dict(learning_rate=-1.0),
])
def test_train_config_rejects_bad_settings(bad):
    with pytest.raises(ValueError, match="TrainConfig"):
        entropy.TrainConfig(**bad)


def test_estimator_arguments_are_checked():
    x = np.zeros((200, 2))
    with pytest.raises(ValueError, match="s_min"):
        entropy.neural_entropy(lambda xs, s, y: xs, SDE, x, key=jax.random.key(0), s_min=0.0)
    with pytest.raises(ValueError, match="s_grid"):
        entropy.neural_entropy_rate(lambda xs, s, y: xs, SDE, x, [0.0, 0.5], key=jax.random.key(0))


def test_a_second_training_run_of_the_same_shape_compiles_nothing():
    """The compiled steps take the data and weights as arguments: another seed, other data and
    other validation pairs of the same shapes reuse them. (Closures over the data compiled two
    programs per run, about 4 s on 2 cores, and leaked memory maps until the JIT crashed.)"""
    rng = np.random.default_rng(3)
    config = entropy.TrainConfig(steps=20, batch_size=64, steps_per_call=10, warmup_steps=2, progress=False)

    def run(seed):
        x, y = rng.normal(size=(256, 3)), rng.normal(size=(256, 2))
        validation = (rng.normal(size=(64, 3)), rng.normal(size=(64, 2)))
        return entropy.train(jax.random.key(seed), x, y, config=config, validation=validation)

    first = run(0)
    compiles = []
    listener = lambda event, seconds, **kwargs: compiles.append(event) if "backend_compile" in event else None  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        second = run(1)
        # a progress bar does not change the program either
        entropy.train(jax.random.key(2), *(rng.normal(size=(256, d)) for d in (3, 2)),
                      config=dataclasses.replace(config, progress=True))
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert not np.array_equal(first.loss, second.loss)  # the arguments really are new


def test_the_trainer_is_training_fit_with_its_checkpoints(tmp_path):
    """entropy.train runs on training.fit: its config is a FitConfig (weight decay, EMA, loop are the
    trainer's), and a checkpoint folder resumes it: a finished run trains nothing and returns the same
    kept weights and validation history."""
    assert issubclass(entropy.TrainConfig, training.FitConfig)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(256, 3)), rng.normal(size=(256, 2))
    validation = (rng.normal(size=(64, 3)), rng.normal(size=(64, 2)))
    config = entropy.TrainConfig(steps=40, batch_size=64, steps_per_call=10, warmup_steps=2, width=16,
                                 checkpoint_every=20, progress=False)
    first = entropy.train(jax.random.key(0), x, y, config=config, validation=validation, checkpoint_dir=tmp_path)
    again = entropy.train(jax.random.key(0), x, y, config=config, validation=validation, checkpoint_dir=tmp_path)
    plain = entropy.train(jax.random.key(0), x, y, config=config, validation=validation)
    for result in (again, plain):
        assert result.selected_step == first.selected_step
        np.testing.assert_array_equal(result.validation_loss, first.validation_loss)
        for u, v in zip(jax.tree.leaves(eqx.filter(first.model, eqx.is_array)),
                        jax.tree.leaves(eqx.filter(result.model, eqx.is_array))):
            np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="different TrainConfig"):
        entropy.train(jax.random.key(0), x, y, config=dataclasses.replace(config, width=8), validation=validation,
                      checkpoint_dir=tmp_path)
