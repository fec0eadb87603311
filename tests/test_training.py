"""The training stack: loss decrease, resume, data parallelism, checkpoints, run loading."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_preset
from neuralpde.cli import main
from neuralpde.config import ConfigError, with_fields
from neuralpde.store import open_store
from neuralpde.store.generate import generate
from neuralpde.training.checkpoint import CheckpointError, Checkpoints
from neuralpde.training.config import get_train_preset
from neuralpde.training.loop import train
from neuralpde.training.runs import load_solver, read_metrics
from neuralpde.training.windowed import cached_windowed_step, make_windowed_step

REPO = Path(__file__).resolve().parents[1]


def tiny_config(**overrides):
    # steps/learning-rate settings equal to the CLI run of the SIGKILL test: one compilation
    fields = dict(hidden=8, depth=2, unroll=3, batch_size=2, steps=40, checkpoint_every=3,
                  validate_every=0, validation_samples=1, validation_horizon=0.2, log_every=1)
    fields.update(overrides)
    return with_fields(get_train_preset("mini"), **fields)


@pytest.fixture(scope="module")
def data(tiny_data):
    """Train (every model step), validation and test stores on an 8² model grid."""
    return tiny_data


def _params(tree):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """40 uninterrupted updates of tiny_config()."""
    return train(tiny_config(), tmp_path_factory.mktemp("runs") / "full", data, progress=False)


def test_resume_reproduces_the_uninterrupted_run(data, tmp_path, uninterrupted):
    config = tiny_config()
    full = uninterrupted
    first = train(config, tmp_path / "resumed", data, progress=False, stop_after=21)
    assert first.step == 21
    second = train(config, tmp_path / "resumed", data, progress=False)
    for a, b in zip(_params(full.params), _params(second.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    steps = [m["step"] for m in read_metrics(tmp_path / "resumed") if "loss" in m]
    assert steps == list(range(1, 41))  # the log is continuous (lines after step 21 were dropped)
    line = read_metrics(full.run)[-2]
    assert {"loss", "grad_norm", "learning_rate", "steps_per_s", "skipped"} <= set(line)
    # a finished run trains no further and reports what its log holds
    again = train(config, tmp_path / "resumed", data, progress=False)
    assert again.step == 40 and again.loss == pytest.approx(second.loss)
    assert again.best_validation_duration == pytest.approx(second.best_validation_duration)
    assert np.isfinite(again.loss) and again.best_validation_duration is not None
    # a run folder refuses a different config
    # (naming the fields that differ, old -> new)
    with pytest.raises(ConfigError, match=r"different train_config \(model\.hidden: \d+ -> 4\)"):
        train(tiny_config(hidden=4), full.run, data, progress=False)


def test_loss_falls_tenfold_on_one_window(data):
    from neuralpde.solvers.learned import LearnedSolver, build_li_model
    from neuralpde.store.reading import store_flow
    from neuralpde.training.optim import make_optimizer
    from neuralpde.training.windows import WindowSource

    config = tiny_config(steps=300, peak_lr=3e-3, warmup_fraction=0.0, hidden=16)
    train_set = open_store(data / "train.zarr")
    batch = jnp.asarray(WindowSource(train_set, config.unroll, 0).batch(0, 1))
    solver = LearnedSolver.from_model(store_flow(train_set), 8, build_li_model(config.model, 0))
    optimizer = make_optimizer(config)
    step = make_windowed_step(solver, optimizer, "mse")
    params, opt_state, skipped = solver.params, optimizer.init(solver.params), jnp.int32(0)
    losses = []
    for k in range(config.steps):
        params, opt_state, _, skipped, stats = step(params, opt_state, {}, skipped, batch, k)
        losses.append(float(stats["loss"]))
    assert losses[0] / min(losses) >= 10, (losses[0], min(losses))
    assert int(skipped) == 0


def test_non_finite_updates_are_skipped_and_counted(data):
    from neuralpde.solvers.learned import LearnedSolver, build_li_model, build_li_solver
    from neuralpde.store.reading import store_flow
    from neuralpde.training.optim import make_optimizer

    config = tiny_config()
    train_set = open_store(data / "train.zarr")
    solver = LearnedSolver.from_model(store_flow(train_set), 8, build_li_model(config.model, 0))
    optimizer = make_optimizer(config)
    # compiled once per config
    step = cached_windowed_step(config, build_li_solver, store_flow(train_set), 8)
    bad = jnp.full((2, config.unroll + 1, 2, 8, 8), jnp.nan)
    before = _params(solver.params)
    params, _, _, skipped, stats = step(solver.params, optimizer.init(solver.params), {},
                                        jnp.int32(0), bad, 0)
    assert int(skipped) == 1 and not np.isfinite(float(stats["loss"]))
    for a, b in zip(before, _params(params)):
        np.testing.assert_array_equal(a, b)


DATA_PARALLEL_SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    from neuralpde.store.reading import store_flow
    from neuralpde.solvers.learned import LearnedSolver
    from neuralpde.sharding import batch_mesh, batch_sharding, replicated, shard_batch
    from neuralpde.store import open_store
    from neuralpde.config import with_fields
    from neuralpde.solvers.learned import build_li_model
    from neuralpde.training.config import get_train_preset
    from neuralpde.training.optim import make_optimizer
    from neuralpde.training.windowed import make_windowed_step
    from neuralpde.training.windows import WindowSource
    config = with_fields(get_train_preset("mini"), hidden=8, depth=1, unroll=2, batch_size=4)
    train_set = open_store(sys.argv[1])
    batch = WindowSource(train_set, 2, 0).batch(0, 4)
    losses = []
    for devices in (jax.devices()[:1], jax.devices()):
        mesh = batch_mesh(devices)
        solver = LearnedSolver.from_model(store_flow(train_set), 8, build_li_model(config.model, 0))
        optimizer = make_optimizer(config)
        params = jax.device_put(solver.params, replicated(mesh))
        step = make_windowed_step(solver, optimizer, "mse")
        sharded = shard_batch(jnp.asarray(batch), batch_sharding(mesh))
        out = step(params, jax.device_put(optimizer.init(params), replicated(mesh)), {},
                   jnp.int32(0), sharded, 0)
        losses.append(float(out[4]["loss"]))
        print("devices", mesh.size, "shards", len(sharded.sharding.device_set),
              "loss", repr(losses[-1]))
""")


