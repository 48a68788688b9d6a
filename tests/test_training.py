"""The resumable training loop: resume equivalence, NaN guard, checkpoints, two devices."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import ROOT

from kellynotes import training


def regression_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=512)).astype(np.float32)
    model = eqx.nn.MLP(3, "scalar", 16, 2, key=jax.random.key(0))

    def loss_fn(model, batch, key):
        noise = 0.01 * jax.random.normal(key, batch["y"].shape)  # uses the key: tests its determinism
        prediction = jax.vmap(model)(batch["x"])
        return jnp.mean((prediction - batch["y"] - noise) ** 2)

    return model, {"x": x, "y": y}, loss_fn


CONFIG = training.FitConfig(steps=60, batch_size=32, learning_rate=1e-2, warmup_steps=5, steps_per_call=10,
                            checkpoint_every=20, progress=False)


def killed_at_step_40(checkpoint_dir):
    """Train the regression problem with checkpoints and kill the run at step 40."""
    model, data, loss_fn = regression_problem()

    def kill_at_40(step, loss):
        if step == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=checkpoint_dir,
                     callback=kill_at_40)


def leaves(model):
    return [np.asarray(a) for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array))]


def test_training_reduces_the_loss_and_is_deterministic():
    model, data, loss_fn = regression_problem()
    a = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1))
    b = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1))
    assert a.loss[-1] < 0.2 * a.loss[0]
    for u, v in zip(leaves(a.model), leaves(b.model)):
        np.testing.assert_array_equal(u, v)


def test_killed_and_resumed_run_ends_with_identical_parameters(tmp_path):
    model, data, loss_fn = regression_problem()
    reference = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1))
    killed_at_step_40(tmp_path)
    assert json.loads((tmp_path / training.METADATA).read_text())["step"] == 40
    # A progress bar does not change the run, so a job with one resumes a job without one.
    resumed = training.fit(loss_fn, model, data, replace(CONFIG, progress=True), key=jax.random.key(1),
                           checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 40
    for u, v in zip(leaves(reference.model) + leaves(reference.ema_model),
                    leaves(resumed.model) + leaves(resumed.ema_model)):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(reference.loss, resumed.loss)
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    model, data, loss_fn = regression_problem()
    killed_at_step_40(tmp_path)  # a clean run checkpoints at steps 20 and 40 and is killed there; then
    # the data go bad.
    before = (tmp_path / training.CHECKPOINT).read_bytes()
    bad = {"x": data["x"], "y": np.full_like(data["y"], np.nan)}
    with pytest.raises(FloatingPointError, match="loss became nan.*last good checkpoint \\(step 40\\)"):
        training.fit(loss_fn, model, bad, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path)
    assert (tmp_path / training.CHECKPOINT).read_bytes() == before
    # A different config cannot resume from this checkpoint.
    other = training.FitConfig(**{**CONFIG.__dict__, "learning_rate": 1e-3})
    with pytest.raises(ValueError, match="different FitConfig"):
        training.fit(loss_fn, model, data, other, key=jax.random.key(1), checkpoint_dir=tmp_path)


def test_bad_configs_and_data():
    with pytest.raises(ValueError, match="compute_dtype"):
        training.FitConfig(steps=10, batch_size=4, compute_dtype="float16")
    model, data, loss_fn = regression_problem()
    with pytest.raises(ValueError, match="same first dimension"):
        training.fit(loss_fn, model, {"x": data["x"], "y": data["y"][:10]}, CONFIG, key=jax.random.key(0))


def test_bfloat16_compute_trains():
    model, data, loss_fn = regression_problem()
    config = training.FitConfig(**{**CONFIG.__dict__, "compute_dtype": "bfloat16"})
    result = training.fit(loss_fn, model, data, config, key=jax.random.key(1))
    assert result.loss[-1] < 0.2 * result.loss[0]
    assert all(a.dtype == np.float32 for a in leaves(result.model))  # master weights stay float32


TWO_DEVICE_SCRIPT = """
import jax, numpy as np, equinox as eqx, sys
sys.path.insert(0, {tests!r})
from test_training import regression_problem, CONFIG, leaves
from kellynotes import training
assert len(jax.local_devices()) == {devices}
model, data, loss_fn = regression_problem()
result = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1))
np.savez({out!r}, *leaves(result.model))
"""


def test_two_devices_match_one_device(tmp_path):
    outputs = {}
    for devices in (1, 2):
        out = tmp_path / f"devices{devices}.npz"
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
        script = TWO_DEVICE_SCRIPT.format(tests=str(ROOT / "tests"), devices=devices, out=str(out))
        subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT)
        outputs[devices] = np.load(out)
    # Sharding changes only the order of floating-point reductions (the gradient mean
    # over the batch): after 60 Adam steps the weights agree to ~1e-5 relative.
    for name in outputs[1].files:
        np.testing.assert_allclose(outputs[1][name], outputs[2][name], rtol=1e-4, atol=1e-5)


def test_scan_path_matches_the_stepwise_path():
    """The steps of a call run one compiled step at a time or in one lax.scan (FitConfig.loop).
    Both must train the same model (float32 rounding may differ in the last bits)."""
    model, data, loss_fn = regression_problem()
    stepwise = training.fit(loss_fn, model, data, replace(CONFIG, loop="steps"), key=jax.random.key(1))
    scanned = training.fit(loss_fn, model, data, replace(CONFIG, loop="scan"), key=jax.random.key(1))
    automatic = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1))
    for u, v, w in zip(leaves(stepwise.model), leaves(scanned.model), leaves(automatic.model)):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(v, w)  # an MLP is scanned, on any backend


def test_only_convolutions_on_cpu_run_step_by_step():
    mlp = eqx.nn.MLP(3, "scalar", 16, 2, key=jax.random.key(0))
    conv = [eqx.nn.Conv2d(1, 4, 3, key=jax.random.key(1)), eqx.nn.ConvTranspose2d(4, 1, 3, key=jax.random.key(2))]
    on_cpu = jax.default_backend() == "cpu"
    assert training.runs_step_by_step(CONFIG, conv) == on_cpu
    assert training.runs_step_by_step(CONFIG, conv[1:]) == on_cpu
    assert not training.runs_step_by_step(CONFIG, mlp)
    assert training.runs_step_by_step(replace(CONFIG, loop="steps"), mlp)
    assert not training.runs_step_by_step(replace(CONFIG, loop="scan"), conv)
    with pytest.raises(ValueError, match="FitConfig.loop"):
        replace(CONFIG, loop="python")


def held_out_loss():
    """A validation function: the mean squared error on held-out pairs of the regression problem."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5])).astype(np.float32)
    return eqx.filter_jit(lambda model: jnp.mean((jax.vmap(model)(x) - y) ** 2))


