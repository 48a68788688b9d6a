"""Artifacts (kellynotes.store), atomic writes (kellynotes.atomic) and the command line (kellynotes.cli)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from kellynotes import atomic, cli, store


def meta(**provenance):
    stamp = dict(package_version="0", git_commit="abc", device="cpu: cpu", wall_time_s=1.0, date="2026-12-06")
    return dict(name="toy", kind="toy", config={}, results=dict(value=1.5), training={},
                provenance={**stamp, **provenance})


def test_save_and_load_round_trip(tmp_path):
    arrays = dict(curve=np.linspace(0, 1, 5), grid=np.arange(6, dtype=np.uint8).reshape(2, 3))
    path = store.save_artifact(tmp_path / "sub" / "toy.json", meta(), arrays)
    loaded, again = store.load_artifact(path)
    assert loaded == json.loads(json.dumps(meta()))
    assert again.keys() == arrays.keys()
    for name in arrays:
        np.testing.assert_array_equal(again[name], arrays[name])
        assert again[name].dtype == arrays[name].dtype
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.json", "toy.npz"]  # no temporary left


@pytest.mark.parametrize("section, key", [(None, "results"), ("provenance", "git_commit")])
def test_schema_violations_are_named_on_save(tmp_path, section, key):
    record = meta()
    del (record if section is None else record[section])[key]
    with pytest.raises(ValueError, match=key):
        store.save_artifact(tmp_path / "toy.json", record, {})
    assert not list(tmp_path.iterdir())  # nothing written


def test_load_names_a_missing_array_file(tmp_path):
    path = store.save_artifact(tmp_path / "toy.json", meta(), dict(a=np.zeros(2)))
    path.with_suffix(".npz").unlink()
    with pytest.raises(ValueError, match="no array file toy.npz"):
        store.load_artifact(path)


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "file.txt"
    atomic.atomic_write_text(path, "old")

    def dies(file):
        file.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.atomic_write(path, dies)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_uint8_images_round_the_pixel_range():
    np.testing.assert_array_equal(store.to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 3.0])), [0, 0, 128, 255, 255])


def test_provenance_has_the_schema_fields():
    stamp = store.provenance(12.345)
    assert set(store.PROVENANCE_KEYS) <= set(stamp) and stamp["wall_time_s"] == 12.3


def test_the_catalogue_loads_without_jax():
    # results is what the book imports to read stored numbers: it must not pull in JAX or run training code.
    code = "import sys, kellynotes.results as r; r.load('benchmark-mi'); print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_cli_wiring_names_every_experiment():
    for name in cli.EXPERIMENTS:
        args = cli.parse_arguments(["run", name, "--dataset", "digits", "--quick"])
        assert args.experiment == name and callable(cli.handler(name))
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        cli.handler("nope")
    with pytest.raises(SystemExit):
        cli.parse_arguments(["run", "nope"])
