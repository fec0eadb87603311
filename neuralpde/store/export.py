"""netCDF export of a trajectory store (for sharing with tools that do not read zarr)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from neuralpde.store.reading import open_store, values
from neuralpde.store.schema import StoreError


def export_netcdf(store_path, nc_path) -> Path:
    """Write a complete store to one netCDF file (for sharing); returns its path.

    Written to a temporary name and renamed, so no half-written file remains.
    Raises :class:`StoreError` for a store :func:`open_store` refuses, a
    chunk that does not decode or a non-finite value (nothing is written).
    """
    import importlib.util

    if importlib.util.find_spec("netCDF4") is None:
        raise StoreError("netCDF export needs the netCDF4 package: pip install 'neuralpde[netcdf]'")
    ds = open_store(store_path)
    ds = ds.assign({name: (ds[name].dims, values(ds, name), ds[name].attrs)
                    for name in ds.data_vars}).load()
    for var in ds.variables.values():
        var.encoding = {}
        var.attrs = {k: (json.dumps(v) if isinstance(v, (list, dict)) else v)
                     for k, v in var.attrs.items()}
    ds.attrs = {k: (json.dumps(v) if isinstance(v, (list, dict, bool)) else v)
                for k, v in ds.attrs.items()}
    nc_path = Path(nc_path)
    tmp = nc_path.with_name(nc_path.name + ".tmp")
    ds.to_netcdf(tmp)
    os.replace(tmp, nc_path)
    return nc_path


__all__ = ["export_netcdf"]
