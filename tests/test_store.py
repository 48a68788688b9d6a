"""Artifacts (kellynotes.store), atomic writes (kellynotes.atomic) and the command line (kellynotes.cli)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from kellynotes import atomic, cli, results, store


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


def test_git_commit_is_dirty_for_changed_code_not_for_rewritten_results(tmp_path):
    # A benchmark rewrites its artifact in results/ after every row: that must not mark the code that
    # measured the rows as uncommitted, while an edit anywhere else must.
    assert store.git_commit(tmp_path) is None  # not a checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "row.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, check=True, capture_output=True,
                          text=True).stdout.strip()
    assert store.git_commit(tmp_path) == store.git_commit(tmp_path / "results") == head
    (tmp_path / "results" / "row.json").write_text('{"value": 1}')
    (tmp_path / "results" / "new.json").write_text("{}")  # untracked
    assert store.git_commit(tmp_path) == head
    (tmp_path / "code.py").write_text("x = 2")
    assert store.git_commit(tmp_path / "results") == head + "-dirty"


def test_measured_elsewhere_names_rows_of_other_commits_and_rows_without_provenance():
    rows = [dict(task="a", provenance=dict(git_commit="abc")), dict(task="b", provenance=dict(git_commit="def")),
            dict(task="c")]
    assert [row["task"] for row in store.measured_elsewhere(rows, "abc")] == ["b", "c"]
    assert store.measured_elsewhere(rows[:1], "abc") == []


def test_save_rows_writes_the_columns_and_the_rows_own_wall_time(tmp_path):
    rows = [dict(key="a", value=0.5, seconds=2.0), dict(key="b", value=1.5, seconds=3.5)]
    store.save_rows(tmp_path / "sweep.json", rows, dict(steps=10), ("value", "seconds"))
    meta, arrays = store.load_artifact(tmp_path / "sweep.json")
    assert meta["name"] == meta["kind"] == "sweep" and meta["config"] == dict(steps=10)
    assert meta["results"]["rows"] == rows and sorted(arrays) == ["seconds", "value"]
    np.testing.assert_array_equal(arrays["value"], [0.5, 1.5])
    assert meta["provenance"]["wall_time_s"] == 5.5  # the rows' own times, not the time of this call


def test_refresh_rows_drops_only_selected_rows_of_other_commits():
    def fresh():
        return {key: dict(provenance=dict(git_commit=commit)) for key, commit in
                [("a", "abc"), ("b", "def"), ("c", "def")]}

    rows = fresh()
    assert store.refresh_rows(rows, {"a", "b"}, "abc", refresh=True) == "" and sorted(rows) == ["a", "c"]
    rows = fresh()
    kept = store.refresh_rows(rows, {"a", "b", "c"}, "abc", refresh=False)
    assert kept.startswith("2 stored rows") and "--refresh" in kept and sorted(rows) == ["a", "b", "c"]
    assert store.refresh_rows(fresh(), {"a"}, "abc", refresh=False) == ""
    kept = store.refresh_rows(fresh(), {"b"}, "abc", refresh=False)
    assert kept.startswith("1 stored row was measured") and "is kept" in kept and "measures it again" in kept


def test_measured_at_names_every_commit_of_the_rows():
    def row(commit, date):
        return dict(provenance=dict(git_commit=commit, date=f"{date}T01:00:00+00:00"))

    artifact = meta(git_commit="f" * 40, date="2026-12-07T02:00:00+00:00")
    artifact["results"] = dict(rows=[dict(value=1.0), dict(value=2.0)])  # rows stored without a provenance
    assert results.measured_at(artifact) == "commit fffffff, 2026-12-07"
    artifact["results"]["rows"] = [row("a" * 40 + "-dirty", "2026-12-06"), row("a" * 40 + "-dirty", "2026-12-07")]
    assert results.measured_at(artifact) == "commit aaaaaaa (uncommitted changes), 2026-12-06 to 2026-12-07"
    a, b = "a" * 40, "b" * 40
    artifact["results"]["rows"] = [row(a, "2026-12-06"), row(b, "2026-12-07"), row(a, "2026-12-06")]
    assert results.measured_at(artifact) == "commits aaaaaaa, 2026-12-06 (2 rows); bbbbbbb, 2026-12-07 (1 row)"


def test_source_note_wraps_the_commits_and_keeps_the_command_whole():
    def row(commit):
        return dict(provenance=dict(git_commit=commit * 40, date="2026-12-07T01:00:00+00:00"))

    artifact = meta(git_commit="f" * 40, date="2026-12-07T02:00:00+00:00", device="cpu: cpu")
    artifact["results"] = dict(rows=[row(c) for c in "abcd"])
    lines = results.source_note(artifact, "benchmark-mi-pairs", width=60).split("\n")
    assert all(len(line) <= 60 for line in lines[:-1]) and len(lines) >= 3  # four commits do not fit one line
    assert " ".join(lines[:-1]) == f"run on cpu: cpu, {results.measured_at(artifact)}"
    assert lines[-1] == "regenerate: python benchmarks/benchmark_mi_pairs.py"


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
