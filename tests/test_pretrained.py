"""Pretrained weights files: export, reload, evaluation by name, the shipped files, bad input."""

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from neuralpde.cli import main
from neuralpde.config import ConfigError, with_fields
from neuralpde.registry import evaluate
from neuralpde.store.reading import open_store
from neuralpde.training.config import get_train_preset
from neuralpde.training.loop import train
from neuralpde.training.pretrained import available, load_pretrained, read_weights, write_weights
from neuralpde.training.runs import load_solver

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    """A 4-update LI run on the tiny data (validated: it has a best checkpoint)."""
    config = with_fields(get_train_preset("mini"), hidden=4, depth=1, unroll=2, batch_size=2,
                         steps=4, checkpoint_every=2, validate_every=2, validation_samples=1,
                         validation_horizon=0.2)
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


def test_shipped_weights_match_their_records_and_refuse_other_grids(tiny_data):
    assert {"li-mini", "tsm-hippo-mini"} <= set(available())
    test = open_store(Path(tiny_data) / "test.zarr")  # an 8² store
    for name in ("li-mini", "tsm-hippo-mini"):
        meta, _ = read_weights(REPO / "neuralpde" / "weights" / f"{name}.npz")
        assert meta["record"]["model_size"] == 32 and meta["record"]["preset"] == "mini"
        solver = load_pretrained(name)  # every array present with its shape
        assert solver.size == 32 and all(np.isfinite(x).all() for x in _leaves(solver))
        with pytest.raises(ConfigError, match=rf"pretrained weights {name}: they were trained "
                                              r"on a 32² grid, the store has 8²"):
            load_pretrained(name, test)


def test_bad_weights_give_one_line_and_exit_2(tiny_data, tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"'nope': not a shipped name; accepted a shipped name "
                                          r"\['li-mini', 'tsm-hippo-mini'\]"):
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
