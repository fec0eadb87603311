"""Reading trajectory stores: validation, and what the rest of the package needs from a store.

* :func:`open_store` — open lazily and validate (attrs, variables, dims,
  completeness, preset/split/grid); :class:`~neuralpde.store.schema.StoreError`
  otherwise, naming the store and what is wrong.
* :func:`store_flow` — the flow a store was generated with.
* :func:`sample_count`, :func:`frames_for_horizon` — the one rule for "how
  many test trajectories" and "how many frames for a horizon", shared by
  evaluation, training validation and every study.
* :func:`initial_states`, :func:`initial_inputs` — what a solver starts from
  (the model-grid frame 0, a stored finer-grid state, or the stored history a
  temporal model encodes).
* :func:`reference_frames`, :func:`trajectory_frames` — frames as arrays
  ``(samples, frames, 2, n, n)`` float32.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.physics.flows import FlowSpec, flow_from_dict
from neuralpde.store.schema import (HISTORY_DIMS, REQUIRED_ATTRS, REQUIRED_VARIABLES,
                                    SCHEMA_VERSION, TRAJECTORY_DIMS, StoreError, history_frames,
                                    read_attrs)


def open_store(
    path,
    preset: Optional[str] = None,
    split: Optional[str] = None,
    model_size: Optional[int] = None,
    require_complete: bool = True,
) -> xr.Dataset:
    """Open and validate a trajectory store (lazily; nothing is read until used).

    Raises :class:`StoreError` with a message that says what is wrong when the
    path is not a store, a required variable or attr is missing, dims or the
    schema version differ, the store is incomplete (an interrupted generation:
    re-run it to resume), or it was made for another preset, split or grid.
    """
    path = Path(path)
    if not path.exists():
        raise StoreError(f"no trajectory store at {path}: run `neuralpde generate` first")
    attrs = read_attrs(path)
    missing = [a for a in REQUIRED_ATTRS if a not in attrs]
    if missing:
        raise StoreError(f"{path} is not a neuralpde trajectory store: missing attrs {missing}")
    if attrs["schema_version"] != SCHEMA_VERSION:
        raise StoreError(f"{path} has schema_version={attrs['schema_version']}: "
                         f"this neuralpde reads schema_version={SCHEMA_VERSION}")
    _expect(path, "preset", attrs["preset"], preset)
    _expect(path, "split", attrs["split"], split)
    _expect(path, "model_size", attrs["model_size"], model_size)
    if require_complete and not attrs["complete"]:
        raise StoreError(f"{path} is incomplete (an interrupted generation): "
                         "re-run the same `neuralpde generate` command to resume it")
    try:
        ds = xr.open_zarr(str(path), consolidated=False, chunks=None)
    except Exception as error:
        raise StoreError(f"{path} cannot be read as a zarr dataset: {error}") from error
    _validate_variables(path, ds, attrs)
    return ds


def _expect(path, name: str, found, wanted) -> None:
    if wanted is not None and found != wanted:
        raise StoreError(f"{path} was made for {name}={found!r}, not {name}={wanted!r}")


def _validate_variables(path, ds: xr.Dataset, attrs: dict) -> None:
    n = attrs["model_size"]
    for name in REQUIRED_VARIABLES:
        if name not in ds:
            raise StoreError(f"{path} has no variable {name!r}: found {sorted(ds.data_vars)}")
        if ds[name].dims != TRAJECTORY_DIMS:
            raise StoreError(f"{path}: variable {name!r} has dims {ds[name].dims}, "
                             f"expected {TRAJECTORY_DIMS}")
        if ds[name].shape[2:] != (n, n):
            raise StoreError(f"{path}: variable {name!r} has grid {ds[name].shape[2:]}, "
                             f"but model_size={n}")
        if ds[name].shape[0] != attrs["n_samples"]:
            raise StoreError(f"{path}: variable {name!r} has {ds[name].shape[0]} samples, "
                             f"attrs say n_samples={attrs['n_samples']}")
    for m in attrs["initial_sizes"]:
        for name in REQUIRED_VARIABLES:
            var = f"{name}_init_{m}"
            if var not in ds or ds[var].dims != ("sample", f"x_{m}", f"y_{m}"):
                raise StoreError(f"{path}: initial-state variable {var!r} missing or with wrong dims")
    h = int(attrs.get("history_frames", 0))
    for name in REQUIRED_VARIABLES if h else ():
        var = f"{name}_history"
        if var not in ds or ds[var].dims != HISTORY_DIMS or ds[var].shape[1:] != (h, n, n):
            raise StoreError(f"{path}: history variable {var!r} missing or not (sample, {h}, {n}, {n})")


def store_flow(ds: xr.Dataset) -> FlowSpec:
    """The flow (viscosity, forcing, domain, ...) the store was generated with."""
    try:
        return flow_from_dict(json.loads(ds.attrs["config_json"])["preset"]["flow"])
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(f"store attr config_json does not describe a flow: {error}") from error


def sample_count(ds: xr.Dataset, n_samples: Optional[int] = None) -> int:
    """``n_samples`` checked against the store (``None``: all of them).

    Raises :class:`ConfigError` unless ``1 <= n_samples <= `` the store's samples.
    """
    available = int(ds.sizes["sample"])
    n_samples = available if n_samples is None else n_samples
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or not 1 <= n_samples <= available:
        raise ConfigError(f"invalid samples={n_samples!r}: accepted 1..{available} (the store's "
                          "trajectories)")
    return int(n_samples)


def frames_for_horizon(ds: xr.Dataset, horizon: Optional[float] = None) -> tuple[int, float]:
    """``(n_frames, horizon)``: the frames from t = 0 up to ``horizon`` (default: the whole span).

    ``n_frames = floor(horizon / frame_dt + 1e-6) + 1`` (frame 0 included).
    Raises :class:`ConfigError` unless ``0 < horizon <= span`` (the store's
    last frame time): a horizon past the stored reference is refused, never
    silently clipped.
    """
    frame_dt = float(ds.attrs["frame_dt"])
    span = float(ds.time.values[-1] - ds.time.values[0])
    horizon = span if horizon is None else float(horizon)
    if not 0 < horizon <= span + 1e-9:
        raise ConfigError(f"invalid horizon={horizon:g}: accepted (0, {span:g}] (the store's span "
                          "in time units)")
    return int(math.floor(horizon / frame_dt + 1e-6)) + 1, horizon


def initial_states(ds: xr.Dataset, size: int, n_samples: int) -> np.ndarray:
    """The reference initial states ``(samples, 2, size, size)`` float32 on an ``size``² grid.

    The model-grid frame 0, or for a finer grid the stored ``*_init_<size>``
    state (:class:`StoreError` naming the available grids if it is not stored).
    """
    model_size = ds.attrs["model_size"]
    if size == model_size:
        u, v = ds.u.isel(time=0), ds.v.isel(time=0)
    else:
        if f"u_init_{size}" not in ds:
            available = [model_size, *ds.attrs["initial_sizes"]]
            raise StoreError(
                f"the test store has no initial state on the {size}² grid: available grids "
                f"{available}; regenerate the test split with --initial-sizes including {size}")
        u, v = ds[f"u_init_{size}"], ds[f"v_init_{size}"]
    return np.stack([u.values[:n_samples], v.values[:n_samples]], axis=1).astype(np.float32)


def initial_inputs(ds: xr.Dataset, size: int, n_samples: int, history: int = 0,
                   name: str = "the solver") -> np.ndarray:
    """What a solver's ``init`` takes for the first ``n_samples`` trajectories.

    ``history = 0``: the initial states ``(samples, 2, size, size)`` (see
    :func:`initial_states`); ``history = K``: the last K stored history
    frames ``(samples, K, 2, n, n)`` (one model step apart, ending with the
    initial state) — the prefix a temporal model encodes; only on the model
    grid.  ``name`` labels the solver in the errors.
    """
    if not history:
        return initial_states(ds, size, n_samples)
    available = history_frames(ds)
    if available < history:
        raise StoreError(
            f"solver {name!r} encodes a prefix of {history} frames; the store keeps "
            f"{available} history frames: regenerate it with --history {history} "
            "(the presets keep 32)")
    if size != ds.attrs["model_size"]:
        raise ConfigError(f"solver {name!r} with a memory must run on the model grid "
                          f"{ds.attrs['model_size']}², not {size}²")
    u = ds.u_history.values[:n_samples, -history:]
    v = ds.v_history.values[:n_samples, -history:]
    return np.stack([u, v], axis=2).astype(np.float32)


def reference_frames(ds: xr.Dataset, n_samples: int, n_frames: int) -> np.ndarray:
    """The first ``n_frames`` frames of the first ``n_samples`` trajectories, ``(S, T, 2, n, n)`` float32."""
    u = ds.u.isel(sample=slice(0, n_samples), time=slice(0, n_frames)).values
    v = ds.v.isel(sample=slice(0, n_samples), time=slice(0, n_frames)).values
    return np.stack([u, v], axis=2).astype(np.float32)


def trajectory_frames(ds: xr.Dataset) -> np.ndarray:
    """Every frame of every trajectory, ``(samples, time, 2, n, n)`` float32 (loads the store)."""
    return reference_frames(ds, int(ds.sizes["sample"]), int(ds.sizes["time"]))


__all__ = ["open_store", "store_flow", "sample_count", "frames_for_horizon", "initial_states",
           "initial_inputs", "reference_frames", "trajectory_frames"]