def test_four_simulated_devices_give_the_loss_of_one(data):
    env = {**os.environ, "XLA_FLAGS":
           os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", DATA_PARALLEL_SCRIPT, str(data / "train.zarr")],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = [row.split() for row in result.stdout.splitlines() if row.startswith("devices")]
    assert [(words[1], words[3]) for words in lines] == [("1", "1"), ("4", "4")]
    one, four = float(lines[0][5]), float(lines[1][5])
    assert four == pytest.approx(one, rel=1e-5)


def test_checkpoints_corruption_mismatch_and_evaluation(data, tmp_path):
    run = tmp_path / "li"
    train(tiny_config(checkpoint_every=40, validate_every=0), run, data, progress=False)
    test = open_store(data / "test.zarr")
    solver = load_solver(run, test)
    assert solver.kind == "learned" and solver.size == 8 and solver.name == "li"

    # evaluation through the CLI, like any other solver
    assert main(["evaluate", "--data", str(data), "--solver", f"run:{run}", "--out",
                 str(tmp_path / "results"), "--horizon", "0.2"]) == 0
    summary = json.loads((tmp_path / "results" / "li" / "summary.json").read_text())
    assert summary["kind"] == "learned"

    last = load_solver(run, test, which="last")  # last holds the optimiser state too
    for a, b in zip(_params(last.params), _params(solver.params)):
        np.testing.assert_array_equal(a, b)  # best and last are both step 40 here

    # a partial (uncommitted) checkpoint folder is ignored
    checkpoints = Checkpoints(run, keep_last=3)
    assert checkpoints.latest_step() == 40
    checkpoints.close()
    (run / "checkpoints" / "last" / "43.orbax-checkpoint-tmp-123").mkdir()
    checkpoints = Checkpoints(run, keep_last=3)
    assert checkpoints.latest_step() == 40
    checkpoints.close()

    # a corrupted checkpoint gives a clear error naming it
    for path in (run / "checkpoints" / "best").rglob("*"):
        if path.is_file() and path.stat().st_size > 0 and "METADATA" not in path.name:
            path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="checkpoints/best.* corrupted"):
        load_solver(run, test)

    # a store made for another grid is refused
    other = tmp_path / "other"
    generate(tiny_preset(model_size=16, fine_size=32, n_samples=1, duration=0.3, initial_sizes=()),
             other, splits=("test",), progress=False)
    with pytest.raises(ConfigError, match="trained for model_size=8; the store has model_size=16"):
        load_solver(run, open_store(other / "test.zarr"))


