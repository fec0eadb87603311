"""The solver interface, rollouts, divergence reporting and evaluate()."""

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_preset
from neuralpde.cli import main
from neuralpde.config import ConfigError
from neuralpde.evaluation.evaluate import evaluate_solver
from neuralpde.registry import evaluate
from neuralpde.solvers.base import SolverDefaults
from neuralpde.solvers.classical import FiniteVolumeSolver, classical_solver
from neuralpde.solvers.rollout import rollout
from neuralpde.store import StoreError, open_store
from neuralpde.store.generate import generate_split
from neuralpde.store.reading import store_flow


@pytest.fixture(scope="module")
def test_store(tmp_path_factory):
    """A tiny test split: 8² model grid, 32² DNS, initial states kept on 16² and 32²."""
    preset = tiny_preset(initial_sizes=(16, 32), n_samples=2, duration=1.0, batch_size=2)
    path = tmp_path_factory.mktemp("data") / "test.zarr"
    generate_split(preset, "test", path, progress=False)
    return path


@dataclasses.dataclass(frozen=True)
class NaNAfter(SolverDefaults):
    """A solver whose state turns NaN at its k-th step (its state carries a step counter)."""

    k: int
    size: int = 8
    dt: float = 0.0561
    name: str = "nan-after"
    kind: str = "learned"

    def init(self, uv):
        return {"uv": uv, "count": jnp.int32(0)}

    def step(self, state):
        count = state["count"] + 1
        uv = jnp.where(count >= self.k, jnp.nan, state["uv"] * 0.999)
        return {"uv": uv, "count": count}

    def velocity(self, state):
        return state["uv"]


def test_a_solver_that_returns_nan_after_k_steps_is_reported_diverged_at_step_k(test_store,
                                                                                 tmp_path):
    test = open_store(test_store)
    solver = NaNAfter(k=3, dt=float(test.attrs["frame_dt"]))
    uv0 = np.stack([test.u.values[:, 0], test.v.values[:, 0]], axis=1)
    result = rollout(solver, uv0, n_frames=10, steps_per_frame=1, output_size=8,
                     domain_size=2 * np.pi, block_frames=2)
    assert result.diverged_step.tolist() == [3, 3]
    assert result.diverged_time == [pytest.approx(3 * solver.dt)] * 2
    assert np.isfinite(result.frames[:, :3]).all() and np.isnan(result.frames[:, 3:]).all()
    assert result.frames.shape == (2, 10, 2, 8, 8)  # stopped early, padded with NaN
    summary = evaluate_solver(solver, test, tmp_path, reference_path=str(test_store))
    assert summary["diverged_samples"] == 2
    assert summary["diverged_times"] == [pytest.approx(3 * solver.dt)] * 2
    # the last finite frame
    assert summary["duration_of_mean"] == pytest.approx(2 * solver.dt, rel=1e-4)
    assert (tmp_path / "nan-after" / "summary.json").exists()


def test_dns_on_the_reference_grid_reproduces_the_reference(test_store, tmp_path):
    """DNS at the reference resolution, started from the stored 32² state, is the reference."""
    test = open_store(test_store)
    summary = evaluate_solver(classical_solver("dns-32", store_flow(test), 8), test, tmp_path)
    assert summary["duration_of_mean"] == pytest.approx(float(test.time[-1]))
    correlation = json.loads((tmp_path / "dns-32" / "summary.json").read_text())
    assert correlation["diverged_samples"] == 0
    import xarray as xr

    with xr.open_dataset(tmp_path / "dns-32" / "metrics.nc") as scores:
        assert float(scores.correlation.min()) > 1 - 1e-5


def test_coarse_dns_decorrelates_and_finer_dns_stays_closer(test_store, tmp_path):
    rows = evaluate(["dns", "dns-16", "weno5-z"], test_store.parent, tmp_path)
    by_name = {row["solver"]: row for row in rows}
    import xarray as xr

    def mean_correlation(name):
        with xr.open_dataset(tmp_path / name / "metrics.nc") as scores:
            return float(scores.correlation_mean.mean())

    assert mean_correlation("dns-16") > mean_correlation("dns-8")
    assert by_name["dns-8"]["kind"] == "dns" and by_name["weno5-z-8"]["kind"] == "weno"
    assert all(row["latency_s_per_time_unit"] > 0 for row in rows)
    traj = xr.open_zarr(tmp_path / "dns-8" / "trajectory.zarr", consolidated=False, chunks=None)
    assert traj.u.dims == ("sample", "time", "x", "y") and traj.sizes["x"] == 8


