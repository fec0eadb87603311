"""Evaluate a solver against a test store and write its results folder.

``evaluate_solver`` rolls a solver out from the test set's initial states (on
the solver's own grid: the model-grid frame 0, or the stored ``*_init_<N>``
state for a finer grid), compares every frame on the model grid with the
reference, and writes ``<out>/<solver name>/``:

* ``trajectory.zarr`` — the predicted frames, in the trajectory-store schema;
* ``metrics.nc`` — :func:`neuralpde.evaluation.metrics.compute_metrics`;
* ``summary.json`` — the summary row (durations, latency, device, divergence).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
import xarray as xr

from neuralpde import store
from neuralpde.config import ConfigError
from neuralpde.evaluation import metrics
from neuralpde.evaluation.rollout import device_name, measure_latency, rollout
from neuralpde.physics.flows import flow_from_dict
from neuralpde.solvers import Solver, classical_solver, history_frames


def reference_flow(test: xr.Dataset):
    return flow_from_dict(json.loads(test.attrs["config_json"])["preset"]["flow"])


def initial_states(test: xr.Dataset, size: int, n_samples: int) -> np.ndarray:
    """The reference initial states ``(samples, 2, size, size)`` on the solver's grid."""
    model_size = test.attrs["model_size"]
    if size == model_size:
        u, v = test.u.isel(time=0), test.v.isel(time=0)
    else:
        if f"u_init_{size}" not in test:
            available = [model_size, *test.attrs["initial_sizes"]]
            raise store.StoreError(
                f"the test store has no initial state on the {size}² grid: available grids "
                f"{available}; regenerate the test split with --initial-sizes including {size}")
        u, v = test[f"u_init_{size}"], test[f"v_init_{size}"]
    return np.stack([u.values[:n_samples], v.values[:n_samples]], axis=1).astype(np.float32)


def initial_inputs(test: xr.Dataset, solver: Solver, n_samples: int) -> np.ndarray:
    """What ``solver.init`` takes for the first ``n_samples`` test trajectories.

    The initial states ``(samples, 2, n, n)``, or for a solver with a memory
    (``history_frames = K``) the last K stored history frames ``(samples, K,
    2, n, n)``, ending with the initial state.
    """
    k = history_frames(solver)
    if not k:
        return initial_states(test, solver.size, n_samples)
    available = store.history_frames(test)
    if available < k:
        raise store.StoreError(
            f"solver {solver.name!r} encodes a prefix of {k} frames; the test store keeps "
            f"{available} history frames: regenerate the test split with --history {k} "
            "(the presets keep 32)")
    if solver.size != test.attrs["model_size"]:
        raise ConfigError(f"solver {solver.name!r} with a memory must run on the model grid "
                          f"{test.attrs['model_size']}², not {solver.size}²")
    u = test.u_history.values[:n_samples, -k:]
    v = test.v_history.values[:n_samples, -k:]
    return np.stack([u, v], axis=2).astype(np.float32)


def steps_per_frame(solver: Solver, frame_dt: float) -> int:
    steps = frame_dt / solver.dt
    if abs(steps - round(steps)) > 1e-6 * steps or round(steps) < 1:
        raise ConfigError(f"solver {solver.name!r} has dt={solver.dt:g}, which does not divide the "
                          f"store's frame spacing {frame_dt:g}: accepted a dt with frame_dt/dt an integer")
    return round(steps)


def predicted_dataset(frames: np.ndarray, test: xr.Dataset, solver: Solver) -> xr.Dataset:
    """Frames ``(samples, time, 2, n, n)`` as a dataset in the store schema."""
    n_samples, n_frames = frames.shape[:2]
    coords = {"sample": test.sample.values[:n_samples], "time": test.time.values[:n_frames],
              "x": test.x.values, "y": test.y.values}
    dims = ("sample", "time", "x", "y")
    return xr.Dataset(
        {"u": (dims, frames[:, :, 0], {"offset": [1.0, 0.5]}),
         "v": (dims, frames[:, :, 1], {"offset": [0.5, 1.0]})},
        coords=coords,
        attrs={"solver": solver.name, "kind": solver.kind, "solver_size": solver.size,
               "dt": solver.dt, "model_size": test.attrs["model_size"],
               "preset": test.attrs["preset"]})


