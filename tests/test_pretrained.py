"""Pretrained weights files: export, reload, evaluation by name, model cards, the shipped files,
bad input."""

import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

import neuralpde
from neuralpde.cli import main
from neuralpde.config import ConfigError, with_fields
from neuralpde.registry import evaluate
from neuralpde.solvers.base import history_frames
from neuralpde.solvers.rollout import rollout, steps_per_frame
from neuralpde.store.reading import initial_inputs, open_store
from neuralpde.training.checkpoint import Checkpoints
from neuralpde.training.config import get_train_preset
from neuralpde.training.loop import train
from neuralpde.training.pretrained import (
    available,
    load_pretrained,
    read_weights,
    update_seconds,
    weights_card,
    write_weights,
)
from neuralpde.training.runs import load_solver, read_metrics, read_record

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A 4-update LI run on the tiny data (validated: it has a best checkpoint; every update
    logged, so that its log has intervals free of compilation and validation)."""
    config = with_fields(get_train_preset("mini"), hidden=4, depth=1, unroll=2, batch_size=2,
                         steps=4, checkpoint_every=2, validate_every=2, validation_samples=1,
                         validation_horizon=0.2, log_every=1, seed=3)
    out = tmp_path_factory.mktemp("runs") / "li"
    train(config, out, tiny_data, progress=False)
    return out


def _leaves(solver):
    return [np.asarray(x) for x in jax.tree.leaves(solver.params)]


def test_exported_weights_reload_and_score_as_the_run(run, tiny_data, tmp_path):
    path = tmp_path / "w" / "tiny-li.npz"
    meta = write_weights(run, path)
    assert meta["provenance"]["checkpoint"] == "best" and meta["record"]["kind"] == "li"
    assert meta["record"]["data"] == Path(tiny_data).name  # no machine path inside the file
    assert not list(path.parent.glob("*.tmp"))
    test = open_store(Path(tiny_data) / "test.zarr")
    solver = load_pretrained(path, test)
    assert solver.name == "pretrained-tiny-li"
    for a, b in zip(_leaves(solver), _leaves(load_solver(run, test))):
        np.testing.assert_array_equal(a, b)
    rows = evaluate([f"pretrained:{path}", f"run:{run}"], tiny_data, tmp_path / "results")
    assert [r["solver"] for r in rows] == ["pretrained-tiny-li", "li"]
    with xr.open_dataset(tmp_path / "results" / "pretrained-tiny-li" / "metrics.nc") as a, \
            xr.open_dataset(tmp_path / "results" / "li" / "metrics.nc") as b:
        np.testing.assert_array_equal(a["correlation"].values, b["correlation"].values)


def test_the_loaded_solver_equals_the_run_it_was_exported_from(run, tiny_data, tmp_path):
    """Every parameter bit for bit, the same tree, and the same rollout frames."""
    path = tmp_path / "tiny-li.npz"
    write_weights(run, path)
    test = open_store(Path(tiny_data) / "test.zarr")
    loaded, trained = load_pretrained(path, test), load_solver(run, test)  # the best checkpoint
    assert jax.tree.structure(loaded.params) == jax.tree.structure(trained.params)
    for a, b in zip(_leaves(loaded), _leaves(trained)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    size, frame_dt = int(test.attrs["model_size"]), float(test.attrs["frame_dt"])
    domain = float(test.attrs["domain_size"])
    frames = []
    for solver in (loaded, trained):
        uv0 = initial_inputs(test, size, 2, history=history_frames(solver))
        frames.append(rollout(solver, uv0, 3, steps_per_frame(solver, frame_dt), size,
                              domain).frames)
    assert np.isfinite(frames[0]).all() and np.array_equal(frames[0], frames[1])


def test_the_model_card_says_what_the_weights_are_and_how_they_were_made(run, tiny_data,
                                                                         tmp_path):
    path = tmp_path / "tiny-li.npz"
    written = write_weights(run, path)
    meta, _ = read_weights(path)
    card = meta["card"]
    assert card == written["card"] and weights_card(path) == (card, True)
    record, train_store = read_record(run), open_store(Path(tiny_data) / "train.zarr")
    assert card["model"] == "li" and card["run"] == "li" and card["seed"] == 3
    assert card["recipe"]["steps"] == 4 and card["recipe"]["batch_size"] == 2
    assert card["recipe"]["unroll"] == 2 and card["recipe"]["optimizer"] == "adamw"
    assert card["recipe"]["peak_lr"] == get_train_preset("mini").peak_lr
    assert {k: card["recipe"]["model"][k] for k in ("hidden", "depth")} == {"hidden": 4,
                                                                           "depth": 1}
    assert "prefix" not in card["recipe"]["model"]  # an LI model has no TSM fields
    assert card["data"] == {
        "preset": train_store.attrs["preset"], "folder": Path(tiny_data).name,
        "reference_solver": "fv", "fine_size": int(train_store.attrs["fine_size"]),
        "model_size": int(train_store.attrs["model_size"]),
        "train_trajectories": train_store.sizes["sample"],
        "trajectories_in_store": train_store.sizes["sample"]}
    checkpoints = Checkpoints(run, 3)
    try:
        best = checkpoints.best_step()
    finally:
        checkpoints.close()
    validations = [r["validation_duration"] for r in read_metrics(run)
                   if "validation_duration" in r]
    assert card["checkpoint"] == {"which": "best", "step": best,
                                  "best_validation_duration": max(validations)}
    assert card["trained_on"] == neuralpde.machine() == record["machine"]
    assert card["device"] == record["device"] and card["device"].startswith("cpu")
    assert card["neuralpde"] == {"version": neuralpde.__version__,
                                 "git_commit": neuralpde.provenance()["neuralpde_git_commit"]}
    # the updates at their logged rates: intervals holding the first update's compilation
    # (0, 1] or a validation (at step 2: (2, 3]) are counted at the median of the others
    rates = {r["step"]: r["steps_per_s"] for r in read_metrics(run) if "steps_per_s" in r}
    assert sorted(rates) == [1, 2, 3, 4]
    typical = float(np.median([rates[2], rates[4]]))
    assert card["update_seconds"] == pytest.approx(1 / rates[2] + 1 / rates[4] + 2 / typical)
    # a train set cut to fewer trajectories is what the card counts
    cut = {**record, "train_config": {**record["train_config"], "train_trajectories": 1}}
    from neuralpde.training.pretrained import model_card

    assert model_card(cut, meta["provenance"])["data"]["train_trajectories"] == 1
    assert model_card(cut, meta["provenance"])["update_seconds"] is None  # no metrics given


def test_update_seconds_leaves_out_compilation_and_validation():
    rows = [{"step": 1, "steps_per_s": 0.01}, {"step": 11, "steps_per_s": 2.0},
            {"step": 21, "steps_per_s": 4.0}, {"step": 25, "validation_duration": 1.0},
            {"step": 31, "steps_per_s": 0.1}, {"step": 41, "steps_per_s": 1.0}]
    # (0, 1]: compilation; (21, 31]: a validation at 25; both at the median of 2, 4, 1 (2.0)
    assert update_seconds(rows) == pytest.approx(1 / 2 + 10 / 2 + 10 / 4 + 10 / 2 + 10 / 1)
    assert update_seconds([{"step": 1, "steps_per_s": 3.0}]) is None  # nothing measurable
    assert update_seconds([]) is None


def test_neuralpde_pretrained_prints_the_cards(run, tmp_path, capsys):
    path = tmp_path / "tiny-li.npz"
    card = write_weights(run, path)["card"]
    assert main(["pretrained", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path} (") and "  seed:         3" in out
    assert f"  trained on:   {neuralpde.machine()}" in out and "compilation and validation" in out
    assert "card:" not in out  # the card is the file's own
    assert main(["pretrained", "--json", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {str(path): {"file": str(path), "card_in_file": True, "card": card}}
    assert main(["pretrained"]) == 0  # the shipped ones, each with its card
    out = capsys.readouterr().out
    for name in available():
        assert f"\n{name}: " in f"\n{out}"
    assert "card:         none in the file" not in out
    assert main(["pretrained", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(available())


def test_neuralpde_pretrained_refuses_a_bad_name_in_one_line(tmp_path, capsys):
    (tmp_path / "foreign.npz").write_bytes(b"not a zip file")
    for name, why in (("nope", "not a shipped name"), (str(tmp_path / "x.npz"), "no such file"),
                      (str(tmp_path / "foreign.npz"), "not a neuralpde weights file")):
        assert main(["pretrained", name]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith("neuralpde pretrained: error: ") and why in captured.err
        if why != "not a neuralpde weights file":
            assert name in captured.err and str(available()) in captured.err


def test_neuralpde_pretrained_starts_no_jax_backend():
    code = ("from neuralpde.cli import main; assert main(['pretrained']) == 0; "
            "from jax._src import xla_bridge; print(len(xla_bridge._backends))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0"


def test_weights_written_before_cards_still_load(run, tiny_data, tmp_path):
    """A file without a card (written before cards existed) loads as before; its card is
    derived from its run record."""
    path = tmp_path / "new.npz"
    write_weights(run, path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: np.asarray(data[key]) for key in data.files}
    meta = json.loads(str(arrays["__meta__"]))
    del meta["card"]
    for key in ("machine", "device"):
        del meta["record"][key]  # as a run made before they were recorded
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **arrays)
    test = open_store(Path(tiny_data) / "test.zarr")
    for a, b in zip(_leaves(load_pretrained(tmp_path / "old.npz", test)),
                    _leaves(load_pretrained(path, test))):
        assert np.array_equal(a, b)
    card, stored = weights_card(tmp_path / "old.npz")
    assert not stored and card["trained_on"] == card["device"] == "not recorded"
    assert card["seed"] == 3


def test_shipped_weights_match_their_records_and_refuse_other_grids(tiny_data):
    assert set(available()) == {"li-mini", "tsm-hippo-mini", "tsm-cnn-mini"}
    test = open_store(Path(tiny_data) / "test.zarr")  # an 8² store
    for name in available():
        meta, _ = read_weights(REPO / "neuralpde" / "weights" / f"{name}.npz")
        assert meta["record"]["model_size"] == 32 and meta["record"]["preset"] == "mini"
        # the card: the mini data on the pseudo-spectral reference, its 8 train trajectories,
        # the mini recipe, the kind the name says
        card = meta["card"]
        assert card["model"] == name.removesuffix("-mini") and card["seed"] == 0
        assert card["data"]["reference_solver"] == "spectral"
        assert card["data"]["train_trajectories"] == 8
        # the mini training preset (the recipe the budget study chose), seed 0, on this machine
        # class: the card names the machine it was trained on
        mini = get_train_preset("mini", card["model"])
        assert card["recipe"]["steps"] == mini.steps == 1000
        assert card["recipe"]["unroll"] == mini.unroll == 16
        assert card["recipe"]["model"]["hidden"] == mini.model.hidden == 64
        assert "not recorded" not in (card["trained_on"], card["neuralpde"]["git_commit"])
        solver = load_pretrained(name)  # every array present with its shape
        assert solver.size == 32 and all(np.isfinite(x).all() for x in _leaves(solver))
        with pytest.raises(ConfigError, match=rf"pretrained weights {name}: they were trained "
                                              r"on a 32² grid, the store has 8²"):
            load_pretrained(name, test)


def test_bad_weights_give_one_line_and_exit_2(tiny_data, tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"'nope': not a shipped name; accepted a shipped name "
                                          r"\['li-mini', 'tsm-cnn-mini', 'tsm-hippo-mini'\]"):
        load_pretrained("nope")
    damaged = tmp_path / "damaged.npz"
    shipped = (REPO / "neuralpde" / "weights" / "li-mini.npz").read_bytes()
    for content in (b"", b"not a zip file", shipped[: len(shipped) // 2]):
        damaged.write_bytes(content)
        with pytest.raises(ConfigError, match=r"damaged.npz is not a neuralpde weights file "
                                              r"\(not an .npz archive"):
            load_pretrained(damaged)
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(ConfigError, match=r"foreign.npz is not a neuralpde weights file"):
        load_pretrained(tmp_path / "foreign.npz")
    np.savez(tmp_path / "edited.npz", __meta__=np.array('{"format": 1, "record": {"kind": "li"}}'))
    with pytest.raises(ConfigError, match=r"edited.npz: its run record lacks \['train_config'"):
        load_pretrained(tmp_path / "edited.npz")
    out = tmp_path / "results"
    for solver in ("pretrained:nope", f"pretrained:{damaged}", "pretrained:li-mini"):
        assert main(["evaluate", "--data", str(tiny_data), "--out", str(out),
                     "--solver", solver]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())



def test_non_finite_weights_are_refused_as_a_damaged_file(tiny_data, tmp_path, capsys):
    """A NaN or inf weight is a damaged file (one line naming it), not a model that diverged."""
    with np.load(REPO / "neuralpde" / "weights" / "li-mini.npz", allow_pickle=False) as data:
        arrays = {key: np.asarray(data[key]) for key in data.files}
    key = next(k for k in arrays if k != "__meta__")
    for value, name in ((np.nan, "nan.npz"), (np.inf, "inf.npz")):
        edited = dict(arrays, **{key: arrays[key].copy()})
        edited[key].flat[0] = value
        np.savez(tmp_path / name, **edited)
        with pytest.raises(ConfigError, match=rf"{name}: weight .* holds a non-finite value"):
            load_pretrained(tmp_path / name)
    out = tmp_path / "results"
    assert main(["evaluate", "--data", str(tiny_data), "--out", str(out), "--solver",
                 f"pretrained:{tmp_path / 'nan.npz'}", "--transfer", "--horizon", "0.2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nan.npz" in err and "non-finite value" in err
    assert not out.exists() or not any(out.iterdir())

def _shipped_arrays() -> dict:
    with np.load(REPO / "neuralpde" / "weights" / "li-mini.npz", allow_pickle=False) as data:
        return {key: np.asarray(data[key]) for key in data.files}


def test_an_unreadable_weights_file_is_reported_as_unreadable(tmp_path, capsys, monkeypatch):
    """A weights file without read permission is "cannot read ...: permission denied", not
    "not an .npz archive" (as root, where the mode does not stop reading, opening is made to
    fail as it would)."""
    import builtins

    import neuralpde.training.pretrained as pretrained

    path = tmp_path / "noperm.npz"
    np.savez(path, **_shipped_arrays())
    path.chmod(0)
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        pass
    else:  # root: reading is allowed whatever the mode
        def refused(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return builtins.open(file, *args, **kwargs)

        monkeypatch.setattr(pretrained, "open", refused, raising=False)
    try:
        with pytest.raises(ConfigError, match=rf"cannot read {path}: permission denied"):
            read_weights(path)
        assert main(["pretrained", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot read {path}: permission denied" in err
        assert "not an .npz archive" not in err
    finally:
        path.chmod(0o644)


def test_a_path_that_is_not_an_npz_file_is_not_called_an_unknown_name(tmp_path):
    (tmp_path / "arr.npy").write_bytes(b"x")
    (tmp_path / "li-mini").write_bytes(b"x")
    for name, why in ((tmp_path / "arr.npy", "not a .npz file"),
                      (tmp_path / "li-mini", "not a .npz file"),
                      (tmp_path, "is a directory"), (tmp_path / "d.npz", "no such file")):
        if why == "no such file":
            name.mkdir()
            why = "is a directory"
        with pytest.raises(ConfigError, match=rf"'{name}': {why}; accepted a shipped name"):
            load_pretrained(name)


def test_control_characters_in_a_card_or_a_path_are_printed_escaped(run, tmp_path, capsys):
    path = tmp_path / "esc.npz"
    write_weights(run, path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: np.asarray(data[key]) for key in data.files}
    meta = json.loads(str(arrays["__meta__"]))
    meta["card"]["run"] = "li\x1b[2J\x1b[31mPWNED\nfake: line"
    arrays["__meta__"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    assert main(["pretrained", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "PWNED\nfake" not in out
    assert "run folder li\\x1b[2J\\x1b[31mPWNED\\nfake: line)" in out
    bad = tmp_path / "bad\x1b[31m\nname.npz"
    bad.write_bytes(b"not a zip file")
    assert main(["pretrained", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err
    assert "bad\\x1b[31m\\nname.npz is not a neuralpde weights file" in err


def test_weights_of_another_dtype_are_refused_naming_the_array(tmp_path):
    """Parameters are float32: an int32 array is a damaged or hand-edited file, not a model."""
    arrays = _shipped_arrays()
    key = next(k for k in arrays if k != "__meta__")
    np.savez(tmp_path / "intw.npz", **dict(arrays, **{key: arrays[key].astype(np.int32)}))
    with pytest.raises(ConfigError, match=rf"intw.npz: array {re.escape(key)} holds int32 "
                                          r"values: accepted float32"):
        load_pretrained(tmp_path / "intw.npz")


def test_weights_missing_an_array_name_it(tmp_path):
    arrays = _shipped_arrays()
    key = next(k for k in arrays if k != "__meta__")
    extra = {k: v for k, v in arrays.items() if k != key}
    np.savez(tmp_path / "missingw.npz", **extra, stray=np.zeros(2, np.float32))
    with pytest.raises(ConfigError, match=rf"missingw.npz: its arrays do not match .*: missing "
                                          rf"{re.escape(key)}; unexpected stray"):
        load_pretrained(tmp_path / "missingw.npz")


def test_export_script_refuses_bad_pairs_and_writes_nothing(run, tmp_path):
    script = REPO / "experiments" / "export_pretrained.py"
    (tmp_path / "a-file").write_text("")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "taken.npz").write_bytes(b"keep me")
    for args in (["no-equals-sign"], [f"{tmp_path}=x"], [f"{run}=a/b"], [f"{run}=x.npz"],
                 [f"{run}=taken"], [f"{run}=x", "--out", str(tmp_path / "a-file")],
                 [f"{run}=twice", f"{run}=twice"]):
        done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "w"), *args],
                              capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert [p.name for p in (tmp_path / "w").iterdir()] == ["taken.npz"]
    assert (tmp_path / "w" / "taken.npz").read_bytes() == b"keep me"  # not replaced without --force
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "w"),
                           f"{run}=tiny"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()  # the file, its size and its card in one line
    assert line.startswith(f"{tmp_path / 'w' / 'tiny.npz'}: ")
    assert "li, seed 3, best checkpoint" in line and f"trained on {neuralpde.machine()}" in line
