"""Several processes (``jax.distributed`` on localhost, CPU, Gloo collectives).

``generate`` divides its sample batches between 2 processes and writes the
1-process store; ``train`` runs one data-parallel update over both processes'
devices and ends with the 1-process parameters, also after one of them is
stopped by SIGTERM (both stop after the same update) and the job resumed;
``evaluate`` splits the samples and writes the 1-process results; a refusal in
one process stops both; the other commands refuse to run in more than one
process.
"""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATE = ["--preset", "mini", "--split", "test", "--model-size", "8", "--fine-size", "32",
            "--initial-sizes", "16", "--history", "3", "--samples", "4", "--batch-size", "1",
            "--duration", "2.0", "--warmup", "0.2", "--time-chunk", "4", "--no-progress"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(argv, n=2, devices=1):
    """Start ``neuralpde argv`` as ``n`` processes of one ``jax.distributed`` job, each with
    ``devices`` CPU devices."""
    port = _free_port()
    procs = []
    flags = os.environ.get("XLA_FLAGS", "")
    if devices > 1:
        flags += f" --xla_force_host_platform_device_count={devices}"
    for i in range(n):
        env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu",
               "NEURALPDE_DISTRIBUTED": "1",
               "JAX_COORDINATOR_ADDRESS": f"localhost:{port}", "JAX_NUM_PROCESSES": str(n),
               "JAX_PROCESS_ID": str(i)}
        procs.append(subprocess.Popen([sys.executable, "-m", "neuralpde.cli", *argv], cwd=REPO,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    return procs


def _in_processes(argv, n=2, timeout=300, devices=1):
    procs = _start(argv, n, devices)
    outputs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs)]


@pytest.mark.slow
def test_two_processes_killed_and_resumed_write_the_one_process_store(tmp_path):
    import time

    import xarray as xr

    from neuralpde.cli import main
    from neuralpde.store.schema import read_attrs

    assert main(["generate", "--out", str(tmp_path / "one"), *GENERATE]) == 0
    two = tmp_path / "two"
    argv = ["generate", "--out", str(two), *GENERATE]
    # SIGKILL both processes once each has saved a resume record of its own batch
    procs = _start(argv)
    resume = two / "test.zarr.resume"
    deadline = time.time() + 240
    while time.time() < deadline and not (len({p.name[:11] for p in resume.glob("batch_*")})
                                          >= 2):
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        time.sleep(0.02)
    for p in procs:
        p.kill()
        p.communicate()
    assert read_attrs(two / "test.zarr")["complete"] == 0, "the kill came after the end"
    results = _in_processes(argv)  # the same command resumes, each process its own batches
    assert [r[0] for r in results] == [0, 0], [r[2][-2000:] for r in results]
    assert "test: " in results[0][1] and "test: " not in results[1][1]  # one report
    one = xr.open_zarr(tmp_path / "one" / "test.zarr", consolidated=False)
    got = xr.open_zarr(two / "test.zarr", consolidated=False)
    assert got.attrs["complete"] == 1 and not resume.exists()
    for name in ("u", "v", "u_history", "v_history", "u_init_16", "energy_t0", "enstrophy_t0"):
        assert np.isfinite(got[name].values).all(), name
        np.testing.assert_array_equal(got[name].values, one[name].values, err_msg=name)
    # once complete, the same 2-process command leaves the store alone
    stamp = (two / "test.zarr" / "zarr.json").stat().st_mtime_ns
    assert [r[0] for r in _in_processes(argv)] == [0, 0]
    assert (two / "test.zarr" / "zarr.json").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_commands_that_do_not_divide_their_work_refuse_several_processes(tmp_path):
    results = _in_processes(["compare", "--results", str(tmp_path)])
    for status, _, err in results:
        assert status == 2, err[-3000:]
        assert "runs in one process only" in err and "NEURALPDE_DISTRIBUTED" in err
        assert "`neuralpde train`" in err  # names the commands that do divide their work
    # without a cluster or a coordinator address: one line, exit 2
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "NEURALPDE_DISTRIBUTED": "1"}
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "neuralpde.cli", "compare", "--results",
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "could not start" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1



TRAIN = ["--model", "li", "--steps", "24", "--batch-size", "4", "--hidden", "4", "--depth", "1",
         "--unroll", "1", "--checkpoint-every", "2", "--validate-every", "0",
         "--validation-samples", "2", "--validation-horizon", "0.2", "--no-progress"]


def _logged(run):
    """The (step, loss, grad_norm) lines of a run's metrics.jsonl."""
    import json

    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(d["step"], d["loss"], d["grad_norm"]) for d in lines if "loss" in d]


