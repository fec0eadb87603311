"""The pseudo-spectral solvers `spectral` / `spectral-N`: start, flow, grids, scoring."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralpde.cli import main
from neuralpde.config import ConfigError
from neuralpde.numerics.time_stepping import repeated
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
    uv = jax.jit(repeated(dns.finite_volume_step(flow, 64, dt), round(1.5 / dt)))(uv)
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
        state = jax.jit(repeated(solver.step, 20))(solver.init(model))
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
    state = jax.jit(repeated(solver.step, 100))(solver.init(jnp.asarray(uv)))
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


# --- the pseudo-spectral reference of `neuralpde generate` ----------------------------------

def _spectral_store(tmp_path, name="spectral", **overrides):
    """A test store of 3 trajectories from the pseudo-spectral reference on 32² (8² model
    grid), warmed up on the 16² FV grid and refined 0.2 t.u. before t = 0."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import tiny_preset
    from neuralpde.store.generate import generate_split

    fields = dict(reference_solver="spectral", warmup_size=16, refine_time=0.2,
                  initial_sizes=(16, 32), warmup=1.0, duration=0.5)
    fields.update(overrides)
    preset = tiny_preset(**fields)
    return preset, generate_split(preset, "test", tmp_path / name / "test.zarr", progress=False)


def test_a_spectral_rollout_on_the_fine_grid_reproduces_a_spectral_reference(tmp_path, capsys):
    """spectral-32 started from the stored 32² frame integrates what the reference did: the
    frames agree to float32 round-off (measured 6e-7 of a velocity scale of 2; tolerance
    1e-5 over 0.5 time units), while dns-32 from the same start departs by O(1)."""
    from neuralpde.cli import main as cli

    _, path = _spectral_store(tmp_path)
    store = open_store(path)
    assert store.attrs["reference_solver"] == "spectral"
    assert "pseudo-spectral" in store.attrs["solver"]
    out = tmp_path / "results"
    assert cli(["evaluate", "--data", str(path.parent), "--solver", "spectral-32",
                "--solver", "dns-32", "--out", str(out)]) == 0
    import xarray as xr

    stored = store["u"].values
    spectral_u = xr.open_zarr(out / "spectral-32" / "trajectory.zarr")["u"].values
    dns_u = xr.open_zarr(out / "dns-32" / "trajectory.zarr")["u"].values
    scale = np.abs(stored).max()
    assert np.abs(spectral_u - stored[:, :spectral_u.shape[1]]).max() < 1e-5 * scale
    assert np.abs(dns_u - stored[:, :dns_u.shape[1]]).max() > 1e-2 * scale


def test_the_spectral_store_is_the_same_whatever_the_batch_and_after_a_resume(tmp_path,
                                                                              monkeypatch):
    """Batch 1 (padded to 2: XLA rounds a lone FFT differently) and batch 3 give the same
    bits; a run stopped after its first coarse warm-up block resumes to the same bits (the
    resume record holds the coarse FV state, then the (omega_hat, mean) pair)."""
    import neuralpde.store.generate as generation
    from neuralpde.interrupts import Interrupted

    _, one = _spectral_store(tmp_path, "one", batch_size=1)
    _, three = _spectral_store(tmp_path, "three", batch_size=3)
    calls = {"n": 0}

    def stop_once():
        calls["n"] += 1
        return calls["n"] == 1

    monkeypatch.setattr(generation, "stop_requested", stop_once)
    monkeypatch.setattr(generation, "requested_signal", lambda: 2)
    with pytest.raises(Interrupted):
        _spectral_store(tmp_path, "resumed", batch_size=3, time_chunk=2)
    record = generation.store.ResumeLog(tmp_path / "resumed" / "test.zarr").load(0)
    assert record is not None and record[1] == "coarse"
    monkeypatch.undo()
    _, resumed = _spectral_store(tmp_path, "resumed", batch_size=3, time_chunk=2)
    a, b, c = (open_store(p) for p in (one, three, resumed))
    for name in ("u", "v", "u_history", "u_init_16", "u_init_32", "enstrophy_t0"):
        assert np.array_equal(a[name].values, b[name].values), name
        assert np.array_equal(b[name].values, c[name].values), name


def test_refinement_is_band_limited_interpolation_and_stays_divergence_free(turbulent):
    """Face-averaging the refined field back returns the coarse one (less its Nyquist
    modes), the refined field is discretely divergence-free, and N = M is the identity."""
    from neuralpde.store.kernels import refine_velocity

    flow, uv = turbulent
    coarse = np.asarray(dns.downsample_velocity(uv, 32))
    fine = refine_velocity(jnp.asarray(coarse), 128, flow.domain_size)
    back = np.asarray(dns.downsample_velocity(fine, 32))
    np.testing.assert_allclose(back, _without_nyquist(coarse), atol=2e-5)
    assert float(jnp.abs(dns.divergence(fine)).max()) < 1e-3 * float(jnp.abs(fine).max())
    np.testing.assert_array_equal(
        np.asarray(refine_velocity(jnp.asarray(coarse), 32, flow.domain_size)), coarse)


@pytest.mark.parametrize("options,match", [
    (["--reference-solver", "pseudo"], "invalid choice: 'pseudo'"),
    (["--warmup-size", "12"], "invalid warmup_size=12"),
    (["--warmup-size", "64"], "invalid warmup_size=64"),
    (["--warmup-size", "0", "--refine-time", "0.3"],
     "invalid refine_time=0.3 .*without a coarse warm-up"),
    (["--warmup-size", "16", "--refine-time", "0.01"], "at least the history window"),
    (["--warmup-size", "16", "--refine-time", "nan"], "invalid refine_time=nan"),
])
def test_bad_reference_options_are_refused_in_one_line(tmp_path, capsys, options, match):
    import re

    argv = ["generate", "--preset", "mini", "--out", str(tmp_path / "data"), "--split", "test",
            "--model-size", "8", "--fine-size", "32", "--initial-sizes", "--samples", "1",
            "--duration", "0.5", "--warmup", "1", "--history", "8", "--no-progress", *options]
    with pytest.raises(SystemExit) if "invalid choice" in match else _no_raise():
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(match, err) and "Traceback" not in err
    assert not (tmp_path / "data").exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_face_averages_fold_every_mode_like_fine_face_averaging(turbulent):
    """spectral_to_staggered on n² from a state on N² = m·n equals the N² face averages
    averaged down to n² (modes above n/2 fold onto k mod n, as the reference's do)."""
    flow, uv = turbulent
    state = sp.staggered_to_spectral(jnp.asarray(uv), 64, flow.domain_size)
    fine = sp.spectral_to_staggered(state, 64, flow.domain_size)
    for n in (32, 16, 8):
        direct = np.asarray(sp.spectral_to_staggered(state, n, flow.domain_size))
        averaged = np.asarray(dns.downsample_velocity(fine, n, flow.domain_size))
        assert np.abs(direct - averaged).max() < 1e-5 * np.abs(averaged).max(), n


def test_refining_at_t0_warns(tmp_path):
    """A coarse warm-up refined at t = 0 (refine_time 0) leaves the fine-scale transient in the
    scored frames: generation says so in a warning."""
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import tiny_preset
    from neuralpde.store.generate import generate_split

    preset = tiny_preset(reference_solver="spectral", warmup_size=16, refine_time=0.0,
                         warmup=0.3, history=0, duration=0.2, n_samples=1)
    with pytest.warns(UserWarning, match=r"refined to the reference grid at t = 0"):
        generate_split(preset, "test", tmp_path / "test.zarr", progress=False)
