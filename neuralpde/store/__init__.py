"""Trajectory stores: presets, DNS generation, the zarr schema, reading and export.

* :mod:`~neuralpde.store.presets` — what to generate (flow, grids, splits).
* :mod:`~neuralpde.store.generate` — DNS on the fine grid → downsampled frames
  → a resumable store per split.
* :mod:`~neuralpde.store.schema` — the layout of a store and its writing.
* :mod:`~neuralpde.store.reading` — :func:`open_store` (validation), and what
  solvers, evaluation and training read from a store.
* :mod:`~neuralpde.store.export` — netCDF export.

The names most code needs are importable from here.
"""

from neuralpde.store.export import export_netcdf
from neuralpde.store.reading import (
    frames_for_horizon,
    initial_inputs,
    initial_states,
    open_store,
    reference_frames,
    sample_count,
    staggered_view,
    store_flow,
    trajectory_frames,
    xgcm_grid,
)
from neuralpde.store.schema import (
    SCHEMA_VERSION,
    ResumeLog,
    StoreError,
    StoreLayout,
    create_store,
    history_frames,
    read_attrs,
)

__all__ = ["export_netcdf", "frames_for_horizon", "initial_inputs", "initial_states", "open_store",
           "reference_frames", "sample_count", "staggered_view", "store_flow", "xgcm_grid",
           "trajectory_frames", "SCHEMA_VERSION",
           "ResumeLog", "StoreError", "StoreLayout", "create_store", "history_frames", "read_attrs"]
