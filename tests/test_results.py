"""The results folder: nothing the package did not write is ever removed or replaced."""

import json
import shutil

import pytest

from neuralpde.cli import main
from neuralpde.config import ConfigError
from neuralpde.evaluation.external import rollout_dataset
from neuralpde.evaluation.results import (
    check_out_dir,
    check_replaceable,
    check_results_name,
    results_name,
    same_source,
)
from neuralpde.registry import solver_source
from neuralpde.store import open_store

HORIZON = ["--horizon", "0.2"]


def _evaluate(data, out, *solvers):
    argv = ["evaluate", "--data", str(data), "--out", str(out), *HORIZON]
    for solver in solvers:
        argv += ["--solver", solver]
    return main(argv)


def _rollout(data, path, solver):
    """A copy of the test store's own frames as an external rollout named ``solver``."""
    store = open_store(data / "test.zarr")
    frames = store.isel(time=slice(0, 5))
    rollout_dataset(store, u=frames.u.values, v=frames.v.values, solver=solver).to_zarr(path)
    return path


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("name", [".", "..", "", "../x", "a/b", ".hidden", "x" * 101, None])
def test_unsafe_results_names_are_refused(name):
    with pytest.raises(ConfigError, match="results folder"):
        check_results_name(name)


def test_outside_names_are_reduced_to_one_safe_component():
    assert results_name("my run") == "my_run"
    assert results_name("..hidden") == "hidden"
    assert results_name("a/b") == "a_b"
    with pytest.raises(ConfigError, match="cannot make a results-folder name"):
        results_name("..")


@pytest.mark.parametrize("attribute", [".", ".."])
def test_a_rollout_named_dot_or_dotdot_removes_nothing(tiny_data, tmp_path, attribute, capsys):
    """A `solver` attribute '.' wiped the rest of --out, '..' everything beside it."""
    out = tmp_path / "results"
    (out / "dns-8").mkdir(parents=True)
    (out / "dns-8" / "keep.txt").write_text("mine")
    (tmp_path / "thesis.tex").write_text("years of work")
    rollout = _rollout(tiny_data, tmp_path / "fno.zarr", attribute)
    before = _tree(tmp_path)
    assert _evaluate(tiny_data, out, f"file:{rollout}") == 0
    after = _tree(tmp_path)
    assert set(before) <= set(after)  # nothing removed
    assert (tmp_path / "thesis.tex").read_text() == "years of work"
    assert (out / "dns-8" / "keep.txt").read_text() == "mine"
    assert json.loads((out / "fno" / "summary.json").read_text())["solver"] == "fno"


def test_a_user_folder_named_like_the_solver_is_not_replaced(tiny_data, tmp_path, capsys):
    out = tmp_path / "results"
    (out / "fno").mkdir(parents=True)
    (out / "fno" / "NOTES.md").write_text("notes")
    rollout = _rollout(tiny_data, tmp_path / "fno.zarr", "fno")
    capsys.readouterr()
    assert _evaluate(tiny_data, out, f"file:{rollout}") == 2
    err = capsys.readouterr().err
    assert "not a results folder written by neuralpde" in err and "NOTES.md" in err
    assert (out / "fno" / "NOTES.md").read_text() == "notes"
    assert _tree(out) == ["fno", "fno/NOTES.md"]  # no temporary, no lock left behind


def test_results_with_a_stray_user_file_are_not_replaced(tiny_data, tmp_path, capsys):
    out = tmp_path / "results"
    assert _evaluate(tiny_data, out, "dns") == 0
    (out / "dns-8" / "NOTES.md").write_text("notes")
    assert _evaluate(tiny_data, out, "dns") == 2
    assert "NOTES.md" in capsys.readouterr().err
    assert (out / "dns-8" / "NOTES.md").exists() and (out / "dns-8" / "summary.json").exists()


