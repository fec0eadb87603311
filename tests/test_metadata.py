"""Standard metadata: CF axes and units, and the staggered (C-grid) positions for xgcm."""

import numpy as np
import pytest

from neuralpde.physics.diagnostics import vorticity
from neuralpde.store import open_store, staggered_view, xgcm_grid


def test_a_store_opens_in_cf_xarray_and_xgcm_gives_the_package_vorticity(tiny_data):
    cf_xarray = pytest.importorskip("cf_xarray")  # noqa: F841 (registers the .cf accessor)
    ds = open_store(tiny_data / "test.zarr")
    assert ds.cf.axes == {"X": ["x"], "Y": ["y"], "T": ["time"]}
    for name in ("time", "x", "y", "u", "v"):
        assert ds[name].attrs["units"] == "1"  # nondimensional; UDUNITS parses "1"
    assert "in units of L/U" in ds.time.attrs["long_name"]
    view = staggered_view(ds)
    assert view.u.dims == ("sample", "time", "x_face", "y")
    assert view.v.dims == ("sample", "time", "x", "y_face")
    dx = float(ds.x[1] - ds.x[0])
    np.testing.assert_allclose(view.x_face.values, ds.x.values + dx / 2)
    assert view.x_face.attrs["c_grid_axis_shift"] == 0.5 and view.x_face.attrs["axis"] == "X"
    assert view.cf.axes == {"X": ["x", "x_face"], "Y": ["y", "y_face"], "T": ["time"]}

    pytest.importorskip("xgcm")
    grid, view = xgcm_grid(ds)
    omega = grid.diff(view.v, "X") / dx - grid.diff(view.u, "Y") / dx
    assert omega.dims == ("sample", "time", "x_face", "y_face")  # the cell corners
    expected = np.asarray(vorticity(ds.u.values, ds.v.values, dx))
    np.testing.assert_allclose(omega.values, expected, atol=1e-5 * np.abs(expected).max())


def test_scored_trajectories_carry_the_same_axes(tiny_data):
    pytest.importorskip("cf_xarray")
    from neuralpde.evaluation.scoring import frames_dataset

    ds = open_store(tiny_data / "test.zarr")
    frames = np.zeros((1, 2, 2, 8, 8), np.float32)
    trajectory = frames_dataset(frames, ds.sample.values, ds.time.values, 2 * np.pi)
    assert trajectory.cf.axes == {"X": ["x"], "Y": ["y"], "T": ["time"]}
