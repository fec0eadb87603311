"""The pseudo-spectral solvers `spectral` / `spectral-N`: start, flow, grids, scoring."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralpde.cli import main
from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.physics import spectral as sp
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.classical import SpectralSolver, classical_solver
from neuralpde.store import open_store
from neuralpde.store.reading import initial_states, store_flow


def _without_nyquist(uv):
    """The MAC field with its Nyquist modes removed (what an N² spectral field can hold)."""
    n = uv.shape[-1]
    index = np.fft.fftfreq(n, 1 / n)
    keep = (np.abs(index)[:, None] < n / 2) & (np.abs(index)[None, :] < n / 2)
    return np.stack([np.fft.ifft2(np.fft.fft2(c) * keep).real for c in np.asarray(uv)])


def _correlation(a, b):
    wa, wb = (np.asarray(dns.divergence(jnp.stack([w[1], -w[0]]))) for w in (a, b))  # curl
    return float((wa * wb).sum() / np.sqrt((wa * wa).sum() * (wb * wb).sum()))


@pytest.fixture(scope="module")
def turbulent():
    """A 64² FV state after 1.5 time units of the Kolmogorov flow, and the flow."""
    flow = KolmogorovFlow()
    uv = dns.random_initial_velocity(jax.random.PRNGKey(3), flow, 64)
    dt = dns.model_time_step(flow, 64)
    uv = jax.jit(dns.repeated(dns.finite_volume_step(flow, 64, dt), round(1.5 / dt)))(uv)
    return flow, np.asarray(uv)


def test_frame_0_is_the_reference_filtered_to_n(turbulent):
    """At N = the model grid frame 0 is the stored frame less its Nyquist modes, to round-off;
    on a coarser N it is the finer state's modes |k| < N/2 seen on the model grid."""
    flow, uv64 = turbulent
    model = np.asarray(dns.downsample_velocity(uv64, 16))
    same = SpectralSolver(flow, 16, model_size=16)
    frame0 = np.asarray(same.velocity(same.init(jnp.asarray(model))))
    assert np.abs(frame0 - _without_nyquist(model)).max() < 1e-5 * np.abs(model).max()
    assert _correlation(frame0, model) > 0.99
    fine = SpectralSolver(flow, 32, model_size=16, input_size=64)
    from_fine = np.asarray(fine.velocity(fine.init(jnp.asarray(uv64))))
    assert _correlation(from_fine, model) > 0.99  # the same field, through the 32² modes
    assert not np.allclose(from_fine, frame0)     # ... which the 16² state does not hold


def test_the_exchange_is_exact_for_a_band_limited_field():
    """A single Fourier mode sampled and face-averaged as a stored field is reproduced exactly
    on any other grid (positions and averaging of the stored reference, module docstring)."""
    L, k = 2 * math.pi, 3

    def stored(n):  # face averages of u = cos(k y), v = 0 on an n² MAC grid
        y = np.arange(n) * L / n
        dy = L / n
        u = (np.sin(k * (y + dy)) - np.sin(k * y)) / (k * dy)
        return np.stack([np.tile(u, (n, 1)), np.zeros((n, n))]).astype(np.float32)

    state = sp.staggered_to_spectral(jnp.asarray(stored(16)), 24)
    for n in (8, 16, 32):
        assert np.abs(np.asarray(sp.spectral_to_staggered(state, n)) - stored(n)).max() < 2e-6


@pytest.mark.parametrize("change", [dict(viscosity=2e-3), dict(linear_drag=0.2),
                                    dict(forcing_wavenumber=2)])
def test_the_flow_parameters_reach_the_solver(turbulent, change):
    flow, uv64 = turbulent
    model = jnp.asarray(dns.downsample_velocity(uv64, 16))

    def final(f):
        solver = SpectralSolver(f, 16, model_size=16)
        state = jax.jit(dns.repeated(solver.step, 20))(solver.init(model))
        return np.asarray(solver.velocity(state))

    base = final(flow)
    assert np.isfinite(base).all()
    assert np.abs(final(dataclasses.replace(flow, **change)) - base).max() > 1e-4