@pytest.mark.slow
def test_two_processes_train_like_one_after_a_kill_and_evaluate_like_one(tmp_path, tiny_data):
    import time

    import xarray as xr

    from neuralpde.cli import main
    from neuralpde.training.runs import load_solver

    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", "--data", str(tiny_data), "--out", str(one), *TRAIN]) == 0
    argv = ["train", "--data", str(tiny_data), "--out", str(two), *TRAIN]
    # once the first checkpoint is written, SIGTERM process 1 only (a preempted host): both
    # processes must stop after the same update, its checkpoint saved, and say how to resume
    procs = _start(argv, devices=2)  # 2 processes of 2 devices: 4 devices, 1 window each
    last = two / "checkpoints" / "last"
    deadline = time.time() + 240
    while time.time() < deadline and not (last.exists() and any(
            p.name.isdigit() for p in last.iterdir())):
        assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
        time.sleep(0.02)
    procs[1].send_signal(signal.SIGTERM)
    stopped = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    assert [code for code, _ in stopped] == [128 + signal.SIGTERM] * 2, stopped
    assert all("re-run the same command to resume" in err for _, err in stopped), stopped
    steps = [int(p.name) for p in last.iterdir() if p.name.isdigit()]
    assert steps and max(steps) < 24, f"the stop came after the end: {steps}"
    results = _in_processes(argv, devices=2)  # the same command resumes from the checkpoint
    assert [r[0] for r in results] == [0, 0], [r[2][-2000:] for r in results]
    assert "run: " in results[0][1] and "run: " not in results[1][1]  # one report
    # the global batch is the 1-process batch: the same losses and parameters to round-off
    logged_one, logged_two = _logged(one), _logged(two)
    assert [row[0] for row in logged_two] == [row[0] for row in logged_one]
    np.testing.assert_allclose([row[1:] for row in logged_two], [row[1:] for row in logged_one],
                               rtol=1e-5)
    params_one, params_two = load_solver(one).params, load_solver(two).params
    for a, b in zip(jax_leaves(params_one), jax_leaves(params_two)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-7)
    # evaluation: each process rolls out its sample, process 0 writes the 1-process results
    evaluate = ["evaluate", "--data", str(tiny_data), "--solver", f"run:{one}", "--solver",
                "weno5-z", "--horizon", "0.2"]
    assert main([*evaluate, "--out", str(tmp_path / "r1")]) == 0
    results = _in_processes([*evaluate, "--out", str(tmp_path / "r2")], devices=2)
    assert [r[0] for r in results] == [0, 0], [r[2][-2000:] for r in results]
    assert "results: " in results[0][1] and "results: " not in results[1][1]
    for solver in ("one", "weno5-z-8"):
        a = xr.open_dataset(tmp_path / "r1" / solver / "metrics.nc")
        b = xr.open_dataset(tmp_path / "r2" / solver / "metrics.nc")
        for name in a.data_vars:
            np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-6,
                                       err_msg=f"{solver} {name}")
        frames = [xr.open_zarr(tmp_path / r / solver / "trajectory.zarr", consolidated=False)
                  for r in ("r1", "r2")]
        np.testing.assert_allclose(frames[1].u.values, frames[0].u.values, rtol=1e-6)


def jax_leaves(tree):
    import jax

    return jax.tree.leaves(tree)


@pytest.mark.slow
def test_a_refusal_in_one_process_stops_every_process(tmp_path, tiny_data):
    from neuralpde.outputs import exclusive

    run = tmp_path / "run"
    with exclusive(run, what="held by the test"):  # process 0 cannot take the run's lock
        results = _in_processes(["train", "--data", str(tiny_data), "--out", str(run), *TRAIN])
    (status0, _, err0), (status1, _, err1) = results
    assert status0 == 2 and "being written by another neuralpde process" in err0, err0[-2000:]
    assert status1 == 2 and "another process refused" in err1, err1[-2000:]
    assert not (run / "run.json").exists() and not (run / "checkpoints").exists()


def test_a_process_whose_coordinator_never_appears_stops_in_one_line(tmp_path):
    """Bounded waits (NEURALPDE_COORDINATOR_TIMEOUT): process 1 probing a coordinator address
    where nothing listens, and process 0 waiting for a process that never starts, each end with
    one line and exit status 2 (JAX would abort after 5 minutes with a C++ stack trace)."""
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                       # closed again: nothing listens there
    out = tmp_path / "data"
    base = {**os.environ, "JAX_PLATFORMS": "cpu", "NEURALPDE_DISTRIBUTED": "1",
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2"}
    cases = [({"JAX_PROCESS_ID": "1", "NEURALPDE_COORDINATOR_TIMEOUT": "1"},
              [f"no coordinator answers at 127.0.0.1:{port}", "NEURALPDE_COORDINATOR_TIMEOUT"]),
             ({"JAX_PROCESS_ID": "0", "NEURALPDE_COORDINATOR_TIMEOUT": "2"},
              ["processes did not all join within 2 s", "NEURALPDE_COORDINATOR_TIMEOUT"]),
             ({"JAX_PROCESS_ID": "1", "NEURALPDE_COORDINATOR_TIMEOUT": "soon"},
              ["invalid NEURALPDE_COORDINATOR_TIMEOUT='soon'"])]
    for extra, says in cases:
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "neuralpde.cli", "generate", "--out",
                               str(out), *GENERATE], cwd=REPO, env={**base, **extra},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr[-2000:]
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("neuralpde generate: error: "), lines
        assert all(s in lines[0] for s in says), lines[0]
        assert time.monotonic() - start < 60
        assert not out.exists()
