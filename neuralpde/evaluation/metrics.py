"""Metrics of 2-D incompressible Navier–Stokes trajectory datasets (protocol §2).

The xarray layer: trajectory ``xarray.Dataset`` in, ``xarray`` out —
:func:`vorticity_da`, :func:`correlation_da`, :func:`duration_summary`,
:func:`spectrum_da`, :func:`energy_da`, :func:`enstrophy_da`,
:func:`compute_metrics`.  Arrays are read to numpy at the boundary and fed to
the jitted array functions of :mod:`neuralpde.evaluation.array_metrics` in
chunks of frames (``chunk_size``), so that e.g. 8 samples × 300 frames × 64²
never materialises large jnp intermediates (FFTs, vorticity) at once; results
come back as float64.  The array functions (:func:`vorticity`,
:func:`vorticity_correlation`, :func:`kinetic_energy`, :func:`enstrophy`,
:func:`relative_l2_error`, :func:`energy_spectrum`, :func:`corner_shell`,
:func:`high_correlation_duration`) are re-exported here, so that
``from neuralpde.evaluation.metrics import ...`` reaches both layers.

Grid conventions (fixed by the project): velocity on a staggered (MAC)
periodic grid of N×N cells on [0, L]², step dx = L/N.  ``u`` sits at offset
(1, 0.5) — x = (i+1)dx, y = (j+0.5)dx — and ``v`` at offset (0.5, 1).
Datasets have data vars ``u``, ``v`` with dims (sample, time, x, y) and coords
``sample``, ``time`` (physical time units), ``x``, ``y`` (cell centres
(i+0.5)dx); dx = ``x[1] - x[0]`` and L = N dx.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from neuralpde.evaluation.array_metrics import (
    corner_shell,
    energy_spectrum,
    enstrophy,
    high_correlation_duration,
    kinetic_energy,
    relative_l2_error,
    vorticity,
    vorticity_correlation,
)

__all__ = [
    "vorticity",
    "vorticity_correlation",
    "kinetic_energy",
    "enstrophy",
    "relative_l2_error",
    "energy_spectrum",
    "corner_shell",
    "high_correlation_duration",
    "vorticity_da",
    "correlation_da",
    "duration_summary",
    "spectrum_da",
    "energy_da",
    "enstrophy_da",
    "compute_metrics",
]

#: Frames handed to the jitted numerics at once by the xarray layer.
DEFAULT_CHUNK_SIZE = 256

#: Relative tolerance (in units of the frame spacing) when matching time values.
TIME_MATCH_RTOL = 1e-6


@jax.jit
def _vorticity_chunk(u, v, dx, dy):
    return (vorticity(u, v, dx, dy),)


@jax.jit
def _energy_chunk(u, v):
    return (kinetic_energy(u, v),)


@jax.jit
def _enstrophy_chunk(u, v, dx, dy):
    return (enstrophy(vorticity(u, v, dx, dy)),)


@partial(jax.jit, static_argnames=("max_shell",))
def _spectrum_chunk(u, v, domain_size, max_shell):
    return (energy_spectrum(u, v, domain_size, max_shell)[1],)


@jax.jit
def _correlation_chunk(up, vp, ur, vr, dx, dy):
    return (vorticity_correlation(vorticity(up, vp, dx, dy), vorticity(ur, vr, dx, dy)),)


@partial(jax.jit, static_argnames=("max_shell",))
def _pair_chunk(up, vp, ur, vr, dx, dy, domain_size, max_shell):
    wp = vorticity(up, vp, dx, dy)
    wr = vorticity(ur, vr, dx, dy)
    return (
        vorticity_correlation(wp, wr),
        kinetic_energy(up, vp),
        kinetic_energy(ur, vr),
        enstrophy(wp),
        enstrophy(wr),
        energy_spectrum(up, vp, domain_size, max_shell)[1],
        energy_spectrum(ur, vr, domain_size, max_shell)[1],
        relative_l2_error(up, vp, ur, vr),
    )


def _map_frames(
    fn: Callable[..., tuple[jax.Array, ...]],
    arrays: Sequence[np.ndarray],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[np.ndarray, ...]:
    """Apply ``fn`` to (B, x, y) chunks of frames of same-shape arrays.

    ``arrays`` have shape (*lead, x, y); ``fn`` maps chunks (b, x, y) to a
    tuple of arrays with leading dim b.  Returns float64 numpy arrays of shape
    (*lead, ...).
    """
    lead = arrays[0].shape[:-2]
    n_frames = math.prod(lead)
    if n_frames == 0:
        raise ValueError("no frames to evaluate")
    flats = [np.asarray(a).reshape((n_frames,) + a.shape[-2:]) for a in arrays]
    step = max(int(chunk_size), 1)
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, n_frames, step):
        chunk = [jnp.asarray(f[start : start + step]) for f in flats]
        parts.append(tuple(np.asarray(r, dtype=np.float64) for r in fn(*chunk)))
    outs = (np.concatenate(col, axis=0) for col in zip(*parts))
    return tuple(o.reshape(lead + o.shape[1:]) for o in outs)


def _grid(ds: xr.Dataset) -> tuple[int, int, float, float]:
    """(nx, ny, dx, dy) from the cell-centre coords of a trajectory dataset."""
    nx, ny = int(ds.sizes["x"]), int(ds.sizes["y"])
    if nx < 2 or ny < 2:
        raise ValueError(f"need at least 2 cells per axis, got {nx}x{ny}")
    dx = float(ds.x[1] - ds.x[0])
    dy = float(ds.y[1] - ds.y[0])
    return nx, ny, dx, dy


def _velocity(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """``u``, ``v`` with x, y moved last (dims of ``u`` otherwise kept)."""
    u = ds["u"].transpose(..., "x", "y")
    v = ds["v"].transpose(*u.dims)
    return u, v


def _frame_spacing(*time_arrays: np.ndarray) -> float:
    """Smallest positive spacing between distinct frame times (1.0 if none)."""
    gaps = []
    for t in time_arrays:
        d = np.diff(np.unique(np.asarray(t, dtype=np.float64)))
        d = d[d > 0]
        if d.size:
            gaps.append(float(d.min()))
    return min(gaps) if gaps else 1.0


def _match_times(
    t_pred: np.ndarray, t_ref: np.ndarray, rtol: float = TIME_MATCH_RTOL
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ip, ir) of pred/ref frames whose times match.

    Nearest match within ``tol = max(rtol * spacing, 4 eps |t|_max)`` where
    spacing is the smallest frame spacing of either set and eps the machine
    epsilon of the less precise time dtype (the second term only matters
    for float32 times, whose rounding can exceed 1e-6 of a frame).
    """
    tp = np.asarray(t_pred, dtype=np.float64)
    tr = np.asarray(t_ref, dtype=np.float64)
    if tp.size == 0 or tr.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    eps = max(
        (float(np.finfo(t.dtype).eps) for t in (np.asarray(t_pred), np.asarray(t_ref))
         if np.issubdtype(t.dtype, np.floating)),
        default=0.0,
    )
    scale = max(float(np.abs(tp).max()), float(np.abs(tr).max()), 1.0)
    tol = max(rtol * _frame_spacing(tp, tr), 4 * eps * scale)
    order = np.argsort(tr, kind="stable")
    trs = tr[order]
    pos = np.searchsorted(trs, tp)
    lo = np.clip(pos - 1, 0, trs.size - 1)
    hi = np.clip(pos, 0, trs.size - 1)
    best = np.where(np.abs(trs[lo] - tp) <= np.abs(trs[hi] - tp), lo, hi)
    ok = np.abs(trs[best] - tp) <= tol
    return np.nonzero(ok)[0], order[best[ok]]


