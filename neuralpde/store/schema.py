"""The trajectory store's schema and its writing: an xarray dataset on zarr, chunk by chunk.

Schema (``SCHEMA_VERSION`` 1), one store per split (``train.zarr``, ``test.zarr``):

=================  ====================================  =====================================
variable           dims                                  meaning
=================  ====================================  =====================================
``u``              (sample, time, x, y) float32          x-velocity on x-faces, offset (1, ½)
``v``              (sample, time, x, y) float32          y-velocity on y-faces, offset (½, 1)
``u_init_<n>``     (sample, x_<n>, y_<n>) float32        u of the first frame on an n² grid
``v_init_<n>``     (sample, x_<n>, y_<n>) float32        v of the first frame on an n² grid
``u_history``      (sample, lag, x, y) float32           u one model step apart up to t = 0
``v_history``      (sample, lag, x, y) float32           v one model step apart up to t = 0
``lag``            (lag,) float64                        time of a history frame (≤ 0)
``energy_t0``      (sample,) float64                     kinetic energy ½⟨u²+v²⟩ at t = 0, fine grid
``enstrophy_t0``   (sample,) float64                     enstrophy ½⟨ω²⟩ at t = 0, fine grid
``sample``         (sample,) int64                       global sample index (seeds the IC)
``time``           (time,) float64                       physical time since the end of warm-up
``x``, ``y``       (x,), (y,) float64                    cell centres (i + ½)·dx
=================  ====================================  =====================================

The ``*_init_<n>`` variables hold the reference initial state downsampled to
the extra resolutions of the preset (the starting points of the coarse DNS
baselines).  The ``*_history`` variables (only when the split's ``history``
is > 0; attr ``history_frames``) hold the last frames of the warm-up, one
model step apart, ending with the first frame (``lag`` = 0): the prefix a
temporal stencil model (TSM) encodes before it rolls out from t = 0.  Offsets are
in grid steps and are recorded in each variable's ``offset`` attribute; a component's
position is ``(i + offset_x)·dx``.

Dataset attrs: ``schema_version``, ``preset``, ``split``, ``config_json`` (the
full generation config), ``flow``, ``model_size``, ``fine_size``,
``inner_steps``, ``dt_model``, ``save_every``, ``frame_dt``, ``warmup``,
``seed``, ``seed_stream``, ``n_samples``, ``initial_sizes``, ``history_frames``,
``stationary_energy``, ``stationary_enstrophy`` (the preset's measured
stationary values, or None), ``solver``, ``neuralpde_version``,
``neuralpde_git_commit`` (the commit of the checkout that started the store, ``''``
outside one; absent in older stores), ``machine`` (where it was started,
:func:`neuralpde.machine`; absent in older stores), ``jax_version``, ``jax_cfd_version``,
``complete`` (0 or 1), ``failed`` (why a generation stopped, "" otherwise).
``energy_t0``/``enstrophy_t0`` and the attrs after ``seed_stream`` exist in
stores written since the validation split was added; older stores lack them.

Writes go straight to zarr regions, one (sample batch × time chunk) block at a
time; the sample chunk equals the generation batch, so several processes can
fill different batches of one store.  Progress lives beside the store in
``<store>.resume/`` (see :class:`ResumeLog`); every file there is written to a
temporary name and renamed, so a kill at any instant leaves either the old or
the new state, never a half-written one.

Reading (validation, the flow of a store, initial states, frames for a
horizon) is :mod:`neuralpde.store.reading`; netCDF export
:mod:`neuralpde.store.export`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from neuralpde.config import UserInputError

SCHEMA_VERSION = 1
REQUIRED_VARIABLES = ("u", "v")
TRAJECTORY_DIMS = ("sample", "time", "x", "y")
HISTORY_DIMS = ("sample", "lag", "x", "y")
REQUIRED_ATTRS = (
    "schema_version", "preset", "split", "config_json", "model_size", "fine_size",
    "dt_model", "save_every", "frame_dt", "seed", "n_samples", "initial_sizes", "complete",
)
OFFSETS = {"u": (1.0, 0.5), "v": (0.5, 1.0)}
#: The phases a generation's resume record can be in (:class:`ResumeLog`).
PHASES = ("coarse", "warmup", "frames")


class StoreError(UserInputError, ValueError):
    """A trajectory store is missing, incomplete, corrupted or made for something else."""


@dataclasses.dataclass(frozen=True)
class StoreLayout:
    """Shape and chunking of a store.

    Args:
      n_samples: number of trajectories.
      n_frames: saved frames per trajectory (the first is t = 0).
      size: model grid cells per side.
      domain_size: side of the periodic square.
      frame_dt: physical time between saved frames.
      sample_chunk: samples per zarr chunk (= the generation batch).
      time_chunk: frames per zarr chunk.
      initial_sizes: extra grids whose first frame is kept as ``*_init_<n>``.
      history_frames: model-step frames kept up to t = 0 as ``*_history``.
      dt_model: the model step (the spacing of the history frames).
      diagnostics: keep ``energy_t0``/``enstrophy_t0`` (what generation records).
    """

    n_samples: int
    n_frames: int
    size: int
    domain_size: float
    frame_dt: float
    sample_chunk: int
    time_chunk: int
    initial_sizes: tuple[int, ...] = ()
    history_frames: int = 0
    dt_model: float = 0.0
    diagnostics: bool = False


def create_store(path: str | os.PathLike, layout: StoreLayout, attrs: dict[str, Any]) -> None:
    """Create an empty store (all values NaN) with coordinates and attrs.

    The store is built under a temporary name and renamed into place, so a
    store either exists whole (with its full skeleton) or not at all.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".creating")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_skeleton(tmp, layout, attrs)
    except BaseException:  # out of memory, interrupted: leave no half-made skeleton behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def _write_skeleton(tmp: Path, layout: StoreLayout, attrs: dict[str, Any]) -> None:
    """The empty store of :func:`create_store`, written at ``tmp``."""
    group = zarr.open_group(str(tmp), mode="w")
    group.attrs.update({**attrs, "schema_version": SCHEMA_VERSION, "complete": 0,
                        "initial_sizes": list(layout.initial_sizes),
                        "history_frames": layout.history_frames})
    n, dx = layout.size, layout.domain_size / layout.size
    _coordinate(group, "sample", np.arange(layout.n_samples, dtype=np.int64),
                {"long_name": "sample index"})
    _coordinate(group, "time", np.arange(layout.n_frames) * layout.frame_dt,
                coordinate_attrs("time", "time since end of warm-up"))
    for axis in ("x", "y"):
        _coordinate(group, axis, (np.arange(n) + 0.5) * dx,
                    coordinate_attrs(axis, f"{axis} of cell centres"))
    for name in REQUIRED_VARIABLES:
        group.create_array(
            name, shape=(layout.n_samples, layout.n_frames, n, n),
            chunks=(layout.sample_chunk, layout.time_chunk, n, n), dtype="float32",
            fill_value=np.nan, dimension_names=list(TRAJECTORY_DIMS),
            attributes=_velocity_attrs(name))
    for m in layout.initial_sizes:
        for axis in ("x", "y"):
            _coordinate(group, f"{axis}_{m}", (np.arange(m) + 0.5) * layout.domain_size / m,
                        coordinate_attrs(axis, f"{axis} of cell centres on the {m}² grid"))
        for name in REQUIRED_VARIABLES:
            group.create_array(
                f"{name}_init_{m}", shape=(layout.n_samples, m, m),
                chunks=(layout.sample_chunk, m, m), dtype="float32", fill_value=np.nan,
                dimension_names=["sample", f"x_{m}", f"y_{m}"],
                attributes=_velocity_attrs(name, f" of the first frame on the {m}² grid"))
    diagnostics = (("energy_t0", "kinetic energy 1/2 <u^2 + v^2> at t = 0 (fine grid)"),
                   ("enstrophy_t0", "enstrophy 1/2 <omega^2> at t = 0 (fine grid)"))
    for name, long_name in diagnostics if layout.diagnostics else ():
        group.create_array(name, shape=(layout.n_samples,), chunks=(layout.sample_chunk,),
                           dtype="float64", fill_value=np.nan, dimension_names=["sample"],
                           attributes={"long_name": long_name})
    if layout.history_frames:
        h = layout.history_frames
        _coordinate(group, "lag", (np.arange(h) - (h - 1)) * layout.dt_model,
                    {"units": "1", "long_name": "time of the history frame (0: first frame), "
                                                "in the flow's time unit L/U"})
        for name in REQUIRED_VARIABLES:
            group.create_array(
                f"{name}_history", shape=(layout.n_samples, h, n, n),
                chunks=(layout.sample_chunk, h, n, n), dtype="float32", fill_value=np.nan,
                dimension_names=list(HISTORY_DIMS),
                attributes=_velocity_attrs(name, ", one model step apart up to t = 0"))


