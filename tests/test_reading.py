"""Unit tests of :mod:`neuralpde.store.reading`: opening and reading a trajectory store.

Covers :func:`~neuralpde.store.reading.open_store` on a tiny store written with the
package's own schema writers (known random values, so what is read back is checked
exactly): what it returns (data, coordinates, attrs, CF axis attributes), the
preset/split/grid checks, and its errors for a missing, foreign, incomplete, failed or
damaged store (each message names the store).  Then the readers the rest of the
package uses: :func:`store_flow`, :func:`sample_count`, :func:`frames_for_horizon`,
:func:`initial_states`, :func:`initial_inputs`, :func:`reference_frames`,
:func:`trajectory_frames`, :func:`window_frames`, :func:`values` (refusing a chunk
that does not decode and a non-finite value), :func:`staggered_view` and
:func:`with_axis_attrs`.  No DNS runs: the store is filled with random numbers.
"""

import json
import math
import shutil

import numpy as np
import pytest
import xarray as xr
import zarr

from conftest import tiny_preset
from neuralpde.config import ConfigError
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
    values,
    window_frames,
    with_axis_attrs,
)
from neuralpde.store.schema import (
    SCHEMA_VERSION,
    StoreError,
    StoreLayout,
    create_store,
    mark_complete,
    mark_failed,
    write_frames,
    write_history,
    write_initial,
)

N, FINE, SAMPLES, HISTORY = 8, 16, 3, 4


def write_store(path, complete=True):
    """A test-split store of the tiny preset filled with known random values.

    Returns ``(frames (S, T, 2, N, N), initial 16² states (S, 2, 16, 16), history
    (S, HISTORY, 2, N, N), preset)``.
    """
    preset = tiny_preset(n_samples=SAMPLES)
    frame_dt = preset.dt_model * preset.test.save_every
    n_frames = round(preset.test.duration / frame_dt) + 1
    layout = StoreLayout(n_samples=SAMPLES, n_frames=n_frames, size=N,
                         domain_size=preset.flow.domain_size, frame_dt=frame_dt, sample_chunk=2,
                         time_chunk=4, initial_sizes=(FINE,), history_frames=HISTORY,
                         dt_model=preset.dt_model)
    attrs = {"preset": preset.name, "split": "test", "model_size": N, "fine_size": 32,
             "config_json": json.dumps({"preset": json.loads(preset.to_json()), "split": "test"}),
             "dt_model": preset.dt_model, "save_every": preset.test.save_every,
             "frame_dt": frame_dt, "seed": 0, "n_samples": SAMPLES,
             "domain_size": preset.flow.domain_size}
    create_store(path, layout, attrs)
    rng = np.random.default_rng(7)
    frames = rng.standard_normal((SAMPLES, n_frames, 2, N, N)).astype(np.float32)
    initial = rng.standard_normal((SAMPLES, 2, FINE, FINE)).astype(np.float32)
    history = rng.standard_normal((SAMPLES, HISTORY, 2, N, N)).astype(np.float32)
    write_frames(path, 0, 0, frames)
    write_initial(path, FINE, 0, initial)
    write_history(path, 0, history)
    if complete:
        mark_complete(path)
    return frames, initial, history, preset


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """``(path, frames, initial, history, preset)`` of one read-only tiny store."""
    path = tmp_path_factory.mktemp("reading") / "test.zarr"
    return (path, *write_store(path))


@pytest.fixture
def copy(store, tmp_path):
    """A private copy of the store, to damage."""
    target = tmp_path / "copy.zarr"
    shutil.copytree(store[0], target)
    return target


def test_open_store_returns_the_written_data_coordinates_and_attrs(store):
    path, frames, initial, history, preset = store
    ds = open_store(path, preset="mini", split="test", model_size=N)
    assert isinstance(ds, xr.Dataset)
    assert ds.u.dims == ("sample", "time", "x", "y") and ds.u.dtype == np.float32
    np.testing.assert_array_equal(ds.u.values, frames[:, :, 0])
    np.testing.assert_array_equal(ds.v.values, frames[:, :, 1])
    np.testing.assert_array_equal(ds[f"u_init_{FINE}"].values, initial[:, 0])
    np.testing.assert_array_equal(ds.v_history.values, history[:, :, 1])
    dx = preset.flow.domain_size / N
    np.testing.assert_allclose(ds.x.values, (np.arange(N) + 0.5) * dx)
    np.testing.assert_allclose(ds.time.values, np.arange(frames.shape[1]) * ds.attrs["frame_dt"])
    np.testing.assert_array_equal(ds.sample.values, np.arange(SAMPLES))
    assert ds.attrs["complete"] == 1 and ds.attrs["schema_version"] == SCHEMA_VERSION
    assert ds.attrs["initial_sizes"] == [FINE] and ds.attrs["model_size"] == N
    assert ds.encoding["source"] == str(path)
    assert {ds[c].attrs["axis"] for c in ("time", "x", "y")} == {"T", "X", "Y"}


