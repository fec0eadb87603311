"""Faults underneath a command: interrupts, a second writer, a full or read-only disk.

Each case ends in one line on standard error and a status (2: the user's to fix;
128 + signal: stopped by a signal), and the corrected command then runs.
"""

import errno
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neuralpde.cli import main
from neuralpde.outputs import OutputBusyError, exclusive, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
#: A tiny three-split generation (8² from 32²), as the CLI gives it.
GENERATE = ["--model-size", "8", "--fine-size", "32", "--samples", "2", "--duration", "0.8",
            "--warmup", "0.3", "--history", "4", "--initial-sizes", "--time-chunk", "2",
            "--batch-size", "2"]


class _SignallingBar:
    """A stand-in progress bar that sends this process ``signum`` once it reaches ``at``."""

    def __init__(self, at, signum, initial=0):
        self.n, self.at, self.signum, self.sent = initial, at, signum, False

    def update(self, n=1):
        self.n += n
        if self.n >= self.at and not self.sent:
            self.sent = True
            signal.raise_signal(self.signum)

    def set_postfix(self, **values):
        pass

    def close(self):
        pass


def _stores(folder):
    return {split: xr.open_zarr(folder / f"{split}.zarr", consolidated=False).load()
            for split in ("train", "validation", "test")}


def test_sigterm_stops_generation_at_a_block_and_the_rerun_gives_the_uninterrupted_stores(
        tmp_path, monkeypatch, capsys):
    from neuralpde.store import generate

    reference = tmp_path / "reference"
    assert main(["generate", "--out", str(reference), "--no-progress", *GENERATE]) == 0
    out = tmp_path / "stopped"
    argv = ["generate", "--out", str(out), *GENERATE]
    # a scheduler's SIGTERM in the validation split (the bar counts model steps of one split)
    bars = []

    def bar(enabled, total, description, unit="step", initial=0):
        first = description.startswith("validation") and not any(  # once: not in the rerun
            b.at == 10 for b in bars)
        bars.append(_SignallingBar(10 if first else 10 ** 9, signal.SIGTERM, initial))
        return bars[-1]

    monkeypatch.setattr(generate, "progress_bar", bar)
    assert main(argv) == 143
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == (f"neuralpde generate: stopped while generating {out / 'validation.zarr'}; "
                         "every finished block is saved and its resume record written: re-run "
                         "the same command to resume")
    assert "SIGTERM received" in lines[-2]
    assert not (out / "test.zarr").exists()
    assert main(argv) == 0
    for split, ds in _stores(reference).items():
        stopped = _stores(out)[split]
        for name in ds.data_vars:
            np.testing.assert_array_equal(ds[name].values, stopped[name].values, err_msg=name)


_HARD_STOP = textwrap.dedent("""
    import signal, sys, time
    from neuralpde.interrupts import handling_interrupts, safe_points
    # the SIGINT disposition the test assumes on entry: a foreground process's (its parent
    # may be a background job, whose children inherit SIGINT ignored), or ignored
    signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[2:] == ["ignored"]
                  else signal.default_int_handler)
    with handling_interrupts("neuralpde demo", describe=lambda: "the demo kept its notes"):
        with safe_points() if sys.argv[1] == "polling" else open(__file__):
            print("ready", flush=True)
            time.sleep(60)
    print("not reached", flush=True)
""")


@pytest.mark.parametrize("where,signals", [("outside", 1), ("polling", 2)])
def test_a_signal_outside_a_safe_point_or_a_second_one_stops_at_once(tmp_path, where, signals):
    script = tmp_path / "demo.py"
    script.write_text(_HARD_STOP)
    process = subprocess.Popen([sys.executable, str(script), where], cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().strip() == "ready"
    for _ in range(signals):
        process.send_signal(signal.SIGINT)
        if signals > 1:
            import time

            time.sleep(0.5)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "not reached" not in out and "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("neuralpde demo: stopped at once by SIGINT; the demo "
                                            "kept its notes")


