"""Rollouts produced elsewhere (`--solver file:PATH`) are scored exactly like the package's own."""

import json
import shutil

import numpy as np
import pytest
import xarray as xr

from neuralpde.cli import main
from neuralpde.evaluation.external import open_rollout, rollout_dataset
from neuralpde.evaluation.metrics import vorticity_da
from neuralpde.physics.decompose import fourier_shift
from neuralpde.store import open_store

HORIZON = "0.4"


@pytest.fixture(scope="module")
def scored(tiny_data, tmp_path_factory):
    """dns-8 evaluated on the tiny test store, and its predicted trajectory."""
    results = tmp_path_factory.mktemp("external") / "results"
    assert main(["evaluate", "--data", str(tiny_data), "--solver", "dns-8", "--out", str(results),
                 "--horizon", HORIZON]) == 0
    trajectory = xr.open_zarr(results / "dns-8" / "trajectory.zarr", consolidated=False).load()
    return results, trajectory


def _summary(folder):
    return json.loads((folder / "summary.json").read_text())


def _evaluate(tiny_data, results, *solvers, horizon=HORIZON):
    argv = ["evaluate", "--data", str(tiny_data), "--out", str(results)]
    for solver in solvers:
        argv += ["--solver", solver]
    return main(argv + (["--horizon", horizon] if horizon else []))


def test_a_copy_of_dns_rollout_scores_exactly_as_dns(tiny_data, scored, tmp_path, capsys):
    results, trajectory = scored
    store = open_store(tiny_data / "test.zarr")
    ds = rollout_dataset(store, u=trajectory.u.values, v=trajectory.v.values, solver="copy")
    ds.to_zarr(tmp_path / "copy.zarr")
    ds.assign_attrs(solver="copy-nc", latency_s_per_time_unit=0.25, device="a100").to_netcdf(
        tmp_path / "copy.nc")
    capsys.readouterr()
    assert _evaluate(tiny_data, results, f"file:{tmp_path / 'copy.zarr'}",
                     f"file:{tmp_path / 'copy.nc'}") == 0
    out = capsys.readouterr().out
    assert "copy: duration" in out and "no latency" in out
    assert "latency 0.25 s/time unit on a100" in out
    dns = _summary(results / "dns-8")
    for name in ("copy", "copy-nc"):
        copy = _summary(results / name)
        assert copy["kind"] == "external" and copy["skipped_metrics"] == []
        for key in ("duration_of_mean", "duration_mean", "duration_std", "duration_min",
                    "duration_max", "n_samples", "horizon", "threshold", "reference",
                    "diverged_samples", "compared_on"):
            assert copy[key] == dns[key], key
        with xr.open_dataset(results / name / "metrics.nc") as a, \
                xr.open_dataset(results / "dns-8" / "metrics.nc") as b:
            for var in b.data_vars:
                np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    assert _summary(results / "copy")["latency_s_per_time_unit"] is None
    assert _summary(results / "copy-nc")["latency_s_per_time_unit"] == 0.25
    assert _summary(results / "copy")["source"] == f"file:{(tmp_path / 'copy.zarr').resolve()}"

    # compare tables it as an external row, with no latency unless stated
    assert main(["compare", "--results", str(results)]) == 0
    table = (results / "comparison.csv").read_text().splitlines()
    row = next(line for line in table if line.startswith("copy,"))
    assert row.startswith("copy,external,8,")
    markdown = (results / "comparison.md").read_text()
    assert "External rollouts (scored from a file, `file:`): `copy`, `copy-nc`" in markdown
    assert "Scored with other settings" not in markdown
    from neuralpde.evaluation.compare import equivalent_dns, fair_comparison, load_results

    rows = {r["solver"]: r for r in fair_comparison(equivalent_dns(load_results(results)))}
    assert rows["copy-nc"]["speedup_vs_dns"] is None  # timed on an 'a100', DNS on this CPU

    # a file whose first frames are missing (every frame early) is scored with a warning
    late = rollout_dataset(store, u=trajectory.u.values[:, 3:], v=trajectory.v.values[:, 3:],
                           solver="late")
    late.to_zarr(tmp_path / "late.zarr")
    capsys.readouterr()
    assert _evaluate(tiny_data, tmp_path / "late-results", f"file:{tmp_path / 'late.zarr'}",
                     horizon=None) == 0
    err = capsys.readouterr().err
    assert "neuralpde evaluate: warning: " in err and "frame 0 correlates" in err, err