@pytest.mark.parametrize(("field", "wanted"),
                         [("preset", "paper"), ("split", "train"), ("model_size", 32)])
def test_open_store_refuses_a_store_made_for_something_else(store, field, wanted):
    path = store[0]
    with pytest.raises(StoreError) as caught:
        open_store(path, **{field: wanted})
    message = str(caught.value)
    assert str(path) in message and f"not {field}={wanted!r}" in message


def test_a_missing_path_is_refused_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "test.zarr"
    with pytest.raises(StoreError, match="no trajectory store") as caught:
        open_store(missing)
    assert str(missing) in str(caught.value)


@pytest.mark.parametrize("kind", ["plain file", "garbage metadata", "foreign group"])
def test_something_that_is_not_a_store_is_refused_naming_it(tmp_path, kind):
    path = tmp_path / "bad.zarr"
    if kind == "plain file":
        path.write_text("not a zarr store")
    elif kind == "garbage metadata":
        path.mkdir()
        (path / "zarr.json").write_text("{ not json")
    else:
        zarr.open_group(str(path), mode="w").attrs["title"] = "someone else's data"
    with pytest.raises(StoreError, match="not a neuralpde trajectory store") as caught:
        open_store(path)
    assert str(path) in str(caught.value)


def test_incomplete_failed_and_other_schema_stores_are_refused(copy):
    group = zarr.open_group(str(copy), mode="r+")
    group.attrs["complete"] = 0
    with pytest.raises(StoreError, match="is incomplete") as caught:
        open_store(copy)
    assert str(copy) in str(caught.value)
    assert open_store(copy, require_complete=False).sizes["sample"] == SAMPLES

    mark_failed(copy, "the DNS blew up")
    with pytest.raises(StoreError, match="failed generation: the DNS blew up"):
        open_store(copy)

    group.attrs.update({"failed": "", "complete": 1, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(StoreError, match=f"schema_version={SCHEMA_VERSION + 1}"):
        open_store(copy)


def test_a_deleted_chunk_is_refused_naming_the_variable(copy):
    chunk = next(p for p in (copy / "v").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.unlink()
    with pytest.raises(StoreError, match=r"variable 'v' is missing 1 of its 6 chunks") as caught:
        open_store(copy)
    assert str(copy) in str(caught.value)


def test_a_chunk_that_does_not_decode_is_refused_when_read(copy):
    chunk = next(p for p in (copy / "u").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"\x00garbage")
    ds = open_store(copy)  # opening is lazy: the damage shows when the frames are read
    with pytest.raises(StoreError, match="variable 'u' cannot be read") as caught:
        trajectory_frames(ds)
    assert str(copy) in str(caught.value)


def test_a_non_finite_value_is_refused_naming_sample_and_time(copy):
    group = zarr.open_group(str(copy), mode="r+")
    group["u"][1, 2, 3, 4] = np.inf
    ds = open_store(copy)
    time = float(ds.time.values[2])
    with pytest.raises(StoreError, match="variable 'u' has a non-finite value") as caught:
        values(ds, "u")
    assert f"sample 1, time {time:g}" in str(caught.value) and str(copy) in str(caught.value)
    np.testing.assert_array_equal(values(ds, "u", sample=0), ds.u.values[0])  # the rest reads


def test_attrs_that_disagree_with_the_coordinates_are_refused(copy):
    zarr.open_group(str(copy), mode="r+").attrs["frame_dt"] = 0.5
    with pytest.raises(StoreError, match="attrs disagree with its coordinates") as caught:
        open_store(copy)
    assert "frame_dt=0.5 is not save_every × dt_model" in str(caught.value)


def test_store_flow_is_the_flow_the_store_was_made_with(store):
    path, *_, preset = store
    assert store_flow(open_store(path)) == preset.flow


def test_store_flow_of_a_store_without_a_flow_is_refused(store):
    ds = open_store(store[0]).copy()
    ds.attrs["config_json"] = json.dumps({"preset": {}})
    with pytest.raises(StoreError, match="does not describe a flow"):
        store_flow(ds)


def test_sample_count_defaults_to_every_trajectory_and_refuses_others(store):
    ds = open_store(store[0])
    assert sample_count(ds) == SAMPLES and sample_count(ds, 2) == 2
    assert sample_count(ds, np.int64(1)) == 1
    for bad in (0, SAMPLES + 1, True, 2.0, "2"):
        with pytest.raises(ConfigError, match=f"accepted 1..{SAMPLES}"):
            sample_count(ds, bad)


def test_frames_for_horizon_counts_frame_zero_and_refuses_past_the_store(store):
    ds = open_store(store[0])
    frame_dt, n_time = float(ds.attrs["frame_dt"]), ds.sizes["time"]
    span = (n_time - 1) * frame_dt
    assert frames_for_horizon(ds) == (n_time, pytest.approx(span))
    assert frames_for_horizon(ds, 2 * frame_dt) == (3, pytest.approx(2 * frame_dt))
    assert frames_for_horizon(ds, 2.5 * frame_dt)[0] == 3  # whole frames only
    assert frames_for_horizon(ds, frame_dt)[0] == 2
    for bad in (0.0, -frame_dt, 0.5 * frame_dt, span + frame_dt):  # < a frame: nothing to score
        with pytest.raises(ConfigError, match="invalid horizon"):
            frames_for_horizon(ds, bad)


def test_initial_states_on_the_model_grid_and_on_a_stored_finer_grid(store):
    path, frames, initial, *_ = store
    ds = open_store(path)
    model = initial_states(ds, N, 2)
    assert model.shape == (2, 2, N, N) and model.dtype == np.float32
    np.testing.assert_array_equal(model, frames[:2, 0])
    np.testing.assert_array_equal(initial_states(ds, FINE, SAMPLES), initial)
    with pytest.raises(StoreError, match=rf"no initial state on the 32² grid: available grids "
                                         rf"\[{N}, {FINE}\]"):
        initial_states(ds, 32, 1)


def test_initial_inputs_give_the_last_history_frames_for_a_temporal_model(store):
    path, frames, _, history, _ = store
    ds = open_store(path)
    np.testing.assert_array_equal(initial_inputs(ds, N, 2), frames[:2, 0])
    prefix = initial_inputs(ds, N, 2, history=3)
    assert prefix.shape == (2, 3, 2, N, N) and prefix.dtype == np.float32
    np.testing.assert_array_equal(prefix, history[:2, -3:])
    with pytest.raises(StoreError, match=f"solver 'tsm' encodes a prefix of {HISTORY + 1} frames"
                                         f".*keeps {HISTORY} history frames"):
        initial_inputs(ds, N, 1, history=HISTORY + 1, name="solver 'tsm'")
    with pytest.raises(ConfigError, match=f"must run on the model grid {N}²"):
        initial_inputs(ds, FINE, 1, history=2)


def test_frame_readers_return_the_stored_frames_as_float32(store):
    path, frames, *_ = store
    ds = open_store(path)
    ref = reference_frames(ds, 2, 5)
    assert ref.shape == (2, 5, 2, N, N) and ref.dtype == np.float32
    np.testing.assert_array_equal(ref, frames[:2, :5])
    np.testing.assert_array_equal(trajectory_frames(ds), frames)
    window = window_frames(ds, 1, 3, 4)
    assert window.shape == (4, 2, N, N) and window.dtype == np.float32
    np.testing.assert_array_equal(window, frames[1, 3:7])


def test_staggered_view_puts_each_component_on_its_faces(store):
    path, frames, *_ = store
    ds = open_store(path)
    view = staggered_view(ds)
    dx = ds.attrs["domain_size"] / N
    assert view.u.dims == ("sample", "time", "x_face", "y")
    assert view.v.dims == ("sample", "time", "x", "y_face")
    np.testing.assert_allclose(view.x_face.values, (np.arange(N) + 1) * dx)
    np.testing.assert_allclose(view.y_face.values, (np.arange(N) + 1) * dx)
    assert view.x_face.attrs["c_grid_axis_shift"] == 0.5 and view.x.attrs["c_grid_axis_shift"] == 0
    np.testing.assert_array_equal(view.u.values, frames[:, :, 0])
    assert set(view.data_vars) == {"u", "v"}


def test_with_axis_attrs_adds_missing_cf_attributes_only():
    ds = xr.Dataset(coords={"time": [0.0, 1.0], "x": [0.5], "x_16": [0.25], "lag": [0.0],
                            "y": ("y", [0.5], {"axis": "Y", "long_name": "mine"})})
    out = with_axis_attrs(ds)
    assert out.time.attrs["axis"] == "T" and out.x.attrs["axis"] == "X"
    assert out.x_16.attrs["axis"] == "X" and out.x.attrs["units"] == "1"
    assert out.y.attrs == {"axis": "Y", "long_name": "mine"}  # present: left alone
    assert "axis" not in out.lag.attrs
    assert math.isclose(float(out.time.values[1]), 1.0)