def test_an_ignored_sigint_stays_ignored_and_sigterm_still_stops(tmp_path):
    """A command started with SIGINT ignored (a shell's background job) leaves it ignored,
    Python's convention; SIGTERM still stops it cleanly."""
    import time

    from neuralpde.interrupts import handling_interrupts

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with handling_interrupts("neuralpde demo"):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    script = tmp_path / "demo.py"
    script.write_text(_HARD_STOP)
    process = subprocess.Popen([sys.executable, str(script), "polling", "ignored"], cwd=REPO,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None                      # ignored: still running
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)                # outside the demo's safe point loop:
    out, err = process.communicate(timeout=30)         # the second stops it at once
    assert process.returncode == 143 and "Traceback" not in err
    assert "SIGINT" not in err and "SIGTERM received" in err

def test_a_second_writer_of_a_store_or_run_folder_exits_2_and_writes_nothing(tmp_data, tmp_path,
                                                                             capsys):
    out = tmp_path / "data"
    with exclusive(out, ".train.zarr.lock"):  # another process generates train.zarr here
        assert main(["generate", "--out", str(out), "--split", "train", "--no-progress",
                     *GENERATE]) == 2
        err = capsys.readouterr().err
        assert err == (f"neuralpde generate: error: {out / 'train.zarr'} is being written by "
                       f"another neuralpde process (it holds {out / '.train.zarr.lock'}); wait "
                       "for it to finish, or write to another --out\n")
        assert sorted(p.name for p in out.iterdir()) == [".train.zarr.lock"]
        with pytest.raises(OutputBusyError):
            with exclusive(out, ".train.zarr.lock"):
                pass
    run = tmp_path / "run"
    with exclusive(run):
        assert main(["train", "--data", str(tmp_data), "--out", str(run), "--no-progress",
                     "--steps", "1", "--unroll", "4", "--validation-horizon", "0.2",
                     "--validation-samples", "1"]) == 2
        assert "is being written by another neuralpde process" in capsys.readouterr().err
        assert sorted(p.name for p in run.iterdir()) == [".neuralpde.lock"]


@pytest.fixture(scope="module")
def tmp_data(tiny_data):
    return tiny_data


@pytest.mark.parametrize("code,says", [(errno.EROFS, "the file system is read-only; write "
                                                     "somewhere writable"),
                                       (errno.ENOSPC, "the disk is full; free space there")])