def evaluate_solver(
    solver: Solver,
    test: xr.Dataset,
    out_dir,
    reference_path: str = "",
    horizon: Optional[float] = None,
    threshold: float = 0.8,
    n_samples: Optional[int] = None,
    latency_duration: float = 1.0,
    devices=None,
    source: str = "",
) -> dict:
    """Roll ``solver`` out on the test set, score it, write its results folder; return the summary.

    ``source`` (e.g. ``run:/abs/path/to/run``) is recorded in the summary; a
    results folder of the same solver name made from another source is not
    overwritten (ConfigError): two run folders called ``li`` evaluated into
    one ``out_dir`` would otherwise replace each other's results.
    """
    model_size = test.attrs["model_size"]
    folder = Path(out_dir) / solver.name
    _check_same_source(folder, source)
    if solver.size < model_size or solver.size % model_size:
        raise ConfigError(f"solver {solver.name!r} runs on a {solver.size}² grid; the test store's "
                          f"model grid is {model_size}²: accepted a multiple of {model_size}")
    available = test.sizes["sample"]
    n_samples = available if n_samples is None else n_samples
    if not 1 <= n_samples <= available:
        raise ConfigError(f"invalid samples={n_samples}: accepted 1..{available} (the test store's size)")
    frame_dt = float(test.attrs["frame_dt"])
    span = float(test.time.values[-1] - test.time.values[0])
    horizon = span if horizon is None else horizon
    if not 0 < horizon <= span + 1e-9:
        raise ConfigError(f"invalid horizon={horizon}: accepted (0, {span:g}] (the test store's span)")
    n_frames = int(math.floor(horizon / frame_dt + 1e-6)) + 1

    uv0 = initial_inputs(test, solver, n_samples)
    result = rollout(solver, uv0, n_frames, steps_per_frame(solver, frame_dt), model_size,
                     float(test.attrs["domain_size"]), devices=devices)
    latency = measure_latency(solver, uv0[0], duration=min(latency_duration, horizon))
    predicted = predicted_dataset(result.frames, test, solver)
    reference = test[["u", "v"]].isel(sample=slice(0, n_samples), time=slice(0, n_frames)).load()
    scores = metrics.compute_metrics(predicted, reference, threshold=threshold, horizon=horizon)

    tmp = folder.with_name(folder.name + ".writing")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    predicted.to_zarr(tmp / "trajectory.zarr", mode="w", consolidated=False)
    scores.to_netcdf(tmp / "metrics.nc")
    summary = {
        "solver": solver.name, "kind": solver.kind, "size": solver.size, "model_size": model_size,
        "preset": test.attrs["preset"], "n_samples": n_samples, "threshold": threshold,
        "horizon": horizon, "dt": solver.dt, "steps_per_frame": result.steps_per_frame,
        **{name: float(scores[name]) for name in
           ("duration_of_mean", "duration_mean", "duration_std", "duration_min", "duration_max")},
        "latency_s_per_time_unit": latency, "device": device_name(),
        "diverged_samples": int((result.diverged_step >= 0).sum()),
        "diverged_times": result.diverged_time,
        "reference": str(Path(reference_path).resolve()) if reference_path else "",
        "source": source,
    }
    (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return summary


def evaluate(
    solver_names,
    data_dir,
    out_dir,
    horizon: Optional[float] = None,
    threshold: float = 0.8,
    n_samples: Optional[int] = None,
    preset: Optional[str] = None,
    transfer: bool = False,
) -> list[dict]:
    """Evaluate named solvers on ``data_dir/test.zarr``; returns their summaries.

    ``transfer``: run trained models (``run:<folder>``) on the store's flow and
    grid even if they were trained on another (generalisation tests).
    """
    test_path = Path(data_dir) / "test.zarr"
    test = store.open_store(test_path, split="test", preset=preset)
    flow = reference_flow(test)
    solvers = [make_solver(name, flow, test, transfer) for name in solver_names]  # validate first
    sources = [solver_source(name) for name in solver_names]
    by_name = {}
    for solver, source in zip(solvers, sources):
        by_name.setdefault(solver.name, []).append(source)
    clashes = {name: found for name, found in by_name.items() if len(set(found)) > 1}
    if clashes:
        raise ConfigError(f"solvers with the same name would share a results folder: {clashes}; "
                          "rename the run folders or evaluate them into different --out folders")
    for solver, source in zip(solvers, sources):
        _check_same_source(Path(out_dir) / solver.name, source)
    return [evaluate_solver(s, test, out_dir, reference_path=str(test_path), horizon=horizon,
                            threshold=threshold, n_samples=n_samples, source=source)
            for s, source in zip(solvers, sources)]


def solver_source(name: str) -> str:
    """What a CLI solver name refers to: ``run:<absolute run folder>`` or the classical name."""
    if name.startswith("run:"):
        return "run:" + str(Path(name[len("run:"):]).resolve())
    return name


def _check_same_source(folder: Path, source: str) -> None:
    summary = folder / "summary.json"
    if not (source and summary.exists()):
        return
    previous = json.loads(summary.read_text()).get("source", "")
    if previous and previous != source:
        raise ConfigError(f"{folder} holds the results of {previous!r}, not of {source!r} (same "
                          "solver name): evaluate into another --out folder or rename the run folder")


def summary_is_current(folder, newer_than=None) -> bool:
    """Whether ``folder/summary.json`` exists (and is newer than the file ``newer_than``).

    Lets drivers (quickstart, experiments) skip evaluations that are already
    done, e.g. ``newer_than = <run>/metrics.jsonl`` for a trained model.
    """
    summary = Path(folder) / "summary.json"
    if not summary.exists():
        return False
    if newer_than is None or not Path(newer_than).exists():
        return True
    return summary.stat().st_mtime > Path(newer_than).stat().st_mtime


def make_solver(name: str, flow, test: xr.Dataset, transfer: bool = False) -> Solver:
    """A solver from its CLI name.

    ``dns``, ``dns-64``, ``weno5-js``, ``weno5-z-64``, ... (classical), or
    ``run:<folder>`` for the best checkpoint of a training run (``transfer``:
    on the test store's flow and grid, see ``load_learned_solver``).
    """
    if name.startswith("run:"):
        from neuralpde.training.trainer import load_learned_solver

        return load_learned_solver(name[len("run:"):], test, transfer=transfer)
    return classical_solver(name, flow, test.attrs["model_size"])
