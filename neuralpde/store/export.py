"""netCDF export of a trajectory store (for sharing with tools that do not read zarr)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np

from neuralpde.outputs import replaced_atomically
from neuralpde.store.reading import open_store, values
from neuralpde.store.schema import StoreError


def export_netcdf(store_path, nc_path) -> Path:
    """Write a complete store to one netCDF file (for sharing); returns its path.

    Written to a temporary name and renamed, so no half-written file remains
    (an existing file at ``nc_path`` is replaced only by a complete one, and
    only when it is an export too: :func:`written_by_export`; any other file
    is refused, untouched).
    Attributes netCDF cannot hold are converted: lists of numbers to numeric
    array attributes, other lists, dicts, booleans and unset (None) values to
    JSON text, so ``neuralpde import`` reads the file back
    (:func:`_netcdf_attrs`).
    Raises :class:`StoreError` for a store :func:`open_store` refuses, a
    chunk that does not decode or a non-finite value, or when ``nc_path`` is
    a folder (nothing is written).
    """
    import importlib.util

    if importlib.util.find_spec("netCDF4") is None:
        raise StoreError("netCDF export needs the netCDF4 package: pip install 'neuralpde[netcdf]'")
    ds = open_store(store_path)  # validated, not yet read
    nc_path = Path(nc_path)
    if nc_path.is_dir():
        raise StoreError(f"{nc_path} is a folder: pass the path of the netCDF file to write")
    if nc_path.exists() and not written_by_export(nc_path):
        raise StoreError(f"{nc_path} exists and is not a netCDF file written by `neuralpde "
                         "export`: nothing was changed; pass another path or move it away")
    folder = nc_path.resolve().parent
    if not folder.is_dir():
        raise StoreError(f"folder {folder} does not exist: create it, or pass a netCDF path in "
                         "an existing folder")
    ds = ds.assign({name: (ds[name].dims, values(ds, name), ds[name].attrs)
                    for name in ds.data_vars}).load()
    for var in ds.variables.values():
        var.encoding = {}
        var.attrs = _netcdf_attrs(var.attrs)
    ds.attrs = _netcdf_attrs(ds.attrs)
    if shutil.disk_usage(folder).free < ds.nbytes:  # netCDF reports a full disk as EACCES
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(nc_path))
    with replaced_atomically(nc_path) as tmp:
        ds.to_netcdf(tmp)
    return nc_path


def written_by_export(path) -> bool:
    """Whether ``path`` is a netCDF file :func:`export_netcdf` wrote (a store's export: its
    ``schema_version`` and ``neuralpde_version`` attributes), which an export may replace."""
    import xarray as xr

    try:
        with xr.open_dataset(path) as ds:
            return {"schema_version", "neuralpde_version"} <= set(ds.attrs)
    except Exception:  # noqa: BLE001 - anything unreadable is not an export
        return False


def _netcdf_attrs(attrs: dict) -> dict:
    """Attributes netCDF can hold, in the form ``neuralpde import`` reads back.

    A flat, non-empty list of numbers becomes a numeric array attribute (as
    jax-cfd writes ``offset``); other lists, dicts, booleans and unset (None)
    values become JSON text (``'[]'``, ``'{...}'``, ``'true'``, ``'null'``: netCDF
    has no null, e.g. a custom flow's unmeasured ``stationary_energy``), which
    :func:`neuralpde.store.importing.decoded_attr` decodes.
    """
    return {k: (np.asarray(v) if _numbers(v) else json.dumps(v)
                if v is None or isinstance(v, (list, tuple, dict, bool)) else v)
            for k, v in attrs.items()}


def _numbers(value) -> bool:
    """A flat, non-empty list (or tuple) of int/float numbers, booleans excluded."""
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value))


__all__ = ["export_netcdf", "written_by_export"]