def _range(t: np.ndarray) -> str:
    t = np.asarray(t, dtype=np.float64)
    if t.size == 0:
        return "[] (0 frames)"
    return f"[{t.min():.6g}, {t.max():.6g}] ({t.size} frames)"


def _align(pred: xr.Dataset, ref: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """Select the common samples and (nearest-matched) common frames.

    The result has the sample and time coords of ``pred``, in ``pred`` order.

    Raises:
      ValueError: if the x/y grid sizes differ (both sizes named), or if no
        sample or no time value is shared (both ranges named).
    """
    for name, ds in (("pred", pred), ("ref", ref)):
        missing = {"sample", "time", "x", "y"} - set(ds["u"].dims)
        if missing:
            raise ValueError(f"{name}.u lacks dims {sorted(missing)}; has {ds['u'].dims}")
    p_shape = (int(pred.sizes["x"]), int(pred.sizes["y"]))
    r_shape = (int(ref.sizes["x"]), int(ref.sizes["y"]))
    if p_shape != r_shape:
        raise ValueError(
            f"grid sizes differ: pred is {p_shape[0]}x{p_shape[1]}, ref is "
            f"{r_shape[0]}x{r_shape[1]}; downsample the reference to the model grid first"
        )

    p_samples = list(np.asarray(pred["sample"].values))
    r_index = {s: i for i, s in enumerate(np.asarray(ref["sample"].values))}
    ip_s = [i for i, s in enumerate(p_samples) if s in r_index]
    if not ip_s:
        raise ValueError(
            f"no common samples: pred has {p_samples[:8]}..., ref has {list(r_index)[:8]}..."
        )
    ir_s = [r_index[p_samples[i]] for i in ip_s]

    t_pred = np.asarray(pred["time"].values)
    t_ref = np.asarray(ref["time"].values)
    ip_t, ir_t = _match_times(t_pred, t_ref)
    if ip_t.size == 0:
        raise ValueError(
            f"no common time values: pred covers time {_range(t_pred)}, "
            f"ref covers time {_range(t_ref)}"
        )
    p = pred.isel(sample=ip_s, time=ip_t)
    r = ref.isel(sample=ir_s, time=ir_t).assign_coords(
        sample=p["sample"].values, time=p["time"].values
    )
    return p, r


def vorticity_da(ds: xr.Dataset, chunk_size: int = DEFAULT_CHUNK_SIZE) -> xr.DataArray:
    """Vorticity ω = ∂v/∂x − ∂u/∂y of a trajectory dataset (see :func:`vorticity`).

    Returns a DataArray with the dims and coords of ``ds.u`` (x, y moved
    last), named ``'vorticity'``.  The x/y coords are kept as the dataset's
    cell-centre labels; the true position is offset (1, 1), i.e.
    x = (i+1)dx, y = (j+1)dy, recorded in ``attrs['offset']``.
    """
    _, _, dx, dy = _grid(ds)
    u, v = _velocity(ds)
    (w,) = _map_frames(partial(_vorticity_chunk, dx=dx, dy=dy), [u.values, v.values], chunk_size)
    return xr.DataArray(
        w.astype(np.float32),
        dims=u.dims,
        coords=u.coords,
        name="vorticity",
        attrs={
            "long_name": "vorticity dv/dx - du/dy (periodic forward differences)",
            "units": "1",
            "offset": (1.0, 1.0),
            "grid_step": (dx, dy),
        },
    )


def correlation_da(
    pred: xr.Dataset, ref: xr.Dataset, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> xr.DataArray:
    """Vorticity correlation (sample, time) of ``pred`` against ``ref``.

    Frames are aligned on common ``time`` values (nearest match within 1e-6 of
    the frame spacing) and common ``sample`` labels; the output carries the
    ``pred`` coords.  See :func:`vorticity_correlation`.

    Raises:
      ValueError: if the grid sizes differ (both sizes named) or nothing
        overlaps (both time ranges named).
    """
    p, r = _align(pred, ref)
    _, _, dx, dy = _grid(p)
    up, vp = _velocity(p.transpose("sample", "time", ...))
    ur, vr = _velocity(r.transpose("sample", "time", ...))
    (corr,) = _map_frames(
        partial(_correlation_chunk, dx=dx, dy=dy),
        [up.values, vp.values, ur.values, vr.values],
        chunk_size,
    )
    return xr.DataArray(
        corr,
        dims=("sample", "time"),
        coords={"sample": p["sample"].values, "time": p["time"].values},
        name="correlation",
        attrs={"long_name": "vorticity correlation (cosine similarity, no mean subtraction)"},
    )


def duration_summary(
    corr: xr.DataArray, threshold: float = 0.8, horizon: float = 20.0
) -> xr.Dataset:
    """High-correlation durations of a (sample, time) correlation DataArray.

    See :func:`high_correlation_duration` for the definition; times are taken
    relative to the first frame of ``corr``.

    Returns:
      A dataset with ``duration_of_mean`` (scalar; the duration of the
        sample-mean curve, the published metric; the mean does not skip NaN,
        so a diverged sample ends it); ``duration_per_sample`` (sample);
        ``duration_mean``, ``duration_std`` (population, ddof=0),
        ``duration_min``, ``duration_max`` over samples.  attrs
        ``threshold``, ``horizon``.  A ``corr`` without a sample dim is
        treated as one sample.
    """
    if "sample" not in corr.dims:
        corr = corr.expand_dims(sample=[0])
    corr = corr.transpose("sample", "time")
    times = np.asarray(corr["time"].values, dtype=np.float64)
    values = np.asarray(corr.values, dtype=np.float64)
    per_sample = high_correlation_duration(values, times, threshold, horizon)
    of_mean = high_correlation_duration(values.mean(axis=0), times, threshold, horizon)
    attrs = {"units": "time"}
    return xr.Dataset(
        {
            "duration_of_mean": ((), float(of_mean), attrs),
            "duration_per_sample": (("sample",), per_sample, attrs),
            "duration_mean": ((), float(per_sample.mean()), attrs),
            "duration_std": ((), float(per_sample.std()), attrs),
            "duration_min": ((), float(per_sample.min()), attrs),
            "duration_max": ((), float(per_sample.max()), attrs),
        },
        coords={"sample": corr["sample"].values},
        attrs={"threshold": float(threshold), "horizon": float(horizon)},
    )


def spectrum_da(
    ds: xr.Dataset,
    time_indices: Sequence[int] | np.ndarray | slice | None = None,
    max_shell: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> xr.DataArray:
    """Isotropic energy spectrum of every frame: dims (*lead, wavenumber).

    ``*lead`` are the non-grid dims of ``ds.u`` (sample?, time); ``time_indices``
    (positional) selects frames first.  Shells above ``max_shell`` (default
    N//2) are dropped — see :func:`energy_spectrum`.  Coords: ``wavenumber``
    (physical, 2πk/L) and ``shell`` (integer k).
    """
    if time_indices is not None:
        ds = ds.isel(time=time_indices)
    nx, ny, dx, _ = _grid(ds)
    if nx != ny:
        raise ValueError(f"energy spectrum needs a square grid, got {nx}x{ny}")
    domain = dx * nx
    k_max = nx // 2 if max_shell is None else int(max_shell)
    u, v = _velocity(ds)
    (spec,) = _map_frames(
        partial(_spectrum_chunk, domain_size=domain, max_shell=k_max), [u.values, v.values],
        chunk_size,
    )
    lead = u.dims[:-2]
    shells = np.arange(k_max + 1)
    coords = {d: u.coords[d] for d in lead if d in u.coords}
    coords.update(wavenumber=2 * np.pi * shells / domain, shell=("wavenumber", shells))
    return xr.DataArray(
        spec,
        dims=lead + ("wavenumber",),
        coords=coords,
        name="energy_spectrum",
        attrs={"long_name": "shell-summed kinetic energy spectrum", "max_shell": k_max},
    )


def _lead_da(ds: xr.Dataset, values: np.ndarray, name: str, long_name: str) -> xr.DataArray:
    u, _ = _velocity(ds)
    lead = u.dims[:-2]
    coords = {d: u.coords[d] for d in lead if d in u.coords}
    return xr.DataArray(values, dims=lead, coords=coords, name=name, attrs={"long_name": long_name})


def energy_da(ds: xr.Dataset, chunk_size: int = DEFAULT_CHUNK_SIZE) -> xr.DataArray:
    """Kinetic energy ½⟨u² + v²⟩ per frame: dims (sample, time)."""
    u, v = _velocity(ds)
    (e,) = _map_frames(_energy_chunk, [u.values, v.values], chunk_size)
    return _lead_da(ds, e, "energy", "kinetic energy 1/2 <u^2 + v^2>")


def enstrophy_da(ds: xr.Dataset, chunk_size: int = DEFAULT_CHUNK_SIZE) -> xr.DataArray:
    """Enstrophy ½⟨ω²⟩ per frame: dims (sample, time)."""
    _, _, dx, dy = _grid(ds)
    u, v = _velocity(ds)
    (z,) = _map_frames(partial(_enstrophy_chunk, dx=dx, dy=dy), [u.values, v.values], chunk_size)
    return _lead_da(ds, z, "enstrophy", "enstrophy 1/2 <omega^2>")


def _pair_dataset(corr_da: xr.DataArray, per_frame, spectra, domain: float) -> xr.Dataset:
    """The dataset of :func:`compute_metrics` less the durations: the correlation, the
    per-frame (sample, time) energies, enstrophies and relative L2 error, and the spectra
    averaged over samples and frames."""
    st = ("sample", "time")
    e_p, e_r, z_p, z_r, rel = per_frame
    s_p, s_r = spectra
    shells = np.arange(s_p.shape[-1])
    return xr.Dataset(
        {
            "correlation": corr_da,
            "correlation_mean": corr_da.mean("sample", skipna=False),
            "energy_pred": (st, e_p),
            "energy_ref": (st, e_r),
            "enstrophy_pred": (st, z_p),
            "enstrophy_ref": (st, z_r),
            "relative_l2": (st, rel),
            "spectrum_pred": (("wavenumber",), s_p.mean(axis=(0, 1))),
            "spectrum_ref": (("wavenumber",), s_r.mean(axis=(0, 1))),
        },
        coords={
            "sample": corr_da["sample"].values,
            "time": corr_da["time"].values,
            "wavenumber": 2 * np.pi * shells / domain,
            "shell": ("wavenumber", shells),
        },
    )


def compute_metrics(
    pred: xr.Dataset,
    ref: xr.Dataset,
    threshold: float = 0.8,
    horizon: float = 20.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> xr.Dataset:
    """All protocol-§2 trajectory metrics of ``pred`` against ``ref``.

    Frames are aligned as in :func:`correlation_da` (common samples, common
    times; ``ref`` must already be on the model grid).  One chunked pass
    computes everything.

    Returns:
      A dataset with ``correlation`` (sample, time); ``correlation_mean``
        (time, sample mean, NaN not skipped); ``energy_pred``, ``energy_ref``,
        ``enstrophy_pred``, ``enstrophy_ref``, ``relative_l2`` (relative L2
        velocity error, :func:`relative_l2_error`) (sample, time);
        ``spectrum_pred``, ``spectrum_ref`` (wavenumber), the spectra averaged
        over all compared (aligned) frames and samples, shells 0..N//2 (corner
        modes dropped, see :func:`energy_spectrum`); plus the variables of
        :func:`duration_summary`.  attrs ``threshold``, ``horizon``.

    Raises:
      ValueError: as :func:`correlation_da`.
    """
    p, r = _align(pred, ref)
    nx, ny, dx, dy = _grid(p)
    if nx != ny:
        raise ValueError(f"metrics need a square grid, got {nx}x{ny}")
    domain = dx * nx
    k_max = nx // 2
    up, vp = _velocity(p.transpose("sample", "time", ...))
    ur, vr = _velocity(r.transpose("sample", "time", ...))
    corr, e_p, e_r, z_p, z_r, s_p, s_r, rel = _map_frames(
        partial(_pair_chunk, dx=dx, dy=dy, domain_size=domain, max_shell=k_max),
        [up.values, vp.values, ur.values, vr.values],
        chunk_size,
    )
    coords = {"sample": p["sample"].values, "time": p["time"].values}
    corr_da = xr.DataArray(corr, dims=("sample", "time"), coords=coords, name="correlation")
    out = _pair_dataset(corr_da, (e_p, e_r, z_p, z_r, rel), (s_p, s_r), domain)
    summary = duration_summary(corr_da, threshold, horizon)
    out = out.merge(summary)
    out.attrs = {"threshold": float(threshold), "horizon": float(horizon)}
    return out