#: CF attributes of the coordinates (stores, trajectories, metrics): see :func:`coordinate_attrs`.
#: The flow is nondimensional (lengths in L, the domain [0, 2π L]; times in L/U): units "1",
#: which UDUNITS parses, and ``long_name`` says which scale.  ``axis`` lets cf_xarray (and
#: any CF reader) find X, Y and T.  No CF ``standard_name`` fits nondimensional Cartesian
#: coordinates or velocities ("time" requires a time unit), so none is set.
AXES = {"time": ("T", "in units of L/U"), "x": ("X", "in units of L"), "y": ("Y", "in units of L")}


def coordinate_attrs(name: str, long_name: str) -> dict:
    """``units`` "1", ``axis`` and a ``long_name`` naming the scale, for coordinate ``name``
    (``'time'``, ``'x'``, ``'y'``; a suffixed ``'x_64'`` as ``'x'``)."""
    axis, scale = AXES[name.split("_")[0]]
    return {"units": "1", "axis": axis, "long_name": f"{long_name} ({scale})"}


def _coordinate(group, name: str, values: np.ndarray, attrs: dict) -> None:
    array = group.create_array(name, shape=values.shape, dtype=values.dtype, fill_value=0,
                               dimension_names=[name], attributes=attrs)
    array[:] = values


