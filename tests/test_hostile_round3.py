"""Issue 30, third hostile-input round: the cases a fresh attack found failing.

Each case is one line on standard error and exit status 2 (or a clean run
with a one-line warning where the package can mend what it wrote itself), and
nothing the user or the package wrote is lost.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neuralpde.cli import main
from neuralpde.config import ConfigError, with_fields
from neuralpde.training.config import get_train_preset

#: A tiny LI training run on the 8² tiny data, as the CLI gives it.
TRAIN = ["--hidden", "4", "--depth", "1", "--unroll", "2", "--batch-size", "2",
         "--validate-every", "0", "--validation-samples", "1", "--validation-horizon", "0.2",
         "--no-progress"]


def _one_line(capsys, starts: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.count("\n") == 0, err
    assert err.startswith(starts), err
    return err


def test_a_torn_metrics_line_is_dropped_on_resume(tiny_data, tmp_path, capsys):
    from neuralpde.training.loop import train
    from neuralpde.training.runs import read_metrics

    config = with_fields(get_train_preset("mini"), hidden=4, depth=1, unroll=2, batch_size=2,
                         steps=4, checkpoint_every=2, validate_every=0,
                         validation_samples=1, validation_horizon=0.2, log_every=1)
    run = tmp_path / "run"
    train(config, run, tiny_data, progress=False, stop_after=2)
    log = run / "metrics.jsonl"
    text = log.read_text()
    log.write_text(text + '{"step": 3, "loss": 0.0' + "\n" + "\x00garbage\n")  # a hard kill
    with pytest.warns(UserWarning, match=r"metrics.jsonl: 2 unreadable line\(s\) dropped"):
        summary = train(config, run, tiny_data, progress=False)
    assert summary.step == 4
    assert [row["step"] for row in read_metrics(run) if "loss" in row] == [1, 2, 3, 4]


def test_a_run_folder_may_not_be_or_hold_the_data_folder(tiny_data, tmp_path):
    """Train --out DATA used to write run.json and checkpoints among the stores."""
    from neuralpde.training.loop import train

    config = with_fields(get_train_preset("mini"), hidden=4, depth=1, unroll=2, batch_size=2,
                         steps=2, validate_every=0)
    before = sorted(p.name for p in Path(tiny_data).iterdir())
    for out in (tiny_data, Path(tiny_data).parent, Path(tiny_data) / "train.zarr" / "run"):
        with pytest.raises(ConfigError, match="a run goes to a folder of its own"):
            train(config, out, tiny_data, progress=False)
    assert sorted(p.name for p in Path(tiny_data).iterdir()) == before


def _interrupted_generation(tmp_path):
    """A train store stopped after its first block (resume record ``batch_00000.npz``) and the
    uninterrupted store of the same preset."""
    from conftest import tiny_preset
    from neuralpde.store.generate import generate_split

    preset = tiny_preset(n_samples=2, duration=0.8, initial_sizes=(), time_chunk=2)
    reference = generate_split(preset, "train", tmp_path / "reference" / "train.zarr",
                               progress=False)
    stopped = tmp_path / "stopped" / "train.zarr"
    generate_split(preset, "train", stopped, progress=False, stop_after_blocks=1)
    record = Path(str(stopped) + ".resume") / "batch_00000.npz"
    assert record.exists()
    return preset, reference, stopped, record


@pytest.mark.parametrize("damage", ["truncated", "nan", "count", "phase", "shape"])
def test_a_damaged_resume_record_restarts_its_batch_and_gives_the_same_store(tmp_path, damage):
    from neuralpde.store.generate import generate_split

    preset, reference, stopped, record = _interrupted_generation(tmp_path)
    if damage == "truncated":
        record.write_bytes(record.read_bytes()[:100])
    else:
        with np.load(record) as data:
            arrays = dict(data)
        if damage == "nan":
            arrays["state"] = np.full_like(arrays["state"], np.nan)
        elif damage == "count":
            arrays["count"] = np.array(10 ** 9)
        elif damage == "shape":  # a finite state of another grid (was: a misleading grid error)
            arrays["state"] = np.ascontiguousarray(arrays["state"][..., ::2, ::2])
        else:
            arrays["phase"] = np.array("elsewhere")
        np.savez(record, **arrays)
    with pytest.warns(UserWarning, match=r"batch_00000.npz (is damaged|holds a state of "
                                         r"another shape).*: batch 0 starts again"):
        generate_split(preset, "train", stopped, progress=False)
    with xr.open_zarr(reference, consolidated=False) as a, \
            xr.open_zarr(stopped, consolidated=False) as b:
        assert b.attrs["complete"]
        np.testing.assert_array_equal(a.u.values, b.u.values)
        np.testing.assert_array_equal(a.v.values, b.v.values)


@pytest.mark.parametrize("option,value", [("--steps", str(10 ** 23)),
                                          ("--batch-size", str(10 ** 20)),
                                          ("--batch-size", str(2 ** 31 - 2))])
def test_huge_steps_or_batch_are_refused_before_the_run_folder(tiny_data, tmp_path, capsys,
                                                               option, value):
    run = tmp_path / "run"
    argv = ["train", "--data", str(tiny_data), "--out", str(run), "--steps", "2", *TRAIN,
            option, value]
    assert main(argv) == 2
    err = _one_line(capsys, f"neuralpde train: error: invalid {option[2:].replace('-', '_')}=")
    assert value in err
    assert not run.exists()  # the corrected command is not refused as "a different run"


def _run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints" / "last" / "2").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    return run


def test_an_out_inside_a_store_resume_folder_or_checkpoints_is_refused(tiny_data, tmp_path,
                                                                        capsys):
    store = tiny_data / "test.zarr"
    run = _run_folder(tmp_path)
    resume = tmp_path / "data" / "train.zarr.resume"
    resume.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(store)
    cases = [
        (["train", "--data", str(tiny_data), "--out", str(store / "run"), *TRAIN],
         "the zarr store"),
        (["evaluate", "--data", str(tiny_data), "--solver", "dns", "--out", str(link)],
         "the zarr store"),
        (["evaluate", "--data", str(tiny_data), "--solver", "dns",
          "--out", str(run / "checkpoints" / "last" / "2")], "the checkpoints folder"),
        (["evaluate", "--data", str(tiny_data), "--solver", "dns", "--out", str(resume / "r")],
         "the resume folder"),
        (["export", str(store), str(store / "x.nc")], "the zarr store"),
    ]
    before = sorted(p.name for p in store.iterdir())
    for argv, where in cases:
        assert main(argv) == 2
        err = _one_line(capsys, f"neuralpde {argv[0]}: error: --out ")
        assert f"lies inside {where}" in err and "go to a folder of their own" in err
    assert sorted(p.name for p in store.iterdir()) == before
    assert sorted(p.name for p in (run / "checkpoints" / "last" / "2").iterdir()) == []
    assert list(resume.iterdir()) == []


def test_export_does_not_replace_a_file_it_did_not_write(tiny_data, tmp_path, capsys):
    target = tmp_path / "mine.nc"
    target.write_text("precious\n")
    assert main(["export", str(tiny_data / "test.zarr"), str(target)]) == 2
    err = _one_line(capsys, "neuralpde export: error: ")
    assert "is not a netCDF file written by `neuralpde export`: nothing was changed" in err
    assert target.read_text() == "precious\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.nc"]


def test_quickstart_refuses_a_file_where_it_writes_a_folder(tmp_path, capsys):
    out = tmp_path / "qs"
    out.mkdir()
    (out / "data").write_text("mine\n")
    assert main(["quickstart", "--out", str(out), "--no-progress"]) == 2
    err = _one_line(capsys, "neuralpde quickstart: error: ")
    assert f"{out / 'data'} is an existing file where the quickstart writes its folder" in err
    assert sorted(p.name for p in out.iterdir()) == ["data"]
    assert (out / "data").read_text() == "mine\n"


def test_import_refuses_integer_velocities(tiny_data, tmp_path, capsys):
    source = tmp_path / "ints.nc"
    assert main(["export", str(tiny_data / "test.zarr"), str(source)]) == 0
    with xr.open_dataset(source) as ds:
        ints = ds[["u", "v"]].load()
        ints.attrs = dict(ds.attrs)
    ints["u"] = ints.u.astype("int32")
    bad = tmp_path / "bad.nc"
    ints.to_netcdf(bad)
    capsys.readouterr()
    out = tmp_path / "imported"
    assert main(["import", str(bad), "--out", str(out), "--preset", "mini"]) == 2
    err = _one_line(capsys, "neuralpde import: error: ")
    assert "u holds int32 values: accepted floating-point velocities" in err
    assert not out.exists()


def test_a_huge_generation_batch_is_refused_before_any_store(tmp_path, capsys):
    """`generate --batch-size 100000` (was an XLA out-of-memory traceback and a store that
    refused the corrected command): one line naming the accepted range, nothing written."""
    argv = ["generate", "--preset", "quickstart", "--out", str(tmp_path / "data"), "--split",
            "test", "--samples", "2", "--batch-size", "100000", "--no-progress"]
    assert main(argv) == 2
    _one_line(capsys, "neuralpde generate: error: invalid batch_size=100000")
    assert not (tmp_path / "data").exists()


def test_out_of_memory_during_generation_fails_the_store_and_the_fix_replaces_it(
        tmp_path, monkeypatch, capsys):
    """An out-of-memory error while generating (XLA's 'Out of memory allocating' or a host
    MemoryError) marks the incomplete store failed (one line, exit 2), so the command with a
    smaller batch replaces it instead of refusing it as another configuration."""
    import neuralpde.store.kernels as generation

    argv = ["generate", "--preset", "mini", "--out", str(tmp_path), "--split", "test",
            "--model-size", "8", "--fine-size", "32", "--initial-sizes", "--samples", "2",
            "--duration", "0.3", "--warmup", "0.3", "--history", "2", "--no-progress"]

    def no_memory(*args, **kwargs):
        raise MemoryError("Out of memory allocating 99999999999 bytes")

    monkeypatch.setattr(generation.SplitKernels, "initial", property(no_memory))
    generation.split_kernels.cache_clear()
    assert main([*argv, "--batch-size", "2"]) == 2
    err = _one_line(capsys, "neuralpde generate: error: out of memory")
    assert "marked failed" in err
    monkeypatch.undo()
    generation.split_kernels.cache_clear()
    assert main([*argv, "--batch-size", "1"]) == 0
    assert xr.open_zarr(tmp_path / "test.zarr", consolidated=False).attrs["complete"]


def test_an_unknown_xla_flag_is_one_line_naming_it(tmp_path):
    """XLA_FLAGS with a flag XLA does not know (was an abort from C++, exit 1): one line
    naming the flag, exit 2; a valid XLA_FLAGS passes (the probe is skipped once checked)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XLA_FLAGS": "--xla_bogus_flag=7"}
    env.pop("NEURALPDE_XLA_FLAGS_CHECKED", None)
    argv = [sys.executable, "-m", "neuralpde.cli", "generate", "--preset", "quickstart", "--out",
            str(tmp_path / "data"), "--split", "test", "--samples", "1", "--duration", "0.1",
            "--no-progress"]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--xla_bogus_flag=7" in lines[0] and "XLA_FLAGS" in lines[0]
    assert not (tmp_path / "data").exists()