def test_validation_keeps_the_weights_with_the_lowest_validation_loss():
    model, data, loss_fn = regression_problem()
    validation = held_out_loss()
    result = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), validation=validation)
    np.testing.assert_array_equal(result.validation_steps, [0, 10, 20, 30, 40, 50, 60])
    best = len(result.validation_loss) - 1 - int(np.argmin(result.validation_loss[::-1]))  # the later on a tie
    assert result.selected_step == result.validation_steps[best]
    assert float(validation(result.best_model)) == result.validation_loss[best]  # the same weights
    plain = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1))
    for u, v in zip(leaves(plain.model), leaves(result.model)):  # validation does not change training
        np.testing.assert_array_equal(u, v)
    assert plain.best_model is None and plain.selected_step == -1 and plain.validation_loss.size == 0
    # A validation loss that prefers the initial weights keeps them.
    initial = leaves(model)
    stubborn = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1),
                            validation=lambda m: -validation(m))
    assert stubborn.selected_step == 0
    for u, v in zip(initial, leaves(stubborn.best_model)):
        np.testing.assert_array_equal(u, v)


def test_patience_stops_after_that_many_steps_without_a_new_lowest(tmp_path):
    model, data, loss_fn = regression_problem()
    validation = held_out_loss()
    full = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), validation=validation)
    # A validation loss that prefers the initial weights: nothing beats step 0, so a patience of 20
    # steps stops after the call that reaches step 20.
    stubborn = lambda m: -validation(m)  # noqa: E731
    stopped = training.fit(loss_fn, model, data, replace(CONFIG, patience=20), key=jax.random.key(1),
                           validation=stubborn, checkpoint_dir=tmp_path)
    assert stopped.loss_steps[-1] == 20 and stopped.selected_step == 0
    np.testing.assert_array_equal(stopped.validation_steps, [0, 10, 20])
    np.testing.assert_array_equal(stopped.loss, full.loss[:2])  # the same steps up to there
    # resuming a run that stopped trains no further
    again = training.fit(loss_fn, model, data, replace(CONFIG, patience=20), key=jax.random.key(1),
                         validation=stubborn, checkpoint_dir=tmp_path)
    assert again.resumed_from == 20 and again.loss_steps[-1] == 20
    # a patience longer than any stall changes nothing
    patient = training.fit(loss_fn, model, data, replace(CONFIG, patience=60), key=jax.random.key(1),
                           validation=validation)
    assert patient.loss_steps[-1] == CONFIG.steps and patient.selected_step == full.selected_step
    with pytest.raises(ValueError, match="FitConfig.patience must be an integer positive"):
        replace(CONFIG, patience=0)