def _velocity_attrs(name: str, extra: str = "") -> dict:
    component = "x" if name == "u" else "y"
    return {"units": "1", "offset": list(OFFSETS[name]),
            "long_name": f"{component}-velocity on the {component}-faces{extra}, in the flow's "
                         "velocity unit U"}


def write_frames(path, sample_start: int, time_start: int, uv: np.ndarray) -> None:
    """Write ``uv`` of shape ``(samples, frames, 2, n, n)`` at the given region."""
    group = zarr.open_group(str(path), mode="r+")
    s, t = uv.shape[:2]
    group["u"][sample_start:sample_start + s, time_start:time_start + t] = uv[:, :, 0]
    group["v"][sample_start:sample_start + s, time_start:time_start + t] = uv[:, :, 1]


def write_initial(path, size: int, sample_start: int, uv: np.ndarray) -> None:
    """Write the first frame ``uv`` ``(samples, 2, m, m)`` on the extra grid ``size``."""
    group = zarr.open_group(str(path), mode="r+")
    s = uv.shape[0]
    group[f"u_init_{size}"][sample_start:sample_start + s] = uv[:, 0]
    group[f"v_init_{size}"][sample_start:sample_start + s] = uv[:, 1]


def write_history(path, sample_start: int, uv: np.ndarray) -> None:
    """Write the history frames ``uv`` ``(samples, history, 2, n, n)`` (ending at t = 0)."""
    group = zarr.open_group(str(path), mode="r+")
    s = uv.shape[0]
    group["u_history"][sample_start:sample_start + s] = uv[:, :, 0]
    group["v_history"][sample_start:sample_start + s] = uv[:, :, 1]


def write_diagnostics(path, sample_start: int, energy: np.ndarray, enstrophy: np.ndarray) -> None:
    """Write the end-of-warm-up kinetic energy and enstrophy ``(samples,)``."""
    group = zarr.open_group(str(path), mode="r+")
    s = energy.shape[0]
    group["energy_t0"][sample_start:sample_start + s] = energy
    group["enstrophy_t0"][sample_start:sample_start + s] = enstrophy


def history_frames(ds) -> int:
    """Model-step frames a store keeps up to t = 0 (0 for stores made without them)."""
    return int(ds.attrs.get("history_frames", 0))


def read_attrs(path) -> dict:
    """The dataset attrs of a store, or :class:`StoreError` if it is not one."""
    try:
        return dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception as error:  # zarr raises several types for "not a group"
        raise StoreError(f"{path} is not a neuralpde trajectory store: {error}") from error


def mark_complete(path) -> None:
    zarr.open_group(str(path), mode="r+").attrs["complete"] = 1


def mark_failed(path, reason: str) -> None:
    """Record why a generation stopped (the store stays incomplete)."""
    zarr.open_group(str(path), mode="r+").attrs["failed"] = reason


