"""What the comparison figures show, read from the results folders.

``neuralpde compare`` (:func:`neuralpde.evaluation.compare.compare`) draws its
figures (:mod:`neuralpde.evaluation.plots`) from these: the metrics datasets
(:func:`open_metrics`), the sample-mean correlation curves
(:func:`correlation_curves`), the spectra (:func:`spectrum_curves`) and the
vorticity snapshots of the reference and every solver (:func:`snapshot_fields`).
A file that is missing or unreadable leaves its solver out of the figure, with
a warning naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from neuralpde.evaluation.results import METRICS_FILE, TRAJECTORY_FILE

__all__ = ["open_metrics", "correlation_curves", "spectrum_curves", "snapshot_fields"]


def open_metrics(row: Mapping) -> xr.Dataset | None:
    """The metrics dataset (``metrics.nc``) of the row's results folder, loaded; None (with a
    warning naming the file) when it is missing or cannot be read."""
    path = Path(row["results_path"]) / METRICS_FILE
    if not path.exists():
        warnings.warn(f"{path} is missing: solver {row['solver']!r} left out of the "
                      "correlation and spectrum figures", stacklevel=3)
        return None
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except Exception as error:  # noqa: BLE001 - HDF5/netCDF/decode: any unreadable file
        warnings.warn(f"{path} cannot be read ({type(error).__name__}: {str(error)[:120]}): "
                      f"solver {row['solver']!r} left out of the correlation and spectrum "
                      "figures; re-run its `neuralpde evaluate`", stacklevel=3)
        return None
    return ds


def correlation_curves(rows: Sequence[Mapping], metrics: Mapping[str, xr.Dataset]) -> dict:
    """``{solver: (times, sample-mean correlation)}`` of the rows with a metrics dataset.

    Args:
      rows: summary rows (``solver`` is read).
      metrics: ``{solver: metrics dataset}`` (:func:`open_metrics`).
    """
    curves = {}
    for row in rows:
        ds = metrics.get(row["solver"])
        if ds is None:
            continue
        corr = (ds["correlation_mean"] if "correlation_mean" in ds
                else ds["correlation"].mean("sample"))
        curves[row["solver"]] = (np.asarray(corr["time"].values, float),
                                 np.asarray(corr.values, float))
    return curves


def spectrum_curves(rows: Sequence[Mapping], metrics: Mapping[str, xr.Dataset]) -> dict:
    """``{name: (wavenumbers, E)}``: every row's predicted spectrum, and the first row's
    reference spectrum last as ``'reference'``.

    Args:
      rows: summary rows (``solver`` is read).
      metrics: ``{solver: metrics dataset}`` (:func:`open_metrics`); a dataset without
        ``spectrum_pred`` (a vorticity-only external rollout) is left out.
    """
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for row in rows:
        ds = metrics.get(row["solver"])
        if ds is None:
            continue
        if "spectrum_pred" not in ds:  # a vorticity-only external rollout has no spectrum
            continue
        k = np.asarray(ds["wavenumber"].values, float)
        if not spectra and "spectrum_ref" in ds:
            spectra["reference"] = (k, np.asarray(ds["spectrum_ref"].values, float))
        spectra[row["solver"]] = (k, np.asarray(ds["spectrum_pred"].values, float))
    if "reference" in spectra:  # reference drawn last, on top
        spectra["reference"] = spectra.pop("reference")
    return spectra


def _open_trajectory(path: Path, what: str) -> xr.Dataset | None:
    if not path.exists():
        warnings.warn(f"{what} is missing ({path}): left out of the snapshots figure", stacklevel=3)
        return None
    try:
        ds = xr.open_zarr(str(path), consolidated=False, chunks=None)
    except Exception as error:  # noqa: BLE001 - zarr/JSON/decode: any unreadable store
        warnings.warn(f"{what} cannot be read ({path}: {type(error).__name__}: "
                      f"{str(error)[:120]}): left out of the snapshots figure", stacklevel=3)
        return None
    lacking = [name for name in ("time", "x", "y") if name not in ds.coords]
    if not ({"u", "v"} <= set(ds.data_vars) or "vorticity" in ds.data_vars):
        lacking.append("u and v (or vorticity)")
    if lacking:
        warnings.warn(f"{what} ({path}) lacks {', '.join(lacking)}: left out of the snapshots "
                      "figure", stacklevel=3)
        return None
    return ds


def _reference_path(row: Mapping, results_dir: Path) -> Path | None:
    ref = row.get("reference")
    if not ref:
        return None
    path = Path(ref)
    if not path.is_absolute() and not path.exists():
        for base in (results_dir, Path(row["results_path"])):
            if (base / path).exists():
                return base / path
    return path


def _snap_times(requested: Sequence[float], times: np.ndarray) -> tuple[list[int], list[float]]:
    """Indices/times of the stored frames nearest to ``requested``; later times are dropped
    with a warning."""
    times = np.asarray(times, dtype=float)
    spacing = float(np.min(np.diff(times))) if times.size > 1 else 1.0
    lo, hi = times[0] - 0.5 * spacing, times[-1] + 0.5 * spacing
    indices, dropped = [], []
    for t in requested:
        t = float(t)
        if not lo <= t <= hi:
            dropped.append(t)
            continue
        i = int(np.argmin(np.abs(times - t)))
        if i not in indices:
            indices.append(i)
    if dropped:
        warnings.warn(
            f"snapshot times {dropped} lie outside the stored frames "
            f"[{times[0]:.4g}, {times[-1]:.4g}]: dropped", stacklevel=3)
    indices.sort()
    return indices, [float(times[i]) for i in indices]


def _vorticity_frames(ds: xr.Dataset, sample, times: Sequence[float]) -> np.ndarray:
    """Vorticity (time, x, y) of one sample at the nearest frames to ``times`` (NaN where none
    is near)."""
    from neuralpde.evaluation.array_metrics import vorticity

    if sample is not None and sample in set(np.asarray(ds["sample"].values).tolist()):
        one = ds.sel(sample=sample)
    else:
        one = ds.isel(sample=0)
    t = np.asarray(one["time"].values, float)
    spacing = float(np.min(np.diff(t))) if t.size > 1 else 1.0
    nx, ny = int(ds.sizes["x"]), int(ds.sizes["y"])
    out = np.full((len(times), nx, ny), np.nan)
    idx = [int(np.argmin(np.abs(t - s))) for s in times]
    ok = [j for j, (i, s) in enumerate(zip(idx, times)) if abs(t[i] - s) <= 0.5 * spacing + 1e-9]
    if ok and "u" not in ds and "vorticity" in ds:  # a vorticity-only external rollout
        frames = one.isel(time=[idx[j] for j in ok])
        out[ok] = np.asarray(frames["vorticity"].transpose("time", "x", "y").values, dtype=float)
    elif ok:
        frames = one.isel(time=[idx[j] for j in ok])
        u = np.asarray(frames["u"].transpose("time", "x", "y").values)
        v = np.asarray(frames["v"].transpose("time", "x", "y").values)
        dx = float(ds["x"][1] - ds["x"][0])
        dy = float(ds["y"][1] - ds["y"][0])
        out[ok] = np.asarray(vorticity(u, v, dx, dy), dtype=float)
    return out


def snapshot_fields(rows: Sequence[Mapping], results_dir: Path, requested: Sequence[float]):
    """The vorticity snapshots of the reference and every solver, at the stored frames
    nearest to ``requested`` (times outside the frames are dropped with a warning).

    Args:
      rows: summary rows with ``results_path``; the first names the reference store.
      results_dir: the results folder (a relative reference path is looked up there too).
      requested: the snapshot times (time units).

    Returns:
      ``({name: vorticity (time, x, y)}, times, extent)`` with the reference first, or
        None when there is no trajectory or no time to show.
    """
    trajectories = {}
    for row in rows:
        ds = _open_trajectory(Path(row["results_path"]) / TRAJECTORY_FILE,
                              f"trajectory of {row['solver']!r}")
        if ds is not None:
            trajectories[row["solver"]] = ds
    ref_path = _reference_path(rows[0], results_dir)
    reference = None
    if ref_path is None:
        warnings.warn(f"summary of {rows[0]['solver']!r} names no reference store: "
                      "snapshots show the solvers only", stacklevel=3)
    else:
        reference = _open_trajectory(ref_path, "reference store")
    datasets = ({"reference": reference} if reference is not None else {}) | trajectories
    if not datasets:
        return None
    first = next(iter(datasets.values()))
    _, times = _snap_times(requested, first["time"].values)
    if not times:
        return None
    some = next(iter(trajectories.values()), first)
    sample = np.asarray(some["sample"].values)[0] if "sample" in some.coords else None
    fields = {name: _vorticity_frames(ds, sample, times) for name, ds in datasets.items()}
    x, y = np.asarray(first["x"].values, float), np.asarray(first["y"].values, float)
    dx, dy = x[1] - x[0], y[1] - y[0]
    extent = (x[0] - dx / 2, x[-1] + dx / 2, y[0] - dy / 2, y[-1] + dy / 2)
    return fields, times, extent