def test_patience_runs_out_only_while_behind_the_reference():
    model, data, loss_fn = regression_problem()
    validation = held_out_loss()
    stubborn = lambda m: -validation(m)  # noqa: E731  (nothing beats step 0, as above)
    config = replace(CONFIG, patience=20)
    initial = float(stubborn(model))
    # a competitor that scores below the initial weights: the model is behind it and stops as without one
    behind = training.fit(loss_fn, model, data, config, key=jax.random.key(1), validation=stubborn,
                          patience_reference=initial - 1.0)
    assert behind.loss_steps[-1] == 20
    # a competitor the initial weights already beat (the later-tie rule: equal counts as beaten):
    # patience never runs out, all steps are trained
    for reference in (initial + 1.0, initial):
        ahead = training.fit(loss_fn, model, data, config, key=jax.random.key(1), validation=stubborn,
                             patience_reference=reference)
        assert ahead.loss_steps[-1] == CONFIG.steps and ahead.selected_step == 0
    with pytest.raises(ValueError, match="patience_reference must be a finite loss under a validation"):
        training.fit(loss_fn, model, data, config, key=jax.random.key(1), patience_reference=0.0)
    with pytest.raises(ValueError, match="patience_reference must be a finite loss"):
        training.fit(loss_fn, model, data, config, key=jax.random.key(1), validation=stubborn,
                     patience_reference=float("nan"))


def test_a_resumed_run_keeps_the_validation_history_and_best_weights(tmp_path):
    model, data, loss_fn = regression_problem()
    validation = held_out_loss()
    reference = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), validation=validation)

    def kill_at_40(step, loss):
        if step == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path,
                     callback=kill_at_40, validation=validation)
    resumed = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path,
                           validation=validation)
    assert resumed.resumed_from == 40 and resumed.selected_step == reference.selected_step
    np.testing.assert_array_equal(resumed.validation_loss, reference.validation_loss)
    np.testing.assert_array_equal(resumed.validation_steps, reference.validation_steps)
    for u, v in zip(leaves(reference.best_model), leaves(resumed.best_model)):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="with a validation function, this call is without one"):
        training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path)


def test_flop_count_matches_the_matrix_products_of_the_model():
    model, data, loss_fn = regression_problem()
    result = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(0))
    # MLP 3 -> 16 -> 16 -> 1: 2*(3*16 + 16*16 + 16*1) = 640 FLOPs per example forward; the backward pass
    # costs about twice that (XLA also counts biases, activations and the optimizer-free loss), so one step
    # of batch 32 is between 3x and 6x of 32 * 640 FLOPs.
    forward = 32 * 2 * (3 * 16 + 16 * 16 + 16 * 1)
    assert 3 * forward <= result.flops_per_step <= 6 * forward
    assert result.flops_per_s == pytest.approx(result.flops_per_step * result.steady_examples_per_s / 32)
    assert result.first_call_s > 0 and np.isfinite(result.steady_examples_per_s)


def test_a_model_of_the_same_shape_reuses_the_compiled_step():
    model, data, loss_fn = regression_problem()
    traces = []

    def counted_loss(model, batch, key):
        traces.append(1)  # runs only while JAX traces the step, i.e. on a compilation-cache miss
        return loss_fn(model, batch, key)

    training.fit(counted_loss, model, data, CONFIG, key=jax.random.key(1))
    first = len(traces)
    assert first > 0
    other = eqx.nn.MLP(3, "scalar", 16, 2, key=jax.random.key(7))  # same shapes, other weights and key
    result = training.fit(counted_loss, other, data, CONFIG, key=jax.random.key(2))
    assert len(traces) == first  # no new trace, so no new compilation (the FLOP count is reused too)
    assert result.loss[-1] < 0.2 * result.loss[0] and result.flops_per_step is not None