class ResumeLog:
    """Progress of one store's generation, kept beside it in ``<store>.resume/``.

    For each sample batch ``b`` it holds either ``batch_<b>.done`` (all of the
    batch's frames are written) or ``batch_<b>.npz``: the fine-grid state and
    the phase/count it belongs to, saved after the matching frames were
    written.  Files are written to a temporary name and renamed (atomic on
    POSIX), so a SIGKILL leaves a consistent log.
    """

    def __init__(self, store_path):
        self.root = Path(str(store_path) + ".resume")

    def _file(self, batch: int, suffix: str) -> Path:
        return self.root / f"batch_{batch:05d}.{suffix}"

    def is_done(self, batch: int) -> bool:
        return self._file(batch, "done").exists()

    def mark_done(self, batch: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(self._file(batch, "done"), b"done\n")
        self._file(batch, "npz").unlink(missing_ok=True)

    def save(self, batch: int, state, phase: str, count: int) -> None:
        """Record ``state`` (one array, or a tuple of arrays) as batch ``batch``'s progress.

        A tuple (the pseudo-spectral state ``(omega_hat, mean)``) is kept as
        ``state_0, state_1, ...``; one array as ``state`` (the format of
        stores written before tuples existed).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        target = self._file(batch, "npz")
        tmp = target.with_name(target.name + ".tmp")
        if isinstance(state, tuple):
            arrays = {f"state_{i}": np.asarray(leaf) for i, leaf in enumerate(state)}
        else:
            arrays = {"state": np.asarray(state)}
        with open(tmp, "wb") as handle:
            np.savez(handle, phase=np.array(phase), count=np.array(count), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)

    def load(self, batch: int) -> tuple | None:
        """``(state, phase, count)`` saved for batch ``batch`` (state as saved), or None.

        None too when the record cannot serve (:meth:`checked`: truncated,
        not an ``.npz``, keys, phase or count that no generation writes, a
        non-finite state), with a one-line warning naming the file: the batch
        then starts again from its first step, which writes the same frames
        (generation is deterministic), instead of failing on the bad record or
        blaming the flow for its NaN.
        """
        target = self._file(batch, "npz")
        if not target.exists():
            return None
        try:
            with np.load(target, allow_pickle=False) as data:
                record = self.checked(data)
                if isinstance(record, str):
                    raise ValueError(record)
        except Exception as error:  # noqa: BLE001 - zip, pickle, dtype: any unreadable file
            warnings.warn(f"resume record {target} is damaged ({str(error)[:120]}): batch {batch} "
                          "starts again from its first step", stacklevel=2)
            return None
        return record

    def checked(self, data) -> Any:
        """``(state, phase, count)`` of an opened ``.npz`` record, or a text saying why it is not
        one this log writes (unknown phase, count not an integer >= 0 or past the store's
        frames, no state, a non-finite or non-float state)."""
        files = set(data.files)
        if not {"phase", "count"} <= files:
            return f"it lacks {sorted({'phase', 'count'} - files)}"
        phase, count = data["phase"], data["count"]
        if phase.shape != () or str(phase) not in PHASES:
            return f"phase {str(phase)[:20]!r}, accepted one of {list(PHASES)}"
        if count.shape != () or count.dtype.kind not in "iu" or int(count) < 0:
            return f"count {str(count)[:20]}, accepted an integer >= 0"
        phase, count = str(phase), int(count)
        if phase == "frames" and count >= self.frames():
            return f"count {count} at or past the store's {self.frames()} frames"
        if "state" in files:
            state = data["state"]
            leaves = [state]
        else:
            names = sorted((k for k in files if re.fullmatch(r"state_\d+", k)),
                           key=lambda k: int(k.split("_")[1]))
            if not names:
                return "it holds no state"
            leaves = [data[k] for k in names]
            state = tuple(leaves)
        for leaf in leaves:
            if leaf.dtype.kind not in "fc" or not np.isfinite(leaf).all():
                return "its state is not finite floating-point numbers"
        return state, phase, count

    def frames(self) -> int:
        """Frames per trajectory of the store this log belongs to (a huge number when its
        time axis cannot be read: no bound)."""
        try:
            return int(zarr.open_array(str(self.root)[:-len(".resume")] + "/time",
                                       mode="r").shape[0])
        except Exception:  # noqa: BLE001 - the store itself is checked elsewhere
            return 2 ** 62

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _atomic_write_bytes(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