def test_out_may_not_be_or_contain_the_data_folder(tiny_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    before = _tree(data)
    rollout = _rollout(data, tmp_path / "test.zarr", "test.zarr")
    for out in (data, tmp_path, data / "test.zarr", data / "test.zarr" / "results"):
        capsys.readouterr()
        assert _evaluate(data, out, f"file:{rollout}", "dns") == 2, out
        assert "go to a folder of their own" in capsys.readouterr().err  # results or outputs
    assert _tree(data) == before
    open_store(data / "test.zarr")  # still a whole store
    with pytest.raises(ConfigError):
        check_out_dir(data, data)
    assert check_out_dir(tmp_path / "results", data) == (tmp_path / "results").resolve()


def test_the_same_solver_spelled_two_ways_shares_its_folder(tiny_data, tmp_path):
    out = tmp_path / "results"
    assert _evaluate(tiny_data, out, "dns", "dns-8") == 2  # one solver given twice: refused
    assert not out.exists() or not any(out.iterdir())
    assert _evaluate(tiny_data, out, "dns-8") == 0
    assert _evaluate(tiny_data, out, "dns") == 0
    assert same_source("dns", "dns-8") and not same_source("run:/a/li", "run:/b/li")


def test_coarse_spellings_name_one_source():
    class Sub:
        name, a, b = "st-sub11-4", 1, 1

    plain = solver_source("run:runs/st#coarse", Sub())
    assert plain == solver_source("run:runs/st#coarse=1,1", Sub())
    assert plain.endswith("#coarse=1,1")


def test_only_a_results_folder_of_the_same_solver_is_replaceable(tmp_path):
    folder = tmp_path / "li"
    check_replaceable(folder, "run:/a/li")  # absent: fine
    folder.mkdir()
    check_replaceable(folder, "run:/a/li")  # empty: fine
    (folder / "summary.json").write_text(json.dumps({"solver": "other", "source": "run:/a/li"}))
    with pytest.raises(ConfigError, match="summary of 'other'"):
        check_replaceable(folder, "run:/a/li")
    (folder / "summary.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not a readable neuralpde summary"):
        check_replaceable(folder, "run:/a/li")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a results folder"):
        check_replaceable(tmp_path / "file", "dns-8")


def test_the_advice_for_a_folder_of_another_source_names_what_to_rename(tmp_path):
    """Another source of the same name: a run folder, a weights file or a rollout's `solver`
    attribute is what gives it another results folder name."""
    for source, other, rename in (
            ("run:/a/li", "run:/b/li", "rename the run folder"),
            ("pretrained:/w/tiny-li.npz", "pretrained:/other/tiny-li.npz",
             "rename the weights file"),
            ("file:/a/r.zarr", "file:/b/r.zarr", "rename the rollout's `solver` attribute")):
        folder = tmp_path / "x"
        folder.mkdir(exist_ok=True)
        (folder / "summary.json").write_text(json.dumps({"solver": "x", "source": source}))
        with pytest.raises(ConfigError, match="same solver name") as refused:
            check_replaceable(folder, other)
        assert str(refused.value).endswith(rename)


def test_compare_ignores_an_interrupted_evaluation(tiny_data, tmp_path):
    from neuralpde.evaluation.compare import load_results

    out = tmp_path / "results"
    assert _evaluate(tiny_data, out, "dns") == 0
    shutil.copytree(out / "dns-8", out / ".dns-8.writing-abc")  # killed just before the rename
    assert [row["solver"] for row in load_results(out)] == ["dns-8"]


# ---------------------------------------------------------------- the typed summary.json

#: A summary as `neuralpde evaluate` writes it today (the keys in their written order).
SUMMARY = {
    "solver": "dns-8", "kind": "dns", "size": 8, "model_size": 8, "preset": "mini",
    "n_samples": 2, "threshold": 0.8, "horizon": 0.2, "dt": 0.0125, "steps_per_frame": 4,
    "duration_of_mean": 0.2, "duration_mean": 0.2, "duration_std": 0.0, "duration_min": 0.2,
    "duration_max": 0.2, "latency_s_per_time_unit": 0.0123, "device": "cpu: cpu x1",
    "diverged_samples": 1, "diverged_times": [None, 0.15], "compared_on": "model grid",
    "reference": "/data/test.zarr", "source": "dns", "neuralpde_version": "0.1.0",
    "neuralpde_git_commit": "abc1234", "machine": "AMD EPYC (2 cores, Linux x86_64)",
}

#: A summary as the first `evaluate` wrote it: no compared_on, source or provenance.
OLD_SUMMARY = {k: v for k, v in SUMMARY.items()
               if k not in ("compared_on", "source", "neuralpde_version",
                            "neuralpde_git_commit", "machine")}


def test_a_summary_round_trips_to_the_same_json():
    from neuralpde.evaluation.summary import SUMMARY_FIELDS, ResultSummary

    summary = ResultSummary.from_dict(SUMMARY)
    assert summary.size == 8 and summary.diverged_times == (None, 0.15)
    assert summary.to_dict() == SUMMARY and list(summary.to_dict()) == list(SUMMARY)
    assert summary.to_json() == json.dumps(SUMMARY, indent=2) + "\n"  # byte for byte
    assert list(SUMMARY) == [f for f in SUMMARY_FIELDS if f != "skipped_metrics"]
    built = ResultSummary(**SUMMARY)  # as evaluate builds it: no skipped_metrics written
    assert built.to_json() == summary.to_json() and "skipped_metrics" in built.absent
    external = ResultSummary(**SUMMARY, skipped_metrics=["energy"])
    assert list(external.to_dict())[-1] == "skipped_metrics"
    assert external.to_dict()["skipped_metrics"] == ["energy"]
    assert ResultSummary.from_dict(external.to_dict()) == external


def test_an_old_summary_loads_and_is_tabled_as_written(tmp_path):
    from neuralpde.evaluation.compare import load_results
    from neuralpde.evaluation.summary import ResultSummary

    folder = tmp_path / "results" / "dns-8"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({**OLD_SUMMARY, "later_key": [1, 2]}))
    summary = ResultSummary.load(folder / "summary.json")
    assert summary.compared_on is None and "compared_on" in summary.absent
    assert summary.extra == {"later_key": [1, 2]}
    (row,) = load_results(tmp_path / "results")
    assert row == {**OLD_SUMMARY, "later_key": [1, 2], "results_path": str(folder)}
    minimal = {"solver": "x", "kind": "learned", "size": 8, "duration_of_mean": None}
    assert ResultSummary.from_dict(minimal).to_dict() == minimal


@pytest.mark.parametrize("field,value,accepted", [
    ("size", "eight", "an integer"), ("size", True, "an integer"),
    ("threshold", "0.8", "a number"),
    ("diverged_times", [0.1, "x"], "a list of times (numbers or null)"),
    ("latency_s_per_time_unit", "fast", "a number or null"), ("device", None, "a string")])
def test_a_summary_with_a_bad_field_is_refused_naming_the_file_and_the_field(
        tmp_path, field, value, accepted):
    from neuralpde.evaluation.compare import load_results
    from neuralpde.evaluation.summary import ResultSummary

    path = tmp_path / "results" / "dns-8" / "summary.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**SUMMARY, field: value}))
    message = f"{path}: field '{field}' is {value!r}: accepted {accepted}"
    with pytest.raises(ConfigError) as refused:
        ResultSummary.load(path)
    assert str(refused.value) == message
    with pytest.raises(ConfigError, match="field"):
        load_results(tmp_path / "results")  # compare refuses it the same way
    path.write_text(json.dumps({k: v for k, v in SUMMARY.items() if k != "kind"}))
    with pytest.raises(ConfigError, match=r"summary.json lacks the keys \[.kind.\]"):
        ResultSummary.load(path)