def test_vorticity_alone_scores_the_correlation_and_skips_velocity_metrics(tiny_data, scored,
                                                                          tmp_path, capsys):
    results, trajectory = scored
    store = open_store(tiny_data / "test.zarr")
    omega = vorticity_da(trajectory).transpose("sample", "time", "x", "y").values
    rollout_dataset(store, vorticity=omega, solver="omega").to_zarr(tmp_path / "omega.zarr")
    # the field sampled at the cell centres, said so by its offset, is moved to the corners
    # by band-limited interpolation: it scores as the band-limited corner field does
    centres = fourier_shift(omega, (-0.5, -0.5))
    rollout_dataset(store, vorticity=fourier_shift(centres, (0.5, 0.5)),
                    solver="band-limited").to_zarr(tmp_path / "band-limited.zarr")
    centred = rollout_dataset(store, vorticity=centres, solver="centres")
    centred["vorticity"].attrs["offset"] = [0.5, 0.5]
    centred.to_zarr(tmp_path / "centres.zarr")
    out = results.parent / "vorticity"
    assert _evaluate(tiny_data, out, "dns-8", *(f"file:{tmp_path / name}.zarr" for name in (
        "omega", "band-limited", "centres"))) == 0
    assert "skipped (need the velocity): energy, relative_l2, spectrum" in capsys.readouterr().out
    dns = _summary(out / "dns-8")
    summary = _summary(out / "omega")
    assert summary["skipped_metrics"] == ["energy", "relative_l2", "spectrum"]
    assert summary["duration_of_mean"] == dns["duration_of_mean"]
    with xr.open_dataset(out / "omega" / "metrics.nc") as a, \
            xr.open_dataset(out / "dns-8" / "metrics.nc") as b:
        np.testing.assert_allclose(a.correlation.values, b.correlation.values, atol=1e-6)
        np.testing.assert_allclose(a.enstrophy_ref.values, b.enstrophy_ref.values, rtol=1e-5)
        np.testing.assert_allclose(a.enstrophy_pred.values, b.enstrophy_pred.values, rtol=1e-5)
        assert "spectrum_pred" not in a and "energy_pred" not in a
    with xr.open_dataset(out / "centres" / "metrics.nc") as a, \
            xr.open_dataset(out / "band-limited" / "metrics.nc") as b:
        np.testing.assert_allclose(a.correlation.values, b.correlation.values, atol=1e-5)
    assert main(["compare", "--results", str(out)]) == 0  # figures without its spectrum
    assert (out / "figures" / "snapshots.png").exists()


def test_a_diverged_external_rollout_is_recorded_as_diverged(tiny_data, scored, tmp_path):
    results, trajectory = scored
    store = open_store(tiny_data / "test.zarr")
    u = trajectory.u.values.copy()
    u[1, 3:] = np.nan  # sample 1 blows up at frame 3
    rollout_dataset(store, u=u, v=trajectory.v.values, solver="blows-up").to_zarr(
        tmp_path / "b.zarr")
    out = tmp_path / "r"
    assert _evaluate(tiny_data, out, f"file:{tmp_path / 'b.zarr'}", horizon=None) == 0
    summary = _summary(out / "blows-up")
    frame_dt = float(store.attrs["frame_dt"])
    assert summary["diverged_samples"] == 1
    assert summary["diverged_times"] == [None, pytest.approx(3 * frame_dt)]
    assert summary["duration_of_mean"] <= 3 * frame_dt


def _variant(trajectory, store, kind):
    ds = rollout_dataset(store, u=trajectory.u.values, v=trajectory.v.values)
    if kind == "grid":
        return ds.isel(x=slice(0, 4), y=slice(0, 4))
    if kind == "variables":
        return ds.rename(u="a", v="b")
    if kind == "late start":
        return ds.isel(time=slice(1, None))
    if kind == "other times":
        return ds.assign_coords(time=ds.time.values * 2)
    if kind == "samples":
        return ds.assign_coords(sample=ds.sample.values + 5)
    if kind == "dims":
        return ds.transpose("time", "sample", "x", "y")
    if kind == "integers":
        return ds.assign(u=ds.u.astype("int32"), v=ds.v.astype("int32"))
    raise ValueError(kind)


@pytest.mark.parametrize("kind,message", [
    ("grid", "is on a 4x4 grid; the test store's model grid is 8x8"),
    ("variables", "holds ['a', 'b']: accepted u and v (velocity) or vorticity"),
    ("late start", "accepted the test store's frame times from 0 every"),
    ("other times", "accepted the test store's frame times from 0 every"),
    ("samples", "accepted the test store's first samples in order"),
    ("dims", "has dims ('time', 'sample', 'x', 'y'): accepted ('sample', 'time', 'x', 'y')"),
    ("integers", "u holds int32 values: accepted floating-point values"),
    ("missing", "does not exist"),
    ("horizon", "accepted (0, "),
])
def test_a_rollout_that_does_not_fit_the_store_exits_2_naming_it(tiny_data, scored, tmp_path,
                                                                 capsys, kind, message):
    results, trajectory = scored
    store = open_store(tiny_data / "test.zarr")
    path = tmp_path / "bad.zarr"
    if kind not in ("missing", "horizon"):
        _variant(trajectory, store, kind).to_zarr(path)
    elif kind == "horizon":
        rollout_dataset(store, u=trajectory.u.values, v=trajectory.v.values).to_zarr(path)
    out = tmp_path / "r"
    capsys.readouterr()
    assert _evaluate(tiny_data, out, "dns-8", f"file:{path}",
                     horizon="0.5" if kind == "horizon" else HORIZON) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and str(path) in err, err
    assert not out.exists()  # refused before the first rollout: nothing written