def test_read_only_or_full_disks_are_one_line_with_the_fix(tmp_data, tmp_path, monkeypatch, capsys,
                                                          code, says):
    import os

    from neuralpde.evaluation import compare

    def refuse(path, text):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(compare, "write_text_atomic", refuse)
    results = tmp_path / "results"
    assert main(["evaluate", "--data", str(tmp_data), "--solver", "dns-8", "--out", str(results),
                 "--horizon", "0.2"]) == 0
    capsys.readouterr()
    assert main(["compare", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"neuralpde compare: error: cannot write {results / 'comparison.md'}: "
                          f"{says}")


def test_atomic_text_writes_leave_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    path = write_text_atomic(tmp_path / "a.json", "old")

    def fail(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(OSError):
        write_text_atomic(path, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    monkeypatch.undo()
    assert path.read_text() == "old"


def test_export_replaces_an_existing_file_and_keeps_unset_attributes(tmp_data, tmp_path, capsys):
    target = tmp_path / "test.nc"
    for _ in range(2):  # the second export replaces the first
        assert main(["export", str(tmp_data / "test.zarr"), str(target)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.nc"]
    with xr.open_dataset(target) as ds:
        assert ds.attrs["stationary_energy"] == "null"  # unset for this custom flow: kept
        assert ds.u.shape[0] == 2
    capsys.readouterr()
    assert main(["export", str(tmp_data / "test.zarr"), str(tmp_path)]) == 2
    assert "is an existing folder: pass the path of a file to write" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["generate", "--out", "", "--no-progress"], "--out '' is empty: pass a folder path"),
    (["generate", "--out", "{tmp}/g", "--model-size", "0"],
     "invalid model_size=0 (--model-size): accepted an integer >= 1"),
    (["stagger-train", "--out", "{tmp}/s", "--size", "0"],
     "invalid size=0 (--size): accepted an integer"),
    (["generate", "--preset", "quickstart", "--out", "{tmp}/m", "--split", "train", "--samples",
      str(10**12)], "out of memory: Unable to allocate"),
    (["compare", "--results", "{tmp}", "--times", "nan"], "invalid --times [nan]: accepted finite"),
    (["compare", "--results", "{tmp}"], "summary.json is not a readable JSON summary"),
    (["export", "{tmp}/missing.zarr", "{tmp}/no/such/folder.nc"], "no trajectory store at"),
])
def test_more_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "summary.json").write_bytes(b"\xd4\x80\x00garbage")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_into_a_missing_folder_names_it(tmp_data, tmp_path, capsys):
    assert main(["export", str(tmp_data / "test.zarr"), str(tmp_path / "no" / "x.nc")]) == 2
    assert f"folder {tmp_path / 'no'} does not exist" in capsys.readouterr().err


def test_a_store_being_written_now_is_not_called_interrupted(tmp_data, tmp_path, capsys):
    """Readers of an incomplete store say another process is writing it while the writer's lock
    is held, and "interrupted generation" only when nobody holds it."""
    import shutil

    import zarr

    from neuralpde.store import StoreError, open_store

    data = tmp_path / "data"
    shutil.copytree(tmp_data, data)
    zarr.open_group(str(data / "test.zarr"), mode="r+").attrs["complete"] = 0
    (data / ".test.zarr.lock").unlink(missing_ok=True)     # the empty one generate left
    with pytest.raises(StoreError, match="an interrupted generation"):
        open_store(data / "test.zarr")
    assert not (data / ".test.zarr.lock").exists()        # the check creates no lock file
    with exclusive(data, ".test.zarr.lock"):               # `generate` writing test.zarr now
        with pytest.raises(StoreError, match="being written by another neuralpde process right "
                                             "now"):
            open_store(data / "test.zarr")
        assert main(["evaluate", "--data", str(data), "--solver", "dns", "--out",
                     str(tmp_path / "results")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "interrupted" not in err
        assert f"{data / 'test.zarr'} is incomplete: it is being written by another" in err
    with pytest.raises(StoreError, match="an interrupted generation"):  # the lock was released
        open_store(data / "test.zarr")


def test_a_name_longer_than_the_file_system_allows_is_one_line_and_leaves_nothing(
        tmp_data, tmp_path, capsys):
    long = "a" * 300                                   # NAME_MAX is 255 bytes on Linux
    cases = [(["generate", "--out", f"{tmp_path}/new/{long}/x", *GENERATE], "--out "),
             (["train", "--data", f"{tmp_path}/{long}", "--out", f"{tmp_path}/run"], "train.zarr"),
             (["evaluate", "--data", str(tmp_data), "--solver", f"run:{tmp_path}/{long}",
               "--out", f"{tmp_path}/new/results"], "run.json"),
             (["import", f"{tmp_path}/{long}.nc", "--out", f"{tmp_path}/new/d"], ".nc"),
             (["export", f"{tmp_path}/{long}.zarr", f"{tmp_path}/x.nc"], ".zarr")]
    for argv, names in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "longer than" in err and "characters)" in err and names in err, err
        assert list(tmp_path.iterdir()) == [], argv     # no folder left behind


@pytest.mark.parametrize("platforms", ["gpu", "cuda"])
def test_jax_platforms_naming_a_missing_platform_is_one_line(tmp_path, platforms):
    import importlib.util
    import os

    if any(importlib.util.find_spec(f"jax_cuda{v}_plugin") for v in (12, 13)):
        pytest.skip("this machine has JAX's CUDA plugin: the platform may well start")
    done = subprocess.run([sys.executable, "-m", "neuralpde.cli", "generate", "--out",
                           str(tmp_path / "data"), *GENERATE], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "JAX_PLATFORMS": platforms}, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neuralpde generate: error: "), lines
    assert f"JAX_PLATFORMS={platforms!r}" in lines[0] and "available here: cpu" in lines[0]
    assert not (tmp_path / "data").exists()