def test_training_needs_every_model_step(data, tmp_path):
    other = tmp_path / "sparse"
    generate(tiny_preset(n_samples=1, duration=0.6, save_every=2, initial_sizes=()), other,
             splits=("train", "validation"), progress=False)
    with pytest.raises(ConfigError, match="save_every=2 \\(accepted 1\\)"):
        train(tiny_config(), tmp_path / "run", other, progress=False)
    assert main(["train", "--data", str(other), "--out", str(tmp_path / "run2"),
                 "--steps", "0"]) == 2


def test_sigkill_during_training_then_rerun_gives_the_uninterrupted_parameters(data, tmp_path,
                                                                              uninterrupted):
    import signal
    import time

    run = tmp_path / "killed"
    argv = [sys.executable, "-m", "neuralpde.cli", "train", "--data", str(data), "--out", str(run),
            "--no-progress", "--steps", "40", "--batch-size", "2", "--unroll", "3", "--hidden", "8",
            "--depth", "2", "--checkpoint-every", "3", "--validate-every", "0",
            "--validation-samples", "1", "--validation-horizon", "0.2"]
    # with the suite's compilation cache (conftest): the rerun does not compile again
    env = dict(os.environ)
    process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    last = run / "checkpoints" / "last"
    deadline = time.time() + 180
    while time.time() < deadline and not (last.exists()
                                          and any(p.name.isdigit() for p in last.iterdir())):
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    checkpoints = Checkpoints(run, keep_last=3)
    killed_at = checkpoints.latest_step()
    checkpoints.close()
    assert killed_at is not None and killed_at < 40, "the kill came after the end"
    assert subprocess.run(argv, cwd=REPO, env=env, capture_output=True).returncode == 0

    _assert_tensorboard_matches_metrics(run)  # after a kill, a resume and its purge

    config = with_fields(get_train_preset("mini", "li"), steps=40, batch_size=2, unroll=3,
                         hidden=8, depth=2, checkpoint_every=3, validate_every=0,
                         validation_samples=1, validation_horizon=0.2)
    # the same model, optimiser, windows and seed as tiny_config(): the same 40 updates
    assert config.model == tiny_config().model and config.steps == tiny_config().steps
    resumed = load_solver(run, which="last")
    for a, b in zip(_params(uninterrupted.params), _params(resumed.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class _SignallingBar:
    """A stand-in progress bar that sends this process ``signum`` when it reaches ``at``."""

    def __init__(self, at, signum, initial=0):
        self.n, self.at, self.signum = initial, at, signum

    def update(self, n=1):
        self.n += n
        if self.n == self.at:
            import signal

            signal.raise_signal(self.signum)

    def set_postfix(self, **values):
        pass

    def close(self):
        pass


def test_sigint_saves_the_current_step_and_the_rerun_gives_the_uninterrupted_parameters(
        data, tmp_path, uninterrupted, monkeypatch, capsys, default_sigint):
    import signal

    from neuralpde.training import loop

    run = tmp_path / "interrupted"
    argv = ["train", "--data", str(data), "--out", str(run), "--steps", "40", "--batch-size", "2",
            "--unroll", "3", "--hidden", "8", "--depth", "2", "--checkpoint-every", "3",
            "--validate-every", "0", "--validation-samples", "1", "--validation-horizon", "0.2"]
    # SIGINT (Ctrl-C) after update 17 (not a checkpoint step: checkpoints every 3)
    monkeypatch.setattr(loop, "progress_bar", lambda enabled, total, description, initial=0:
                        _SignallingBar(17, signal.SIGINT, initial))
    assert main(argv) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == (f"neuralpde train: stopped at step 17 of 40; its checkpoint is saved in "
                         f"{run / 'checkpoints' / 'last'}: re-run the same command to resume")
    assert "SIGINT received: stopping at the next safe point" in lines[-2]
    checkpoints = Checkpoints(run, keep_last=3)
    assert checkpoints.latest_step() == 17
    checkpoints.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert main(argv) == 0  # the corrected (same) command resumes from step 17
    _assert_tensorboard_matches_metrics(run)
    for a, b in zip(_params(uninterrupted.params),
                    _params(load_solver(run, which="last").params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_full_disk_during_a_checkpoint_is_one_line_and_the_rerun_resumes(data, tmp_path,
                                                                          monkeypatch, capsys):
    import orbax.checkpoint as ocp

    run = tmp_path / "full"
    argv = ["train", "--data", str(data), "--out", str(run), "--no-progress", "--steps", "4",
            "--batch-size", "2", "--unroll", "3", "--hidden", "8", "--depth", "2",
            "--checkpoint-every", "2", "--validate-every", "0", "--validation-samples", "1",
            "--validation-horizon", "0.2"]
    original = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):  # how orbax reports ENOSPC from TensorStore
        if step == 4:
            raise ValueError("RESOURCE_EXHAUSTED: Error writing local file \"x/_sharding\": "
                             "Failed to write 2401 bytes to file 11: No space left on device "
                             "[os_error_code='28']")
        return original(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"neuralpde train: error: cannot write {run.resolve()}/checkpoints/")
    assert ": the disk is full; free space there or write to another disk and re-run" in err
    monkeypatch.setattr(ocp.CheckpointManager, "save", original)  # space freed
    assert main(argv) == 0
    checkpoints = Checkpoints(run, keep_last=3)
    assert checkpoints.latest_step() == 4
    checkpoints.close()


def _tensorboard_scalars(run):
    """{(tag, step): value} as TensorBoard shows them: event files in order, and a session
    START at step P (a resumed writer's purge_step) dropping the earlier files' steps >= P."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in sorted((run / "tensorboard").glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            if event.HasField("session_log") and event.session_log.status == 1:  # START
                scalars = {k: v for k, v in scalars.items() if k[1] < event.step}
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = value.simple_value
    return scalars


def _assert_tensorboard_matches_metrics(run):
    expected = {}
    for line in read_metrics(run):
        for key, value in line.items():
            if key != "step":
                tag = "validation/duration" if key == "validation_duration" else f"train/{key}"
                expected[(tag, line["step"])] = value
    found = _tensorboard_scalars(run)
    assert sorted(found) == sorted(expected), (sorted(set(found) ^ set(expected)))
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-6, nan_ok=True), key


def test_train_trajectories_draws_windows_from_the_first_k_trajectories_only(data, tmp_path,
                                                                             capsys):
    from neuralpde.store.reading import trajectory_frames
    from neuralpde.training.windows import WindowSource
    train_set = open_store(data / "train.zarr")
    held = train_set.sizes["sample"]
    assert held >= 2
    frames = trajectory_frames(train_set)
    source = WindowSource(train_set, 3, 0, trajectories=1)
    assert source.n_samples == 1
    for step in range(5):
        for (sample, start), window in zip(source.indices(step, 4), source.batch(step, 4)):
            assert sample == 0
            np.testing.assert_array_equal(window, frames[0, start:start + 4])
    assert WindowSource(train_set, 3, 0, trajectories=0).n_samples == held  # 0: all of them
    with pytest.raises(ConfigError, match=rf"train_trajectories={held + 1}: accepted 0 \(all\) "
                                          rf"to {held}"):
        WindowSource(train_set, 3, 0, trajectories=held + 1)
    # the CLI refuses it before writing anything
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--preset", "quickstart",
                 "--train-trajectories", str(held + 1), "--no-progress"]) == 2
    assert not out.exists()
    assert f"train_trajectories={held + 1}" in capsys.readouterr().err


def test_train_trajectories_equal_to_the_store_count_is_recorded_as_all(data, tmp_path):
    """--train-trajectories <count> and the default train on the same windows: one config."""
    from neuralpde.training.windowed import with_data
    held = open_store(data / "train.zarr").sizes["sample"]
    config = get_train_preset("quickstart")
    assert with_data(dataclasses.replace(config, train_trajectories=held), data) == config
    fewer = dataclasses.replace(config, train_trajectories=held - 1)
    assert with_data(fewer, data) == fewer
    # a folder without a train store is left as it is, for windowed_task to report
    assert with_data(fewer, tmp_path) == fewer


def test_a_decomposition_the_grid_cannot_take_is_refused_before_the_run_is_written(
        data, tmp_path, capsys):
    size = open_store(data / "train.zarr").attrs["model_size"]
    bad = next(s for s in range(3, size) if size % s)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--preset", "quickstart",
                 "--decompose", str(bad), "--no-progress"]) == 2
    assert f"invalid decompose={bad} (--decompose)" in capsys.readouterr().err
    assert not out.exists()  # the corrected command starts afresh


def test_refusals_name_the_option_and_the_store_to_fix(data, tmp_path, capsys):
    from neuralpde.training.windows import WindowSource
    train_set = open_store(data / "train.zarr")
    n = train_set.sizes["time"]
    with pytest.raises(ConfigError, match=rf"a training window of 1 \+ unroll {n} = {n + 1} frames "
                                          rf"does not fit the train store's {n} frames per "
                                          rf"trajectory: accepted --unroll <= {n - 1}"):
        WindowSource(train_set, n, 0)
    with pytest.raises(ConfigError, match=rf"prefix 3 \+ unroll {n} = {n + 3} frames .* accepted "
                                          rf"--prefix \+ --unroll <= {n}"):
        WindowSource(train_set, n, 0, prefix=3)
    # a TSM prefix longer than the validation store's history: the split and its path are named
    held = int(open_store(data / "validation.zarr").attrs["history_frames"])
    out = tmp_path / "run"
    assert main(["train", "--model", "tsm-hippo", "--data", str(data), "--out", str(out),
                 "--preset", "quickstart", "--prefix", str(held + 1), "--bundle", "1",
                 "--unroll", "1", "--hippo-order", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"the validation store {data / 'validation.zarr'} keeps {held} history frames" in err
    assert f"--split validation --history {held + 1}" in err and not out.exists()


def test_a_missing_data_folder_is_reported_before_the_memory_estimate(tmp_path, capsys,
                                                                       monkeypatch):
    """`train --model tsm-hippo --hippo-order 512 --data <missing>`: the data are checked
    before HiPPO.memory_frames (minutes at high orders before it was made fast)."""
    from neuralpde.models.hippo import HiPPO

    def estimate(*args, **kwargs):
        raise AssertionError("the needed history was estimated before the data were checked")

    monkeypatch.setattr(HiPPO, "memory_frames", estimate)
    out = tmp_path / "run"
    missing = tmp_path / "no-such-data"
    assert main(["train", "--model", "tsm-hippo", "--hippo-order", "512", "--data",
                 str(missing), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing / "train.zarr") in err
    assert not out.exists()


def test_a_bundle_that_does_not_fit_the_validation_frames_is_refused_before_any_update(
        data, tmp_path, capsys):
    """`train --model tsm-hippo --bundle B` with B model steps longer than the validation store's
    frame spacing used to train until the first validation and stop there (exit 2, a run
    folder left behind): it is refused before the run folder is written."""
    validation = open_store(data / "validation.zarr")
    per_frame = round(float(validation.attrs["frame_dt"]) / float(validation.attrs["dt_model"]))
    bundle = 2 * per_frame  # twice the frame spacing: never a divisor
    out = tmp_path / "run"
    assert main(["train", "--model", "tsm-hippo", "--data", str(data), "--out", str(out),
                 "--preset", "quickstart", "--prefix", "2", "--bundle", str(bundle),
                 "--unroll", str(bundle), "--hippo-order", "2", "--steps", "2",
                 "--validate-every", "1", "--validation-horizon", "0.2",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and (  # one line (after the memory's history note)
        f"--bundle {bundle}: {bundle} model steps per network call do not divide the validation "
        f"store's frame spacing of {per_frame} model step{'s' if per_frame > 1 else ''}; "
        f"accepted a --bundle dividing {per_frame}") in err
    assert "solver '" not in err  # the run folder is no solver
    assert not out.exists()