def test_open_rollout_selects_samples_and_horizon(tiny_data, scored, tmp_path):
    _, trajectory = scored
    store = open_store(tiny_data / "test.zarr")
    rollout_dataset(store, u=trajectory.u.values, v=trajectory.v.values).to_zarr(
        tmp_path / "x.zarr")
    rollout = open_rollout(tmp_path / "x.zarr", store, n_samples=1, horizon=0.2)
    frame_dt = float(store.attrs["frame_dt"])
    assert rollout.frames.shape == (1, int(0.2 / frame_dt) + 1, 2, 8, 8)
    assert rollout.horizon == 0.2
    assert rollout.name == "x" and rollout.latency is None and rollout.has_velocity
    shutil.rmtree(tmp_path / "x.zarr")


def _jax_cfd_layout(store, time_offset=5.0, **attrs):
    """The test store's frames as jax-cfd's xarray utilities write them."""
    return xr.Dataset(
        {"u": (("sample", "time", "x", "y"), store.u.values, {"offset": (1.0, 0.5)}),
         "v": (("sample", "time", "x", "y"), store.v.values, {"offset": (0.5, 1.0)})},
        coords={"x": store.x.values, "y": store.y.values, "sample": store.sample.values,
                "time": store.time.values + time_offset},
        attrs={"ndim": 2, "save_grid_size": int(store.attrs["model_size"]),
               "domain_size": float(store.attrs["domain_size"]), **attrs})


def test_a_jax_cfd_layout_file_imports_and_evaluates_as_the_store_it_holds(tiny_data, scored,
                                                                          tmp_path, capsys):
    results, _ = scored
    store = open_store(tiny_data / "test.zarr")
    _jax_cfd_layout(store).to_netcdf(tmp_path / "reference.nc")
    assert main(["import", str(tmp_path / "reference.nc"), "--out", str(tmp_path / "data"),
                 "--preset", "mini"]) == 0
    imported = open_store(tmp_path / "data" / "test.zarr", split="test")
    assert imported.attrs["time_offset"] == 5.0
    assert imported.attrs["imported_from"] == str((tmp_path / "reference.nc").resolve())
    np.testing.assert_array_equal(imported.u.values, store.u.values)
    out = tmp_path / "results"
    assert _evaluate(tmp_path / "data", out, "dns-8") == 0
    assert _summary(out / "dns-8")["duration_of_mean"] == _summary(results / "dns-8")[
        "duration_of_mean"]
    with xr.open_dataset(out / "dns-8" / "metrics.nc") as a, \
            xr.open_dataset(results / "dns-8" / "metrics.nc") as b:
        np.testing.assert_array_equal(a.correlation.values, b.correlation.values)
    capsys.readouterr()
    # what it cannot import: another frame spacing, another staggering, an existing store
    bad = _jax_cfd_layout(store)
    bad = bad.assign_coords(time=bad.time.values * 1.37)
    bad.to_netcdf(tmp_path / "spacing.nc")
    assert main(["import", str(tmp_path / "spacing.nc"), "--out", str(tmp_path / "d2"),
                 "--preset", "mini"]) == 2
    assert "are not a whole number of the mini flow's model time step" in capsys.readouterr().err
    shifted = _jax_cfd_layout(store)
    shifted["u"].attrs["offset"] = (0.5, 0.5)
    shifted.to_netcdf(tmp_path / "centred.nc")
    assert main(["import", str(tmp_path / "centred.nc"), "--out", str(tmp_path / "d3"),
                 "--preset", "mini"]) == 2
    assert "u has offset [0.5, 0.5]: accepted [1.0, 0.5]" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "reference.nc"), "--out", str(tmp_path / "data"),
                 "--preset", "mini"]) == 2
    assert "exists: import into a new path" in capsys.readouterr().err
    assert not (tmp_path / "d2").exists() and not (tmp_path / "d3").exists()