def test_mismatched_grids_and_bad_options_give_clear_errors(test_store, tmp_path):
    test = open_store(test_store)
    flow = store_flow(test)
    with pytest.raises(ConfigError, match="invalid grid 12 in solver 'dns-12'"):
        classical_solver("dns-12", flow, 8)
    with pytest.raises(ConfigError, match="unknown solver 'lbm'") as refused:
        classical_solver("lbm", flow, 8)
    for accepted in ("dns[-N]", "spectral[-N]", "run:<training run folder>",  # every kind
                     "pretrained:<name|file.npz>", "file:<rollout .zarr|.nc>"):
        assert accepted in str(refused.value)
    with pytest.raises(ConfigError, match="runs on a 4² grid; the store's model grid is 8²"):
        evaluate_solver(FiniteVolumeSolver(flow, 4), test, tmp_path)
    with pytest.raises(StoreError, match="no initial state on the 64² grid"):
        evaluate_solver(FiniteVolumeSolver(flow, 64), test, tmp_path)
    with pytest.raises(ConfigError, match="invalid horizon=50"):
        evaluate_solver(FiniteVolumeSolver(flow, 8), test, tmp_path, horizon=50)
    with pytest.raises(StoreError, match="made for preset='mini', not preset='paper'"):
        evaluate(["dns"], test_store.parent, tmp_path, preset="paper")
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_cli_evaluate(test_store, tmp_path, capsys):
    status = main(["evaluate", "--data", str(test_store.parent), "--solver", "dns", "--solver",
                   "weno5-js", "--out", str(tmp_path), "--horizon", "0.5"])
    assert status == 0
    out = capsys.readouterr().out
    assert "dns-8" in out and "weno5-js-8" in out
    assert main(["compare", "--results", str(tmp_path), "--times", "0", "0.2"]) == 0
    table = capsys.readouterr().out
    assert "| dns-8" in table and "| weno5-js-8" in table
    assert (tmp_path / "comparison.csv").exists() and (tmp_path / "figures" / "pareto.png").exists()
    assert main(["compare", "--results", str(tmp_path / "nothing")]) == 2
    assert main(["evaluate", "--data", str(test_store.parent), "--solver", "dns-3",
                 "--out", str(tmp_path)]) == 2


ROLLOUT_SHARDING_SCRIPT = """
import sys
import jax, numpy as np
from neuralpde.solvers.rollout import rollout
from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.classical import classical_solver
flow = KolmogorovFlow()
solver = classical_solver("dns", flow, 16)
keys = jax.random.split(jax.random.PRNGKey(0), 3)
uv0 = np.stack([np.asarray(dns.random_initial_velocity(k, flow, 16)) for k in keys])
one = rollout(solver, uv0, 4, 5, 8, flow.domain_size, devices=jax.devices()[:1])
four = rollout(solver, uv0, 4, 5, 8, flow.domain_size)
# a learned solver whose parameters sit on one device, as a run restored from its checkpoint
from neuralpde.models.config import LIConfig
from neuralpde.solvers.learned import build_li_solver
li = build_li_solver(LIConfig(hidden=4, depth=1), 0, flow, 16)
li = li.with_params(jax.device_put(li.params, jax.devices()[0]))
li_one = rollout(li, uv0, 3, 1, 8, flow.domain_size, devices=jax.devices()[:1])
li_four = rollout(li, uv0, 3, 1, 8, flow.domain_size)
difference = max(float(np.abs(one.frames - four.frames).max()),
                 float(np.abs(li_one.frames - li_four.frames).max()))
print("devices", jax.device_count(), "max difference", difference)
"""


def test_rollout_is_sharded_over_four_devices_and_matches_one():
    """A DNS, and a learned solver with its parameters on one device (a restored run)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "XLA_FLAGS":
           os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", ROLLOUT_SHARDING_SCRIPT], capture_output=True,
                            text=True, env=env, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    words = result.stdout.split()
    assert words[1] == "4"  # 3 samples padded to 4, one per device
    assert float(words[-1]) < 1e-5


def test_results_of_two_runs_with_one_name_do_not_overwrite_each_other(test_store, tmp_path):
    test = open_store(test_store)
    solver = NaNAfter(k=3, dt=float(test.attrs["frame_dt"]))
    first = evaluate_solver(solver, test, tmp_path, source="run:/runs/a/nan-after")
    assert first["source"] == "run:/runs/a/nan-after"
    before = (tmp_path / "nan-after" / "summary.json").read_text()
    with pytest.raises(ConfigError, match="holds the results of 'run:/runs/a/nan-after'"):
        evaluate_solver(solver, test, tmp_path, source="run:/runs/b/nan-after")
    assert (tmp_path / "nan-after" / "summary.json").read_text() == before  # nothing lost
    evaluate_solver(solver, test, tmp_path, source="run:/runs/a/nan-after")  # re-evaluation is fine