def test_arrays_outside_trainable_stay_fixed_and_uncast():
    model, data, loss_fn = regression_problem()
    last = model.layers[-1]
    frozen_bias = lambda m: m.layers[-1].bias  # noqa: E731
    spec = eqx.tree_at(frozen_bias, jax.tree.map(eqx.is_inexact_array, model), replace=False)
    config = training.FitConfig(**{**CONFIG.__dict__, "compute_dtype": "bfloat16"})
    seen = []

    def loss_seeing_the_bias(model, batch, key):
        seen.append(frozen_bias(model).dtype)
        return loss_fn(model, batch, key)

    result = training.fit(loss_seeing_the_bias, model, data, config, key=jax.random.key(1), trainable=spec)
    np.testing.assert_array_equal(frozen_bias(result.model), last.bias)
    np.testing.assert_array_equal(frozen_bias(result.ema_model), last.bias)
    assert not np.array_equal(result.model.layers[-1].weight, last.weight)  # the rest trained
    assert set(seen) == {np.dtype(np.float32)}  # the fixed array is not cast to bf16


def test_every_training_job_is_recorded_across_resumes(tmp_path):
    model, data, loss_fn = regression_problem()
    killed_at_step_40(tmp_path)
    resumed = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path)
    assert [(job["first_step"], job["last_step"]) for job in resumed.jobs] == [(0, 40), (40, 60)]
    assert resumed.total_wall_time_s == pytest.approx(sum(job["wall_time_s"] for job in resumed.jobs))
    assert resumed.total_wall_time_s > resumed.wall_time_s > 0
    # A complete checkpoint trains nothing and reports the jobs that trained it.
    again = training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path)
    assert again.resumed_from == 60 and again.jobs == resumed.jobs
    assert again.steady_examples_per_s == resumed.steady_examples_per_s
    assert again.flops_per_step == resumed.flops_per_step is not None


@pytest.mark.parametrize("field, value", [("steps", 0), ("batch_size", 2.5), ("warmup_steps", -1), ("steps", True)])
def test_config_counts_must_be_integers_in_range(field, value):
    with pytest.raises(ValueError, match=f"FitConfig.{field} must be an integer"):
        training.FitConfig(**{**dict(steps=10, batch_size=4), field: value})


def test_checkpoints_follow_calls_that_reach_a_multiple_of_checkpoint_every(tmp_path):
    """Calls of 15 steps end at 15, 30, 45, 60: the ones reaching 20, 40 (and the last) checkpoint. A run
    killed after the call ending at 45 resumes from 45 and ends as an uninterrupted run."""
    model, data, loss_fn = regression_problem()
    config = replace(CONFIG, steps_per_call=15, checkpoint_every=20)
    reference = training.fit(loss_fn, model, data, config, key=jax.random.key(1))
    saved_at = []

    def kill_at_45(step, loss):
        saved_at.append(json.loads((tmp_path / training.METADATA).read_text())["step"]
                        if (tmp_path / training.METADATA).exists() else None)
        if step == 45:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        training.fit(loss_fn, model, data, config, key=jax.random.key(1), checkpoint_dir=tmp_path, callback=kill_at_45)
    assert saved_at == [None, 30, 45]
    resumed = training.fit(loss_fn, model, data, config, key=jax.random.key(1), checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 45
    for u, v in zip(leaves(reference.model), leaves(resumed.model)):
        np.testing.assert_array_equal(u, v)


def test_checkpoints_resume_across_added_settings_and_refuse_torn_ones(tmp_path):
    model, data, loss_fn = regression_problem()
    killed_at_step_40(tmp_path)
    metadata = json.loads((tmp_path / training.METADATA).read_text())
    # A checkpoint written before `loop` and `count_flops` existed resumes (their defaults count).
    old = {**metadata, "config": {k: v for k, v in metadata["config"].items() if k not in ("loop", "count_flops")}}
    (tmp_path / training.METADATA).write_text(json.dumps(old))
    assert training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path,
                        callback=lambda step, loss: None).resumed_from == 40
    # Weights and record from different steps (a kill between the two writes) are refused.
    (tmp_path / training.METADATA).write_text(json.dumps({**metadata, "step": 20}))
    with pytest.raises(ValueError, match="inconsistent: its weights are at step 60, its record at step 20"):
        training.fit(loss_fn, model, data, CONFIG, key=jax.random.key(1), checkpoint_dir=tmp_path)
