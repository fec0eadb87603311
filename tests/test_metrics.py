"""Tests for neuralpde.evaluation.metrics (tiny grids; the file runs in seconds)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from neuralpde.evaluation.metrics import (
    compute_metrics,
    corner_shell,
    correlation_da,
    duration_summary,
    energy_da,
    energy_spectrum,
    enstrophy,
    enstrophy_da,
    high_correlation_duration,
    kinetic_energy,
    spectrum_da,
    vorticity,
    vorticity_correlation,
    vorticity_da,
)

L = 2 * math.pi
FRAME = 0.0561  # 8 model steps of the 64² grid


def _coords(n: int, offset: float, length: float = L) -> np.ndarray:
    """1-D positions (i + offset) * dx."""
    return (np.arange(n) + offset) * (length / n)


def _staggered_mesh(n: int, offset: tuple[float, float], length: float = L):
    x = _coords(n, offset[0], length)
    y = _coords(n, offset[1], length)
    return np.meshgrid(x, y, indexing="ij")


def _dataset(
    n_samples: int = 3,
    n_times: int = 12,
    n: int = 16,
    t0: float = 40.9,
    seed: int = 0,
) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    shape = (n_samples, n_times, n, n)
    dx = L / n
    return xr.Dataset(
        {
            "u": (("sample", "time", "x", "y"), rng.standard_normal(shape).astype(np.float32)),
            "v": (("sample", "time", "x", "y"), rng.standard_normal(shape).astype(np.float32)),
        },
        coords={
            "sample": np.arange(n_samples),
            "time": t0 + FRAME * np.arange(n_times),
            "x": (np.arange(n) + 0.5) * dx,
            "y": (np.arange(n) + 0.5) * dx,
        },
    )


# --------------------------------------------------------------------------
# vorticity correlation
# --------------------------------------------------------------------------


def test_correlation_self_is_one_and_negative_is_minus_one():
    a = jnp.asarray(np.random.default_rng(1).standard_normal((4, 64, 64)), jnp.float32)
    np.testing.assert_allclose(vorticity_correlation(a, a), 1.0, atol=1e-6)
    np.testing.assert_allclose(vorticity_correlation(a, -a), -1.0, atol=1e-6)
    # Scale invariance, and no mean subtraction: a + 1 is not perfectly correlated with a.
    np.testing.assert_allclose(vorticity_correlation(a, 3.0 * a), 1.0, atol=1e-6)
    assert np.all(np.asarray(vorticity_correlation(a, a + 1.0)) < 0.9)


def test_correlation_of_orthogonal_modes_is_zero():
    x, y = _staggered_mesh(32, (1.0, 1.0))
    a = jnp.asarray(np.cos(x) + np.sin(2 * y), jnp.float32)
    b = jnp.asarray(np.sin(3 * x) * np.cos(y), jnp.float32)
    assert abs(float(vorticity_correlation(a, b))) < 1e-6


def test_correlation_batches_and_nonfinite_gives_nan():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    b = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    expected = (a * b).sum((-2, -1)) / np.sqrt((a * a).sum((-2, -1)) * (b * b).sum((-2, -1)))
    a[0, 1, 2, 3] = np.nan
    b[1, 2, 0, 0] = np.inf
    rho = np.asarray(jax.jit(vorticity_correlation)(a, b))
    assert rho.shape == (2, 3)
    assert np.isnan(rho[0, 1]) and np.isnan(rho[1, 2])
    mask = np.isfinite(rho)
    assert mask.sum() == 4
    np.testing.assert_allclose(rho[mask], expected[mask], rtol=1e-5)


# --------------------------------------------------------------------------
# vorticity
# --------------------------------------------------------------------------


def _vorticity_loop(u: np.ndarray, v: np.ndarray, dx: float, dy: float) -> np.ndarray:
    nx, ny = u.shape
    w = np.empty_like(u, dtype=np.float64)
    for i in range(nx):
        for j in range(ny):
            w[i, j] = (v[(i + 1) % nx, j] - v[i, j]) / dx - (u[i, (j + 1) % ny] - u[i, j]) / dy
    return w


def test_vorticity_matches_explicit_forward_differences():
    rng = np.random.default_rng(3)
    u = rng.standard_normal((2, 7, 5))
    v = rng.standard_normal((2, 7, 5))
    dx, dy = 0.3, 0.7
    w = np.asarray(vorticity(u.astype(np.float32), v.astype(np.float32), dx, dy))
    assert w.shape == (2, 7, 5)
    for b in range(2):
        np.testing.assert_allclose(w[b], _vorticity_loop(u[b], v[b], dx, dy), rtol=1e-5, atol=1e-5)
    # dy defaults to dx
    np.testing.assert_allclose(
        np.asarray(vorticity(u[0], v[0], dx)), _vorticity_loop(u[0], v[0], dx, dx), rtol=1e-5,
        atol=1e-5,
    )


def test_vorticity_matches_jax_cfd_curl_2d():
    from neuralpde.physics.jaxcfd import cfd

    n = 16
    grid = cfd.grids.Grid((n, n), domain=((0, L), (0, L)))
    bc = cfd.boundaries.periodic_boundary_conditions(2)
    rng = np.random.default_rng(4)
    u = jnp.asarray(rng.standard_normal((n, n)), jnp.float32)
    v = jnp.asarray(rng.standard_normal((n, n)), jnp.float32)
    gu = cfd.grids.GridVariable(cfd.grids.GridArray(u, (1.0, 0.5), grid), bc)
    gv = cfd.grids.GridVariable(cfd.grids.GridArray(v, (0.5, 1.0), grid), bc)
    curl = cfd.finite_differences.curl_2d((gu, gv))
    assert tuple(curl.offset) == (1.0, 1.0)
    np.testing.assert_allclose(np.asarray(vorticity(u, v, L / n)), np.asarray(curl.data),
                               rtol=1e-5, atol=1e-5)


def test_vorticity_of_shear_flow_at_corner_offset():
    # u = -sin(y) at u's points (offset (1, 0.5)), v = 0  =>  omega = cos(y) at offset (1, 1).
    n = 64
    dx = L / n
    _, yu = _staggered_mesh(n, (1.0, 0.5))
    _, yw = _staggered_mesh(n, (1.0, 1.0))
    w = np.asarray(vorticity(-np.sin(yu).astype(np.float32), np.zeros((n, n), np.float32), dx))
    err = np.abs(w - np.cos(yw)).max()
    # Centred difference: exact value is cos(y) * sin(dx/2)/(dx/2), error <= dx²/24.
    assert err <= dx**2 / 24 * 1.05 + 1e-5
    # At the wrong offset (cell centre) the error would be O(dx).
    assert np.abs(w - np.cos(yw - dx / 2)).max() > 10 * err


def _vorticity_error(n: int) -> float:
    xu, yu = _staggered_mesh(n, (1.0, 0.5))
    xv, yv = _staggered_mesh(n, (0.5, 1.0))
    xw, yw = _staggered_mesh(n, (1.0, 1.0))
    u = -np.cos(xu) * np.sin(yu)
    v = np.sin(xv) * np.cos(2 * yv)
    exact = np.cos(xw) * np.cos(2 * yw) + np.cos(xw) * np.cos(yw)
    w = np.asarray(vorticity(u.astype(np.float32), v.astype(np.float32), L / n))
    return float(np.abs(w - exact).max())


def test_vorticity_converges_at_second_order():
    errors = [_vorticity_error(n) for n in (16, 32, 64)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(3.6 < r < 4.4 for r in ratios), (errors, ratios)


# --------------------------------------------------------------------------
# energy and enstrophy
# --------------------------------------------------------------------------


def test_kinetic_energy_and_enstrophy_match_numpy():
    rng = np.random.default_rng(5)
    u = rng.standard_normal((3, 16, 16)).astype(np.float32)
    v = rng.standard_normal((3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(kinetic_energy(u, v), 0.5 * np.mean(u**2 + v**2, axis=(1, 2)),
                               rtol=1e-6)
    w = np.asarray(vorticity(u, v, L / 16))
    np.testing.assert_allclose(enstrophy(w), 0.5 * np.mean(w.astype(np.float64) ** 2, axis=(1, 2)),
                               rtol=1e-6)


# --------------------------------------------------------------------------
# energy spectrum
# --------------------------------------------------------------------------


def test_spectrum_single_mode_lands_in_its_shell():
    n = 32
    xu, _ = _staggered_mesh(n, (1.0, 0.5))
    u = np.cos(3 * xu).astype(np.float32)
    v = np.zeros_like(u)
    k, e = energy_spectrum(u, v, L)
    k, e = np.asarray(k), np.asarray(e)
    ke = float(kinetic_energy(u, v))
    assert e.shape == (n // 2 + 1,)
    # L = 2π: k physical == k integer
    np.testing.assert_allclose(k, np.arange(n // 2 + 1), rtol=1e-6)
    np.testing.assert_allclose(e[3], ke, rtol=1e-5)
    np.testing.assert_allclose(e.sum(), ke, rtol=1e-5)
    assert np.abs(np.delete(e, 3)).max() < 1e-6 * ke


def test_spectrum_diagonal_mode_goes_to_shell_five_and_wavenumbers_are_physical():
    n = 32
    length = 3.0
    xu, yu = _staggered_mesh(n, (1.0, 0.5), length)
    xv, yv = _staggered_mesh(n, (0.5, 1.0), length)
    kappa = 2 * np.pi / length
    u = np.cos(kappa * (3 * xu + 4 * yu)).astype(np.float32)
    v = np.sin(kappa * (3 * xv + 4 * yv)).astype(np.float32)
    k, e = energy_spectrum(u, v, length)
    e = np.asarray(e)
    assert int(np.argmax(e)) == 5
    np.testing.assert_allclose(e[5], float(kinetic_energy(u, v)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(k)[5], 5 * kappa, rtol=1e-6)


def test_spectrum_parseval_random_field_all_shells():
    n = 32
    rng = np.random.default_rng(6)
    u = rng.standard_normal((2, n, n)).astype(np.float32)
    v = rng.standard_normal((2, n, n)).astype(np.float32)
    ke = np.asarray(kinetic_energy(u, v))
    assert corner_shell(n) == round(n / math.sqrt(2))
    _, e_all = energy_spectrum(u, v, L, max_shell=corner_shell(n))
    assert e_all.shape == (2, corner_shell(n) + 1)
    np.testing.assert_allclose(np.asarray(e_all).sum(-1), ke, rtol=1e-5)
    # Default: shells 0..N/2 only; white noise has energy in the dropped corners.
    _, e = energy_spectrum(u, v, L)
    assert e.shape == (2, n // 2 + 1)
    np.testing.assert_allclose(np.asarray(e), np.asarray(e_all)[:, : n // 2 + 1], rtol=1e-6)
    assert np.all(np.asarray(e).sum(-1) < 0.9 * ke)


def test_spectrum_is_jittable():
    u = jnp.ones((4, 8, 8))
    f = jax.jit(energy_spectrum, static_argnames=("max_shell",))
    k, e = f(u, 0 * u, L)
    np.testing.assert_allclose(np.asarray(e)[:, 0], 0.5, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(e)[:, 1:], 0.0, atol=1e-7)


# --------------------------------------------------------------------------
# high-correlation duration
# --------------------------------------------------------------------------


def test_duration_linear_decay_crossing_at_two():
    times = FRAME * np.arange(400)
    corr = 1.0 - times / 10.0  # crosses 0.8 at t = 2.0
    d = high_correlation_duration(corr, times)
    last_high = times[corr >= 0.8].max()
    assert d == last_high  # exactly the last frame with corr >= 0.8
    assert abs(d - 2.0) < FRAME
    # Same with a non-zero start time: duration is relative to times[0].
    t0 = 40.9
    d0 = high_correlation_duration(corr, t0 + times)
    np.testing.assert_allclose(d0, (t0 + times)[35] - t0, rtol=0, atol=1e-12)


def test_duration_never_drops_is_horizon_clipped():
    times = FRAME * np.arange(400)  # spans 22.4 > 20
    d = high_correlation_duration(np.ones(400), times)
    assert d == times[times <= 20.0].max()  # = 356 * 0.0561 = 19.9716
    assert d == times[356]
    # A frame landing on the horizon up to rounding counts: times accumulated
    # step by step give t[200] = 20.000000000000014 here.
    t = np.concatenate([[0.0], np.cumsum(np.full(299, 0.1))])
    assert t[200] > 20.0
    assert high_correlation_duration(np.ones(300), t, horizon=20.0) == t[200]


def test_duration_nan_stops_and_horizon_clips_drops():
    times = FRAME * np.arange(100)
    corr = np.ones(100)
    corr[30] = np.nan
    assert high_correlation_duration(corr, times) == times[29]
    # A drop after the horizon is not seen.
    corr = np.where(times < 4.0, 1.0, 0.0)
    assert high_correlation_duration(corr, times, horizon=2.0) == times[times <= 2.0].max()
    assert high_correlation_duration(corr, times, horizon=20.0) == times[times < 4.0].max()
    # Failing at the first frame gives zero; equal to the threshold counts as high.
    assert high_correlation_duration(np.full(5, 0.5), times[:5]) == 0.0
    assert high_correlation_duration(np.full(5, 0.8), times[:5], threshold=0.8) == times[4]


def test_duration_vectorised_and_jax_agree():
    times = FRAME * np.arange(80)
    rng = np.random.default_rng(7)
    drops = rng.uniform(0.0, 5.0, size=(2, 3))
    curves = np.where(times[None, None, :] < drops[..., None], 0.95, 0.5)
    d = high_correlation_duration(curves, times)
    assert d.shape == (2, 3)
    for idx in np.ndindex(2, 3):
        assert d[idx] == high_correlation_duration(curves[idx], times)
    dj = jax.jit(high_correlation_duration)(jnp.asarray(curves), jnp.asarray(times))
    assert isinstance(dj, jax.Array)
    np.testing.assert_allclose(np.asarray(dj), d, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------
# xarray layer
# --------------------------------------------------------------------------


def test_compute_metrics_self_comparison():
    ds = _dataset()
    times = ds.time.values
    m = compute_metrics(ds, ds)
    assert m.correlation.dims == ("sample", "time")
    assert m.correlation.shape == (3, 12)
    np.testing.assert_allclose(m.correlation, 1.0, atol=1e-5)
    np.testing.assert_allclose(m.correlation_mean, 1.0, atol=1e-5)
    span = times[-1] - times[0]
    assert float(m.duration_of_mean) == pytest.approx(span, abs=1e-12)
    np.testing.assert_allclose(m.duration_per_sample, span, atol=1e-12)
    assert float(m.duration_std) == pytest.approx(0.0, abs=1e-12)
    assert m.attrs["threshold"] == 0.8 and m.attrs["horizon"] == 20.0
    np.testing.assert_allclose(m.energy_pred, m.energy_ref)
    np.testing.assert_allclose(m.energy_pred, energy_da(ds), rtol=1e-6)
    np.testing.assert_allclose(m.enstrophy_pred, enstrophy_da(ds), rtol=1e-6)
    assert m.spectrum_pred.dims == ("wavenumber",) and m.spectrum_pred.size == 16 // 2 + 1
    np.testing.assert_allclose(m.spectrum_pred, m.spectrum_ref)
    # Horizon clipping: frames within 0.3 time units of the start are 0..5.
    clipped = compute_metrics(ds, ds, horizon=0.3)
    assert float(clipped.duration_of_mean) == pytest.approx(times[5] - times[0], abs=1e-12)
    # Chunking does not change anything (ragged last chunk included).
    chunked = compute_metrics(ds, ds, chunk_size=5)
    xr.testing.assert_allclose(chunked, m)


def test_mismatched_grid_raises_naming_both_sizes():
    with pytest.raises(ValueError, match=r"16x16.*8x8"):
        compute_metrics(_dataset(n=16), _dataset(n=8))
    with pytest.raises(ValueError, match=r"8x8.*16x16"):
        correlation_da(_dataset(n=8), _dataset(n=16))


def test_disjoint_times_raise_naming_both_ranges():
    pred = _dataset(t0=0.0)
    ref = _dataset(t0=5.0)
    with pytest.raises(ValueError, match=r"time.*\[0, .*\[5, "):
        correlation_da(pred, ref)


def test_alignment_on_common_times_and_samples():
    ref = _dataset(n_samples=4, n_times=12)
    pred = ref.isel(sample=[3, 1], time=slice(2, 9))
    pred = pred.assign_coords(time=pred.time.values + 1e-12)  # rounding noise
    corr = correlation_da(pred, ref)
    assert list(corr.sample.values) == [3, 1]
    np.testing.assert_array_equal(corr.time.values, pred.time.values)
    np.testing.assert_allclose(corr, 1.0, atol=1e-5)
    # float32 time stamps still match float64 ones.
    ref32 = ref.assign_coords(time=ref.time.values.astype(np.float32))
    assert correlation_da(pred, ref32).sizes["time"] == 7
    # Shifted by half a frame: nothing matches.
    with pytest.raises(ValueError, match="no common time"):
        correlation_da(pred.assign_coords(time=pred.time.values + FRAME / 2), ref)


def test_duration_summary_with_negated_and_diverged_samples():
    ref = _dataset()
    times = ref.time.values
    span = times[-1] - times[0]
    pred = ref.copy(deep=True)
    for name in ("u", "v"):
        pred[name].values[1] *= -1.0  # correlation -1 throughout
        pred[name].values[2, 5:] = np.nan  # diverges at frame 5
    corr = correlation_da(pred, ref)
    np.testing.assert_allclose(corr.sel(sample=1), -1.0, atol=1e-5)
    s = duration_summary(corr)
    expected = np.array([span, 0.0, times[4] - times[0]])
    np.testing.assert_allclose(s.duration_per_sample, expected, atol=1e-12)
    assert s.duration_per_sample.dims == ("sample",)
    assert float(s.duration_of_mean) == 0.0  # mean curve is 1/3 at frame 0
    assert float(s.duration_mean) == pytest.approx(expected.mean())
    assert float(s.duration_std) == pytest.approx(expected.std())
    assert float(s.duration_min) == 0.0 and float(s.duration_max) == pytest.approx(span)
    assert s.attrs == {"threshold": 0.8, "horizon": 20.0}
    # Without the negated sample, the divergence of one sample ends the mean curve.
    s2 = duration_summary(corr.sel(sample=[0, 2]))
    assert float(s2.duration_of_mean) == pytest.approx(times[4] - times[0])
    # compute_metrics agrees, and its sample-mean curve does not skip NaN either.
    m = compute_metrics(pred, ref)
    np.testing.assert_allclose(m.duration_per_sample, expected, atol=1e-12)
    assert np.isnan(m.correlation_mean.values[5:]).all()
    assert np.isfinite(m.correlation_mean.values[:5]).all()


def test_vorticity_and_spectrum_dataarrays():
    ds = _dataset(n_samples=2, n_times=4, n=16)
    w = vorticity_da(ds)
    assert w.name == "vorticity" and w.dims == ("sample", "time", "x", "y")
    assert tuple(w.attrs["offset"]) == (1.0, 1.0) and "units" in w.attrs
    np.testing.assert_allclose(
        w.values, np.asarray(vorticity(ds.u.values, ds.v.values, L / 16)), rtol=1e-5, atol=1e-6
    )

    spec = spectrum_da(ds, time_indices=[0, 3])
    assert spec.dims == ("sample", "time", "wavenumber") and spec.shape == (2, 2, 9)
    np.testing.assert_allclose(spec.wavenumber, np.arange(9), rtol=1e-6)
    full = spectrum_da(ds, max_shell=corner_shell(16))
    np.testing.assert_allclose(full.sum("wavenumber"), energy_da(ds), rtol=1e-5)

    z = enstrophy_da(ds)
    assert z.dims == ("sample", "time")
    np.testing.assert_allclose(z, 0.5 * (w.values.astype(np.float64) ** 2).mean((-2, -1)),
                               rtol=1e-5)
    # A single trajectory without a sample dim.
    one = ds.isel(sample=0)
    assert spectrum_da(one).dims == ("time", "wavenumber")
    assert energy_da(one).dims == ("time",)