def test_an_exported_store_imports_back_with_its_unset_attrs(tiny_data, tmp_path, capsys):
    """`neuralpde export` writes what `neuralpde import` reads: numeric offsets, None attrs."""
    store = open_store(tiny_data / "test.zarr")
    assert store.attrs.get("stationary_energy", "absent") is None   # an unset attr to keep
    assert main(["export", str(tiny_data / "test.zarr"), str(tmp_path / "test.nc")]) == 0
    with xr.open_dataset(tmp_path / "test.nc") as exported:
        np.testing.assert_array_equal(exported.u.attrs["offset"], [1.0, 0.5])
        assert exported.attrs["stationary_energy"] == "null"
    assert main(["import", str(tmp_path / "test.nc"), "--out", str(tmp_path / "data"),
                 "--preset", "mini"]) == 0
    imported = open_store(tmp_path / "data" / "test.zarr", split="test")
    np.testing.assert_array_equal(imported.u.values, store.u.values)
    np.testing.assert_array_equal(imported.v.values, store.v.values)
    source = imported.attrs["source_attrs"]
    assert source["stationary_energy"] is None and source["preset"] == "mini"
    assert source["initial_sizes"] == []


def test_a_refused_import_leaves_nothing_that_blocks_the_corrected_command(tiny_data, tmp_path,
                                                                           capsys):
    store = open_store(tiny_data / "test.zarr")
    bad = _jax_cfd_layout(store).copy(deep=True)
    bad["u"][1, 3, 2, 2] = np.nan
    bad.to_netcdf(tmp_path / "bad.nc")
    out = tmp_path / "data"
    assert main(["import", str(tmp_path / "bad.nc"), "--out", str(out), "--preset", "mini"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.nc" in err and "non-finite value (sample 1" in err
    assert not out.exists()                               # nothing made here is left
    # into a folder the user made: the folder and what it held stay, nothing is added
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["import", str(tmp_path / "bad.nc"), "--out", str(out), "--preset", "mini"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    _jax_cfd_layout(store).to_netcdf(tmp_path / "good.nc")
    assert main(["import", str(tmp_path / "good.nc"), "--out", str(out), "--preset", "mini"]) == 0
    assert open_store(out / "test.zarr").attrs["complete"]
    assert (out / "notes.txt").read_text() == "mine"


def test_an_import_names_a_decreasing_or_date_typed_time_axis(tiny_data, tmp_path, capsys):
    import pandas as pd

    store = open_store(tiny_data / "test.zarr")
    backwards = _jax_cfd_layout(store)
    backwards = backwards.assign_coords(time=backwards.time.values[::-1])
    backwards.to_netcdf(tmp_path / "backwards.nc")
    assert main(["import", str(tmp_path / "backwards.nc"), "--out", str(tmp_path / "d1"),
                 "--preset", "mini"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "backwards.nc" in err and "time axis must increase" in err
    assert "--preset" not in err
    dated = _jax_cfd_layout(store)
    dated = dated.assign_coords(time=pd.date_range("2000-01-01", periods=dated.sizes["time"],
                                                   freq="h"))
    dated.to_netcdf(tmp_path / "dated.nc")
    assert main(["import", str(tmp_path / "dated.nc"), "--out", str(tmp_path / "d2"),
                 "--preset", "mini"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dated.nc" in err and "model time units" in err
    assert "since" in err and "duration=" not in err
    assert not (tmp_path / "d1").exists() and not (tmp_path / "d2").exists()


@pytest.mark.parametrize(("attrs", "message"), [
    ({"domain_size": "abc"}, "attr domain_size='abc' is not a number"),
    ({"save_grid_size": "abc"}, "attr save_grid_size='abc' is not an integer"),
    ({"viscosity": "abc"}, "attr viscosity='abc' is not a number"),
    ({"domain_size": -1.0}, "domain size -1: accepted a finite length > 0"),
])
def test_an_import_names_an_attribute_that_is_not_a_number(tiny_data, tmp_path, capsys, attrs,
                                                           message):
    """These used to end in a traceback from float()/int() (exit 1)."""
    layout = _jax_cfd_layout(open_store(tiny_data / "test.zarr"))
    layout.attrs.update(attrs)
    layout.to_netcdf(tmp_path / "odd.nc")
    assert main(["import", str(tmp_path / "odd.nc"), "--out", str(tmp_path / "d"),
                 "--preset", "mini"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "odd.nc" in err and message in err
    assert not (tmp_path / "d").exists()


def test_an_import_without_a_domain_says_so(tiny_data, tmp_path, capsys):
    layout = _jax_cfd_layout(open_store(tiny_data / "test.zarr"))
    layout = layout.drop_vars(["x", "y"])
    del layout.attrs["domain_size"]
    layout.to_netcdf(tmp_path / "nodomain.nc")
    assert main(["import", str(tmp_path / "nodomain.nc"), "--out", str(tmp_path / "d"),
                 "--preset", "mini"]) == 2
    assert "gives no domain size" in capsys.readouterr().err
