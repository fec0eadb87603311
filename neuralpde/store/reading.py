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
* :func:`reference_frames`, :func:`trajectory_frames`, :func:`window_frames`
  — frames as arrays ``(..., 2, n, n)`` float32, read through :func:`values`,
  which refuses a chunk that does not decode and a non-finite value.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from neuralpde.config import ConfigError
from neuralpde.outputs import held_elsewhere
from neuralpde.physics.flows import FlowSpec, flow_from_dict
from neuralpde.store.schema import (
    HISTORY_DIMS,
    REQUIRED_ATTRS,
    REQUIRED_VARIABLES,
    SCHEMA_VERSION,
    TRAJECTORY_DIMS,
    StoreError,
    coordinate_attrs,
    history_frames,
    read_attrs,
)


def open_store(
    path,
    preset: str | None = None,
    split: str | None = None,
    model_size: int | None = None,
    require_complete: bool = True,
) -> xr.Dataset:
    """Open and validate a trajectory store (lazily: no frame is read until used).

    Raises :class:`StoreError` with a message that names the store and what is
    wrong when the path is not a store, a required variable or attr is
    missing, dims or the schema version differ, the store is incomplete (an
    interrupted generation: re-run it to resume; or, when another process
    holds the store's writer lock, :func:`writer_lock`, one being written
    right now) or its generation failed, it
    was made for another preset, split or grid, a chunk of any variable is
    missing (it would read as fill values), or its attrs disagree with its
    coordinates (grid, domain, frame spacing, frame count, samples).  The
    readers below refuse a chunk that does not decode and a non-finite value.
    """
    path = Path(path)
    if preset is not None:
        from neuralpde.store.presets import PRESETS  # here: presets import JAX, reading does not

        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}: accepted {sorted(PRESETS)}")
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
    if attrs.get("failed"):
        raise StoreError(f"{path} is a failed generation: {attrs['failed']}")
    if require_complete and not attrs["complete"]:
        lock = writer_lock(path)
        if held_elsewhere(path.parent, lock):
            raise StoreError(f"{path} is incomplete: it is being written by another neuralpde "
                             f"process right now (it holds {path.parent / lock}); wait for it "
                             "to finish, then run this command again")
        raise StoreError(f"{path} is incomplete (an interrupted generation): "
                         "re-run the same `neuralpde generate` command to resume it")
    try:
        ds = xr.open_zarr(str(path), consolidated=False, chunks=None)
    except Exception as error:
        raise StoreError(f"{path} cannot be read as a zarr dataset: "
                         f"{type(error).__name__}: {_short(error)}") from error
    ds.encoding["source"] = str(path)
    _validate_variables(path, ds, attrs)
    if attrs["complete"]:
        _validate_chunks(path)
        _validate_coordinates(path, ds, attrs)
    return with_axis_attrs(ds)


def open_data_set(path, missing: str = "no data set at {path}",
                  error: type[Exception] = StoreError) -> xr.Dataset:
    """A zarr folder or a netCDF file at ``path``, opened lazily with xarray.

    The one opener of foreign data sets (imported jax-cfd data, external
    rollouts); stores of this package are opened by :func:`open_store`,
    which also checks them.

    Args:
        path: a zarr folder (consolidated or not) or a netCDF file.
        missing: the message when ``path`` does not exist (``{path}`` is
            replaced).
        error: the exception class raised (default :class:`StoreError`).

    Returns:
        The data set, unmodified.

    Raises:
        error: ``path`` does not exist, or xarray cannot read it (the message
            names the file and xarray's reason).
    """
    path = Path(path)
    if not path.exists():
        raise error(missing.format(path=path))
    try:
        with warnings.catch_warnings():  # an unconsolidated zarr folder is fine here
            warnings.simplefilter("ignore", RuntimeWarning)
            if path.is_dir():
                return xr.open_zarr(path, consolidated=None)
            return xr.open_dataset(path)
    except Exception as failure:  # xarray raises many types for what it cannot read
        raise error(f"{path} is not a readable zarr folder or netCDF file "
                    f"({type(failure).__name__}: {str(failure)[:160]})") from None


def writer_lock(path) -> str:
    """The name of the lock (beside the store) that the process writing store ``path`` holds:
    ``.<store name>.lock`` (``generate``, ``import``; :func:`neuralpde.outputs.exclusive`)."""
    return f".{Path(path).name}.lock"


