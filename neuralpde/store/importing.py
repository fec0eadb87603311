"""Import a reference data set in jax-cfd's xarray layout as a neuralpde test store.

jax-cfd's own xarray utilities (``jax_cfd.data.xarray_utils``) write a 2-D
velocity trajectory as ``u``, ``v`` over ``(sample, time, x, y)`` (``sample``
optional), with ``x``/``y`` the cell centres of [0, L], each component's
staggered position in an ``offset`` attribute ((1, ½) and (½, 1): the MAC
grid this package uses too), and dataset attributes such as ``ndim``,
``save_grid_size`` and ``domain_size`` (older files: ``domain_size_multiple``
× 2π).  The published Kolmogorov Re = 1000 evaluation sets (Kochkov et al.
2021, PNAS 118, e2101784118) use it.

Such a file does not state the whole flow (viscosity, forcing, drag, the CFL
velocity), so the import takes it from a preset (``paper`` is the published
Re = 1000 flow) and checks what the file does state against it: the grid,
the domain, and a frame spacing that is a whole number of the model time step
(``courant · Δ / max_velocity``; 0.0070125 on 64² for the published flow) —
the classical and learned solvers step on that time step.  The frames are
copied unchanged (time shifted to start at 0; the offset is recorded in
``time_offset``); the store has no history frames and no finer initial
states, so TSM models and ``dns-N`` on finer grids are refused by their usual
messages, and every model-grid solver evaluates on it.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.outputs import exclusive
from neuralpde.physics import dns
from neuralpde.store import schema as store
from neuralpde.store.plan import plan_split, store_attrs
from neuralpde.store.presets import get_preset, with_overrides
from neuralpde.store.reading import open_data_set
from neuralpde.store.schema import OFFSETS, StoreError

#: Where the import records what it was made from.
SOURCE_ATTR = "imported_from"
#: The suffix of the store while it is written (renamed to the store's name when complete).
PARTIAL_SUFFIX = ".importing"


def _open(path: Path) -> xr.Dataset:
    """The data set at ``path``, its attributes decoded (:func:`decoded_attr`)."""
    ds = open_data_set(path)
    ds.attrs = {k: decoded_attr(v) for k, v in ds.attrs.items()}
    for var in ds.variables.values():
        var.attrs = {k: decoded_attr(v) for k, v in var.attrs.items()}
    return ds


def decoded_attr(value):
    """An attribute as :func:`neuralpde.store.export.export_netcdf` meant it.

    netCDF has no lists of text, dicts, booleans or null, so the export writes
    those as JSON text (``'[1.0, 0.5]'``, ``'{...}'``, ``'true'``, ``'null'``);
    such a text is read back as the value (a JSON number or plain word is
    left as text).
    """
    if isinstance(value, str) and (value.startswith(("[", "{"))
                                   or value in ("true", "false", "null")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def import_jax_cfd(source, out_path, preset: str = "paper", time_chunk: int = 64) -> Path:
    """Write the jax-cfd-layout data set ``source`` as a complete test store at ``out_path``.

    Args:
      source: a zarr folder or netCDF file in the layout of the module docstring.
      out_path: the store to write (``DATA/test.zarr``); refused if it exists.
      preset: the preset whose flow the data follow (its model grid is
        replaced by the file's).
      time_chunk: frames per zarr chunk.

    Returns the store path.  Raises :class:`StoreError` naming the file and
    what is accepted for a layout it cannot read (variables, dims, grid,
    offsets, domain, times, non-finite values), and :class:`ConfigError` when
    its frame spacing is not a whole number of the preset flow's time step.
    """
    source, out_path = Path(source), Path(out_path)
    if out_path.exists():
        raise StoreError(f"{out_path} exists: import into a new path (or delete it)")
    ds = _open(source)
    where = f"{source} (jax-cfd layout)"
    ds = _checked_velocities(ds, where)
    n = int(ds.sizes["x"])
    domain = _domain(ds, n, where)
    target, frame_dt, times = _target_preset(ds, n, domain, where, preset)
    samples = int(ds.sizes["sample"])
    plan = plan_split(target, "test")
    if plan.n_frames != times.size:
        raise StoreError(f"{where}: {times.size} frames do not give a whole duration on the "
                         f"model time step (planned {plan.n_frames})")
    attrs = {**store_attrs(target, "test", plan), SOURCE_ATTR: str(source.resolve()),
             "time_offset": float(times[0]), "source_frame_dt": frame_dt,
             "source_attrs": {k: _plain(v) for k, v in ds.attrs.items()}}
    layout = store.StoreLayout(
        n_samples=samples, n_frames=times.size, size=n, domain_size=domain,
        frame_dt=plan.frame_dt, sample_chunk=min(samples, 8),
        time_chunk=min(time_chunk, times.size), initial_sizes=(), history_frames=0,
        dt_model=plan.dt_model, diagnostics=False)
    partial = out_path.with_name(out_path.name + PARTIAL_SUFFIX)
    with exclusive(out_path.parent, f".{out_path.name}.lock", what=str(out_path)):
        if out_path.exists():  # made by another command since the check above
            raise StoreError(f"{out_path} exists: import into a new path (or delete it)")
        # written under a temporary name and renamed: a refused or interrupted import leaves
        # no store behind (a temporary left by a killed import is replaced here)
        shutil.rmtree(partial, ignore_errors=True)
        try:
            store.create_store(partial, layout, attrs)
            _write_frames(ds, partial, layout.sample_chunk, times, where)
            store.mark_complete(partial)
            partial.rename(out_path)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        finally:
            ds.close()
    return out_path


def _checked_velocities(ds: xr.Dataset, where: str) -> xr.Dataset:
    """``ds`` with a sample axis, its u and v checked (dims, dtype, MAC offsets, square grid);
    :class:`StoreError` naming what is accepted otherwise."""
    missing = [v for v in ("u", "v") if v not in ds.data_vars]
    if missing:
        raise StoreError(f"{where} lacks {missing}: accepted velocity components u and v")
    if "sample" not in ds.dims:
        ds = ds.expand_dims(sample=[0])
    for name in ("u", "v"):
        dims = set(ds[name].dims)
        if dims != {"sample", "time", "x", "y"}:
            raise StoreError(f"{where}: {name} has dims {tuple(ds[name].dims)}: accepted (sample,) "
                             "time, x, y")
        if ds[name].dtype.kind != "f":
            raise StoreError(f"{where}: {name} holds {ds[name].dtype} values: accepted "
                             "floating-point velocities (float32 or float64)")
        offset = ds[name].attrs.get("offset")
        if offset is not None and _offset(offset) != OFFSETS[name]:
            shown = list(_offset(offset)) if _offset(offset) else repr(offset)
            raise StoreError(f"{where}: {name} has offset {shown}: accepted "
                             f"{list(OFFSETS[name])} (the staggered MAC grid)")
    n = int(ds.sizes["x"])
    if int(ds.sizes["y"]) != n:
        raise StoreError(f"{where}: a {n}x{ds.sizes['y']} grid: accepted a square grid")
    if "save_grid_size" in ds.attrs and _number_attr(ds, "save_grid_size", where, int) != n:
        raise StoreError(f"{where}: attr save_grid_size={ds.attrs['save_grid_size']} but x has {n}")
    return ds


def _target_preset(ds: xr.Dataset, n: int, domain: float, where: str, preset: str):
    """``(target preset, frame spacing, model times)``: the test split ``ds`` becomes, on
    ``preset``'s flow (its stated viscosity / max_velocity checked) with the file's grid,
    domain and frame spacing (a whole number of model steps)."""
    base = get_preset(preset)
    for name in ("viscosity", "max_velocity"):  # what a file may state of the flow
        stated = ds.attrs.get(name)
        if stated is None:
            continue
        stated = _number_attr(ds, name, where)
        if not math.isclose(stated, getattr(base.flow, name), rel_tol=1e-6):
            raise ConfigError(f"{where} states {name}={stated:g}; the {preset} flow has "
                              f"{getattr(base.flow, name):g}: accepted a --preset whose flow the "
                              "data follow")
    flow = None if math.isclose(domain, base.flow.domain_size, rel_tol=1e-9) else {
        "domain_size": domain}
    target = with_overrides(base, flow=flow, model_size=n)
    dt_model = dns.model_time_step(target.flow, n)
    times = _model_times(ds, where)
    spacing = np.diff(times)
    if np.any(spacing <= 0):
        i = int(np.argmax(spacing <= 0))
        raise StoreError(f"{where}: the time axis must increase; time {times[i + 1]:g} follows "
                         f"{times[i]:g} (frame {i + 1}): accepted frames in increasing time "
                         "order, a fixed interval apart")
    frame_dt = float(spacing.mean())
    if not np.allclose(spacing, frame_dt, rtol=1e-5):
        raise StoreError(f"{where}: times are not evenly spaced ({spacing.min():g} to "
                         f"{spacing.max():g}): accepted frames a fixed interval apart")
    save_every = round(frame_dt / dt_model)
    if save_every < 1 or abs(save_every * dt_model - frame_dt) > 1e-4 * frame_dt:
        raise ConfigError(
            f"{where}: frames {frame_dt:.6g} apart are not a whole number of the {preset} flow's "
            f"model time step {dt_model:.6g} on {n}² (courant x dx / max_velocity): accepted a "
            "preset whose flow the data follow (--preset), with the same max_velocity and courant")
    target = with_overrides(target, split="test", n_samples=int(ds.sizes["sample"]), history=0,
                            duration=(times.size - 1) * save_every * dt_model, warmup=0.0,
                            save_every=save_every)
    return with_overrides(target, initial_sizes=()), frame_dt, times


def _write_frames(ds: xr.Dataset, path: Path, sample_chunk: int, times, where: str) -> None:
    """Write ``ds``'s u, v as float32 frames, ``sample_chunk`` samples at a time, refusing
    the first non-finite value (:class:`StoreError` naming sample and time)."""
    samples = int(ds.sizes["sample"])
    for start in range(0, samples, sample_chunk):
        stop = min(samples, start + sample_chunk)
        part = ds.isel(sample=slice(start, stop))
        uv = np.stack([part[c].transpose("sample", "time", "x", "y").values
                       for c in ("u", "v")], axis=2).astype(np.float32)
        bad = ~np.isfinite(uv.reshape(uv.shape[0], uv.shape[1], -1)).all(axis=2)
        if bad.any():
            s, t = np.argwhere(bad)[0]
            raise StoreError(f"{where} holds a non-finite value (sample {start + s}, "
                             f"time {times[t]:g}): accepted finite velocities; nothing "
                             "was written")
        store.write_frames(path, start, 0, uv)


def _offset(value) -> tuple:
    """An ``offset`` attribute as a tuple of floats (empty when it is not numbers)."""
    try:
        return tuple(float(o) for o in np.ravel(value))
    except (TypeError, ValueError):
        return ()


def _model_times(ds: xr.Dataset, where: str) -> np.ndarray:
    """The ``time`` coordinate as float model time units; refused (:class:`StoreError`) when
    missing, shorter than 2, non-finite, or typed as dates or durations (CF units such as
    ``days since 2000-01-01`` or ``seconds``: not the flow's time unit)."""
    if "time" not in ds.coords and "time" not in ds.variables:
        raise StoreError(f"{where} has no time coordinate: accepted a time axis in model time "
                         "units")
    time = ds["time"]
    if time.dtype.kind in "mMO":
        units = time.encoding.get("units") or time.attrs.get("units") or str(time.dtype)
        raise StoreError(f"{where}: the time axis has date or duration units ({units!r}); "
                         "time must be in model time units (plain numbers of the flow's time "
                         "unit, e.g. 0, 0.0561, 0.1122, ...)")
    times = np.asarray(time.values, dtype=float)
    if times.ndim != 1 or times.size < 2 or not np.all(np.isfinite(times)):
        raise StoreError(f"{where}: needs at least 2 finite times, found {times.size}")
    return times


def _plain(value):
    """A JSON-ready attribute value (NumPy scalars as numbers, arrays as lists; None, lists
    and dicts kept, their items made JSON-ready; anything else as text)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


def _number_attr(ds: xr.Dataset, name: str, where: str, kind=float):
    """The attribute ``name`` of ``ds`` as a ``kind`` (float or int); :class:`StoreError`
    naming the file, the attribute and its value when it is not a number."""
    value = ds.attrs[name]
    try:
        number = kind(value)
        if kind is int and number != float(value):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise StoreError(f"{where}: attr {name}={value!r} is not "
                         f"{'an integer' if kind is int else 'a number'}: accepted "
                         f"{'an integer' if kind is int else 'a number'}") from None
    return number


def _domain(ds: xr.Dataset, n: int, where: str) -> float:
    """The side L: attr ``domain_size``, else 2π × ``domain_size_multiple``, else from ``x``;
    checked against the ``x`` cell centres."""
    if "domain_size" in ds.attrs:
        domain = _number_attr(ds, "domain_size", where)
    elif "domain_size_multiple" in ds.attrs:
        domain = 2 * math.pi * _number_attr(ds, "domain_size_multiple", where)
    elif "x" in ds.coords and n >= 2:
        x = np.asarray(ds["x"].values, dtype=float)
        domain = float((x[1] - x[0]) * n)
    else:
        raise StoreError(f"{where} gives no domain size: accepted an attr domain_size, an attr "
                         "domain_size_multiple (of 2π) or x/y cell-centre coordinates")
    if not (math.isfinite(domain) and domain > 0):
        raise StoreError(f"{where}: domain size {domain:g}: accepted a finite length > 0")
    centres = (np.arange(n) + 0.5) * domain / n
    if "x" in ds.coords and not (np.allclose(ds["x"].values, centres, rtol=1e-6)
                                 and np.allclose(ds["y"].values, centres, rtol=1e-6)):
        raise StoreError(f"{where}: x/y are not the {n} cell centres of [0, {domain:g}]: accepted "
                         "jax-cfd's cell-centre coordinates")
    return domain


__all__ = ["SOURCE_ATTR", "import_jax_cfd"]
