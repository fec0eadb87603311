"""Several processes (``jax.distributed`` on localhost, CPU, Gloo collectives).

``generate`` divides its sample batches between 2 processes and writes the
1-process store; the other commands refuse to run in more than one process.
"""

import os
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


def _start(argv, n=2):
    """Start ``neuralpde argv`` as ``n`` processes of one ``jax.distributed`` job."""
    port = _free_port()
    procs = []
    for i in range(n):
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "NEURALPDE_DISTRIBUTED": "1",
               "JAX_COORDINATOR_ADDRESS": f"localhost:{port}", "JAX_NUM_PROCESSES": str(n),
               "JAX_PROCESS_ID": str(i)}
        procs.append(subprocess.Popen([sys.executable, "-m", "neuralpde.cli", *argv], cwd=REPO,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    return procs


def _in_processes(argv, n=2, timeout=300):
    procs = _start(argv, n)
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
    # without a cluster or a coordinator address: one line, exit 2
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "NEURALPDE_DISTRIBUTED": "1"}
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "neuralpde.cli", "compare", "--results",
                           str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "could not start" in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1