def test_a_single_mode_decays_at_the_viscous_rate_through_the_solver():
    """No forcing, no drag: v = sin(3x)/3 (ω = cos 3x) decays as exp(−9νt); the mean u is kept."""
    from neuralpde.physics.flows import DecayingTurbulence

    flow = DecayingTurbulence(viscosity=0.05)
    n, L = 32, 2 * math.pi
    solver = SpectralSolver(flow, n, model_size=n)
    x, dx = np.arange(n + 1) * L / n, L / n
    v_face = (np.cos(3 * x[:-1]) - np.cos(3 * x[1:])) / (9 * dx)  # mean over [x_i, x_i+1]
    uv = np.stack([np.full((n, n), 0.25), np.tile(v_face[:, None], (1, n))]).astype(np.float32)
    state = jax.jit(dns.repeated(solver.step, 100))(solver.init(jnp.asarray(uv)))
    out = np.asarray(solver.velocity(state))
    assert out[0].mean() == pytest.approx(0.25, abs=1e-6)
    ratio = np.abs(out[1]).max() / np.abs(uv[1]).max()
    assert ratio == pytest.approx(math.exp(-0.05 * 9 * 100 * solver.dt), rel=1e-3)


@pytest.mark.parametrize("name, match", [("spectral-7", "even"), ("spectral-6", ">= 8"),
                                         ("spectral-64", "reference grid 32")])
def test_bad_spectral_grids_are_refused(name, match):
    with pytest.raises(ConfigError, match=match):
        classical_solver(name, KolmogorovFlow(), 8, stored_sizes=(16,), fine_size=32)


def test_spectral_grid_and_step(tiny_data):
    test = open_store(tiny_data / "test.zarr")
    flow, n = store_flow(test), int(test.attrs["model_size"])
    assert classical_solver("spectral", flow, n).name == f"spectral-{n}"
    solver = classical_solver("spectral-12", flow, n, stored_sizes=(16,), fine_size=32)
    assert (solver.size, solver.input_size, solver.observed_size) == (12, 16, n)
    steps = float(test.attrs["frame_dt"]) / solver.dt
    assert abs(steps - round(steps)) < 1e-6 and solver.dt <= dns.model_time_step(flow, 12) + 1e-12
    assert initial_states(test, n, 1).shape == (1, 2, n, n)


def test_the_random_initial_velocity_has_no_mean_flow():
    """The spectral solver does not advect with the mean velocity (docs/solvers.md): the
    stored flows start with none (jax-cfd's random field: round-off against a maximum of 7)."""
    for seed in range(3):
        uv = np.asarray(dns.random_initial_velocity(jax.random.PRNGKey(seed), KolmogorovFlow(), 64))
        assert np.abs(uv.mean(axis=(1, 2))).max() < 1e-6 * np.abs(uv).max()


def test_spectral_is_scored_like_every_solver(tiny_data, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["evaluate", "--data", str(tiny_data), "--out", str(out), "--horizon", "0.3",
                 "--solver", "spectral", "--solver", "spectral-12"]) == 0
    printed = capsys.readouterr().out
    assert "spectral-8: duration" in printed and "spectral-12: duration" in printed
    import json
    summary = json.loads((out / "spectral-12" / "summary.json").read_text())
    assert summary["kind"] == "spectral" and summary["size"] == 12
    assert summary["compared_on"] == "model grid" and summary["latency_s_per_time_unit"] > 0
    assert main(["evaluate", "--data", str(tiny_data), "--out", str(out),
                 "--solver", "spectral-9"]) == 2
    err = capsys.readouterr().err
    assert "even" in err and len(err.strip().splitlines()) == 1