def with_axis_attrs(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with the CF ``axis``/``units`` attributes of
    :func:`~neuralpde.store.schema.coordinate_attrs` on ``time``, ``x``, ``y`` (and
    ``x_<m>``/``y_<m>``) where they are missing (stores written before they were
    recorded); nothing is written to disk."""
    for name in ds.coords:
        base = str(name).split("_")[0]
        if base in ("time", "x", "y") and "axis" not in ds[name].attrs and (
                name in ("time", "x", "y") or str(name)[len(base) + 1:].isdigit()):
            old = ds[name].attrs.get("long_name", str(name))
            ds[name].attrs.update(coordinate_attrs(base, old))
    return ds


#: Face coordinates of :func:`staggered_view`: (component, axis, face dim).
FACE_DIMS = (("u", "x", "x_face"), ("v", "y", "y_face"))


def staggered_view(ds: xr.Dataset) -> xr.Dataset:
    """``u`` and ``v`` of a store (or a trajectory) on their own face coordinates, as
    grid-aware tools (xgcm, COMODO/SGRID conventions) expect.

    The store keeps both components on the cell-centre dims ``(x, y)`` with an
    ``offset`` attribute (``u`` at (1, ½), ``v`` at (½, 1); the package's
    convention).  Here ``u`` is on ``(..., x_face, y)`` and ``v`` on ``(..., x,
    y_face)``, where ``x_face = x + Δ/2`` carries ``axis: X`` and
    ``c_grid_axis_shift: 0.5`` (COMODO: the right face of each cell), likewise
    ``y_face``.  Other variables are dropped.  No values are copied.
    """
    out = xr.Dataset(attrs=dict(ds.attrs))
    for name, axis, face in FACE_DIMS:
        centres = np.asarray(ds[axis].values, dtype=float)
        step = float(centres[1] - centres[0]) if centres.size > 1 else float(
            ds.attrs["domain_size"])
        attrs = {**coordinate_attrs(axis, f"{axis} of the {name}-faces (cell centre + Δ/2)"),
                 "c_grid_axis_shift": 0.5}
        var = ds[name].rename({axis: face})
        out[name] = var.assign_coords({face: (face, centres + step / 2, attrs)})
    for axis in ("x", "y"):
        out[axis].attrs.update({"c_grid_axis_shift": 0.0, **{
            k: v for k, v in ds[axis].attrs.items() if k != "c_grid_axis_shift"}})
    return out


def xgcm_grid(ds: xr.Dataset):
    """An ``xgcm.Grid`` of :func:`staggered_view` ``ds``: axes X, Y, periodic, cell
    centres and right faces; returns ``(grid, view)``.  Needs ``pip install xgcm``.

    Vorticity at the cell corners, as :func:`neuralpde.physics.diagnostics.vorticity`::

        grid, view = xgcm_grid(ds)
        dx = float(ds.x[1] - ds.x[0])
        omega = grid.diff(view.v, "X") / dx - grid.diff(view.u, "Y") / dx
    """
    try:
        import xgcm
    except ImportError as error:
        raise ImportError("xgcm_grid needs xgcm: pip install xgcm") from error
    view = staggered_view(ds)
    coords = {"X": {"center": "x", "right": "x_face"}, "Y": {"center": "y", "right": "y_face"}}
    return xgcm.Grid(view, coords=coords, padding="periodic", autoparse_metadata=False), view


def _short(error: Exception, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _validate_chunks(path: Path) -> None:
    """Refuse a store with a missing chunk in a data variable (zarr would read it as NaN).

    Data variables are filled with NaN, which no complete store holds, so every
    one of their chunks is written.  Coordinates (filled with 0: a chunk equal
    to the fill is legitimately not written) are checked by value in
    :func:`_validate_coordinates`.
    """
    try:
        group = zarr.open_group(str(path), mode="r")
        arrays = list(group.arrays())
    except Exception as error:
        raise StoreError(f"{path} cannot be read as a zarr group: {type(error).__name__}: "
                         f"{_short(error)}") from error
    for name, array in arrays:
        fill = array.metadata.fill_value
        if not (isinstance(fill, (float, np.floating)) and np.isnan(fill)):
            continue
        if array.nchunks_initialized < array.nchunks:
            raise StoreError(f"{path}: variable {name!r} is missing "
                             f"{array.nchunks - array.nchunks_initialized} of its {array.nchunks} "
                             "chunks (deleted or never written): the store is damaged; "
                             "regenerate it")


def _validate_coordinates(path: Path, ds: xr.Dataset, attrs: dict) -> None:
    """Refuse a store whose attrs disagree with its coordinates."""
    n, domain = int(attrs["model_size"]), float(attrs.get("domain_size", 2 * math.pi))
    problems = []
    try:
        x, y = ds.x.values, ds.y.values
        centres = (np.arange(n) + 0.5) * domain / n
        if x.shape != (n,) or y.shape != (n,) or not (np.allclose(x, centres, rtol=1e-6)
                                                      and np.allclose(y, centres, rtol=1e-6)):
            problems.append(f"x/y are not the {n} cell centres of [0, {domain:g}] "
                            "(attrs model_size, domain_size)")
        time = ds.time.values
        frame_dt = float(attrs["frame_dt"])
        if not math.isclose(frame_dt, int(attrs["save_every"]) * float(attrs["dt_model"]),
                            rel_tol=1e-6):
            problems.append(f"frame_dt={frame_dt:g} is not save_every × dt_model")
        if time.size and (abs(time[0]) > 1e-9 or (time.size > 1 and not np.allclose(
                np.diff(time), frame_dt, rtol=1e-6))):
            problems.append(f"time does not start at 0 with spacing frame_dt={frame_dt:g}")
        preset = json.loads(attrs["config_json"]).get("preset") or {}
        split = preset.get(attrs["split"]) or {}
        if "duration" in split:
            expected = round(split["duration"] / frame_dt) + 1
            if time.size != expected:
                problems.append(f"{time.size} frames, but duration {split['duration']:g} / "
                                f"frame_dt gives {expected}")
        if not np.array_equal(ds.sample.values, np.arange(int(attrs["n_samples"]))):
            problems.append(f"sample is not 0..{int(attrs['n_samples']) - 1} (attr n_samples)")
    except (KeyError, TypeError, ValueError) as error:
        problems.append(f"attrs or coordinates unreadable "
                        f"({type(error).__name__}: {_short(error)})")
    if problems:
        raise StoreError(f"{path}: its attrs disagree with its coordinates: "
                         + "; ".join(problems) + ": the store is damaged; regenerate it")


def _source(ds: xr.Dataset) -> str:
    return ds.encoding.get("source", "the store")


def values(ds: xr.Dataset, name: str, **index) -> np.ndarray:
    """``ds[name].isel(**index).values``, refusing what the store cannot honestly give.

    Raises :class:`StoreError` naming the store and the variable when a chunk
    does not decode, and naming the sample and time (or index) of the first
    non-finite value: a complete store never holds one, so it is damage, not
    data (never read as NaN frames).
    """
    selected = ds[name].isel(**index) if index else ds[name]
    try:
        data = np.asarray(selected.values)
    except Exception as error:
        raise StoreError(f"{_source(ds)}: variable {name!r} cannot be read "
                         f"({type(error).__name__}: {_short(error)}): the store is corrupted; "
                         "regenerate it") from error
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        first = dict(zip(selected.dims, np.unravel_index(int(np.argmax(~np.isfinite(data))),
                                                           data.shape)))
        where = []
        for dim in ("sample", "time", "lag"):
            coord = selected.coords.get(dim)
            if dim in first:
                where.append(f"{dim} {coord.values[first[dim]]:g}" if coord is not None
                             else f"{dim} index {int(first[dim])}")
            elif coord is not None and coord.ndim == 0:  # selected away: a scalar coordinate
                where.append(f"{dim} {float(coord.values):g}")
        raise StoreError(f"{_source(ds)}: variable {name!r} has a non-finite value "
                         f"({', '.join(where)}): the store is damaged (a complete store holds "
                         "none); regenerate it")
    return data


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
                raise StoreError(f"{path}: initial-state variable {var!r} missing or with "
                                 "wrong dims")
    h = int(attrs.get("history_frames", 0))
    for name in REQUIRED_VARIABLES if h else ():
        var = f"{name}_history"
        if var not in ds or ds[var].dims != HISTORY_DIMS or ds[var].shape[1:] != (h, n, n):
            raise StoreError(f"{path}: history variable {var!r} missing or not "
                             f"(sample, {h}, {n}, {n})")


def store_flow(ds: xr.Dataset) -> FlowSpec:
    """The flow (viscosity, forcing, domain, ...) the store was generated with."""
    try:
        return flow_from_dict(json.loads(ds.attrs["config_json"])["preset"]["flow"])
    except (KeyError, TypeError, ValueError) as error:
        raise StoreError(f"store attr config_json does not describe a flow: {error}") from error


def sample_count(ds: xr.Dataset, n_samples: int | None = None) -> int:
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


def frames_for_horizon(ds: xr.Dataset, horizon: float | None = None) -> tuple[int, float]:
    """``(n_frames, horizon)``: the frames from t = 0 up to ``horizon`` (default: the whole span).

    ``n_frames = floor(horizon / frame_dt + 1e-6) + 1`` (frame 0 included).
    Raises :class:`ConfigError` unless ``frame_dt <= horizon <= span`` (the
    store's last frame time): a horizon past the stored reference is refused,
    never silently clipped, and one shorter than a frame spacing would score
    nothing but the initial frame.
    """
    frame_dt = float(ds.attrs["frame_dt"])
    span = float(ds.time.values[-1] - ds.time.values[0])
    horizon = span if horizon is None else float(horizon)
    if not frame_dt * (1 - 1e-6) <= horizon <= span + 1e-9:
        raise ConfigError(f"invalid horizon={horizon:g}: accepted [{frame_dt:g}, {span:g}] (from "
                          "the store's frame spacing to its span, in time units)")
    return int(math.floor(horizon / frame_dt + 1e-6)) + 1, horizon


def initial_states(ds: xr.Dataset, size: int, n_samples: int) -> np.ndarray:
    """The reference initial states ``(samples, 2, size, size)`` float32 on an ``size``² grid.

    The model-grid frame 0, or for a finer grid the stored ``*_init_<size>``
    state (:class:`StoreError` naming the available grids if it is not stored).
    """
    model_size = ds.attrs["model_size"]
    if size == model_size:
        u, v = values(ds, "u", sample=slice(0, n_samples), time=0), \
            values(ds, "v", sample=slice(0, n_samples), time=0)
    else:
        if f"u_init_{size}" not in ds:
            available = [model_size, *ds.attrs["initial_sizes"]]
            raise StoreError(
                f"the test store has no initial state on the {size}² grid: available grids "
                f"{available}; regenerate the test split with --initial-sizes including {size}")
        u = values(ds, f"u_init_{size}", sample=slice(0, n_samples))
        v = values(ds, f"v_init_{size}", sample=slice(0, n_samples))
    return np.stack([u, v], axis=1).astype(np.float32)


def initial_inputs(ds: xr.Dataset, size: int, n_samples: int, history: int = 0,
                   name: str = "the solver") -> np.ndarray:
    """What a solver's ``init`` takes for the first ``n_samples`` trajectories.

    ``history = 0``: the initial states ``(samples, 2, size, size)`` (see
    :func:`initial_states`); ``history = K``: the last K stored history
    frames ``(samples, K, 2, n, n)`` (one model step apart, ending with the
    initial state) — the prefix a temporal model encodes; only on the model
    grid.  ``name`` names the solver in the errors (e.g. ``"solver 'tsm-hippo'"``).
    """
    if not history:
        return initial_states(ds, size, n_samples)
    available = history_frames(ds)
    if available < history:
        split = ds.attrs.get("split", "")
        source = ds.encoding.get("source")
        store = f"the {split} store".replace("the  ", "the ") + (f" {source}" if source else "")
        redo = f"--split {split} --history {history}" if split else f"--history {history}"
        raise StoreError(
            f"{name} encodes a prefix of {history} frames; {store} keeps "
            f"{available} history frames: regenerate it with {redo} "
            "(the presets keep 32)")
    if size != ds.attrs["model_size"]:
        raise ConfigError(f"solver {name!r} with a memory must run on the model grid "
                          f"{ds.attrs['model_size']}², not {size}²")
    window = dict(sample=slice(0, n_samples), lag=slice(-history, None))
    u, v = values(ds, "u_history", **window), values(ds, "v_history", **window)
    return np.stack([u, v], axis=2).astype(np.float32)


def reference_frames(ds: xr.Dataset, n_samples: int, n_frames: int) -> np.ndarray:
    """The first ``n_frames`` frames of the first ``n_samples`` trajectories,
    ``(S, T, 2, n, n)`` float32."""
    window = dict(sample=slice(0, n_samples), time=slice(0, n_frames))
    u, v = values(ds, "u", **window), values(ds, "v", **window)
    return np.stack([u, v], axis=2).astype(np.float32)


def trajectory_frames(ds: xr.Dataset) -> np.ndarray:
    """Every frame of every trajectory, ``(samples, time, 2, n, n)`` float32 (loads the store)."""
    return reference_frames(ds, int(ds.sizes["sample"]), int(ds.sizes["time"]))


def window_frames(ds: xr.Dataset, sample: int, start: int, length: int) -> np.ndarray:
    """Frames ``start .. start + length - 1`` of one trajectory, ``(length, 2, n, n)`` float32."""
    window = dict(sample=sample, time=slice(start, start + length))
    return np.stack([values(ds, "u", **window), values(ds, "v", **window)], axis=1).astype(
        np.float32)


__all__ = ["open_store", "open_data_set", "values", "store_flow", "sample_count",
           "frames_for_horizon",
           "initial_states", "initial_inputs", "reference_frames", "trajectory_frames",
           "window_frames", "with_axis_attrs", "staggered_view", "xgcm_grid"]
