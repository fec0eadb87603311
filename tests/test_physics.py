"""The jax-cfd adapter and the DNS building blocks, exercised through neuralpde.physics."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralpde.numerics.time_stepping import repeated
from neuralpde.physics import dns, spectral
from neuralpde.physics.flows import DecayingTurbulence, KolmogorovFlow
from neuralpde.physics.jaxcfd import PATCHED_MODULES

FLOAT32_EPS = float(np.finfo(np.float32).eps)


def test_adapter_is_scoped_to_jax_cfd():
    import jax_cfd.base.array_utils as array_utils

    assert "jax_cfd.base.equations" in PATCHED_MODULES
    # the global jax module is untouched ...
    assert not hasattr(jax, "tree_map") or jax.__version_info__ < (0, 6)
    # ... while jax-cfd sees the legacy names
    assert array_utils.jax.tree_flatten is jax.tree_util.tree_flatten


def test_initial_condition_filter():
    flow = KolmogorovFlow()
    key = jax.random.PRNGKey(3)
    uv = dns.random_initial_velocity(key, flow, 64)
    assert uv.shape == (2, 64, 64) and uv.dtype == jnp.float32
    speed = jnp.sqrt(uv[0] ** 2 + uv[1] ** 2)
    # normalised so that the largest face speed equals max_velocity (jax-cfd's own
    # definition mixes staggered components, so allow a few percent)
    assert float(jnp.max(jnp.abs(uv))) == pytest.approx(flow.max_velocity, rel=0.05)
    assert float(speed.max()) <= flow.max_velocity * 1.5
    dx = 2 * math.pi / 64
    assert float(jnp.abs(dns.divergence(uv)).max()) < 50 * FLOAT32_EPS * flow.max_velocity / dx
    # the energy sits at the large scales around the peak wavenumber (4), not at the grid scale
    energy = (np.abs(np.fft.fft2(np.asarray(uv[0]))) ** 2
              + np.abs(np.fft.fft2(np.asarray(uv[1]))) ** 2)
    k = np.fft.fftfreq(64, 1 / 64)
    kmag = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    mean_k = float((energy * kmag).sum() / energy.sum())
    assert 2.0 < mean_k < 8.0
    same = dns.random_initial_velocity(key, flow, 64)
    other = dns.random_initial_velocity(jax.random.PRNGKey(4), flow, 64)
    assert jnp.array_equal(uv, same) and not jnp.allclose(uv, other)


def test_finite_volume_step_applies_kolmogorov_forcing_exactly_from_rest():
    """From rest, advection and diffusion vanish: one step gives u = dt·A·sin(k_f y) exactly."""
    flow = KolmogorovFlow(forcing_amplitude=1.0, forcing_wavenumber=4)
    n, dt = 32, dns.model_time_step(flow, 32)
    step = jax.jit(dns.finite_volume_step(flow, n, dt))
    uv = step(jnp.zeros((2, n, n), jnp.float32))
    y = (np.arange(n) + 0.5) * 2 * math.pi / n  # u lives at y-offset 1/2
    expected_u = dt * np.sin(4 * y)[None, :] * np.ones((n, 1))
    np.testing.assert_allclose(np.asarray(uv[0]), expected_u, atol=1e-6)
    np.testing.assert_allclose(np.asarray(uv[1]), 0.0, atol=1e-6)


def test_finite_volume_trajectory_stays_divergence_free_and_bounded():
    flow = KolmogorovFlow()
    n = 32
    step = dns.finite_volume_step(flow, n, dns.model_time_step(flow, n))
    uv0 = dns.random_initial_velocity(jax.random.PRNGKey(0), flow, n)
    uv = jax.jit(repeated(step, 50))(uv0)
    dx = 2 * math.pi / n
    assert bool(jnp.all(jnp.isfinite(uv)))
    assert float(jnp.abs(uv).max()) < 3 * flow.max_velocity
    assert (float(jnp.abs(dns.divergence(uv)).max())
            < 100 * FLOAT32_EPS * float(jnp.abs(uv).max()) / dx)
    assert not jnp.allclose(uv, uv0)


def test_model_time_step_matches_protocol():
    assert dns.model_time_step(KolmogorovFlow(), 64) == pytest.approx(0.5 * (2 * math.pi / 64) / 7)
    assert round(dns.model_time_step(KolmogorovFlow(), 64), 7) == 0.0070125
    assert dns.inner_steps(KolmogorovFlow(), 2048, 64) == 32


def test_spectral_step_decays_a_single_mode_at_the_viscous_rate():
    """A single Fourier mode of vorticity has no nonlinear term: ω(t) = ω(0)·exp(−ν|k|²t)."""
    flow = DecayingTurbulence(viscosity=0.05)
    n, dt, steps = 32, 0.01, 100
    step, grid = spectral.vorticity_step(flow, n, dt)
    x = np.arange(n) * 2 * math.pi / n
    omega = np.cos(3 * x)[:, None] * np.ones((1, n))
    omega_hat = jnp.fft.rfft2(jnp.asarray(omega, jnp.float32))
    final = jax.jit(repeated(step, steps))(omega_hat)
    decay = float(jnp.abs(final).max() / jnp.abs(omega_hat).max())
    assert decay == pytest.approx(math.exp(-flow.viscosity * 9 * dt * steps), rel=1e-4)
    velocity = spectral.vorticity_velocity(final, grid)
    assert velocity.shape == (2, n, n)


def test_downsampling_keeps_the_field_divergence_free():
    """Face averaging keeps coarse fluxes: the coarse divergence is fine-grid round-off.

    Tolerance: the coarse divergence is a sum of four face means, each a sum of
    float32 numbers of size ≲ max|u|, divided by dx_coarse; round-off per face is
    ≲ few·eps·max|u|, so |div| ≲ C·eps·max|u|/dx_coarse with C ~ 10 (we allow 50).
    The fine field itself is only divergence-free to its own round-off, which
    averaging cannot amplify.
    """
    flow = KolmogorovFlow()
    fine = dns.random_initial_velocity(jax.random.PRNGKey(1), flow, 128)
    for target in (64, 32, 16):
        coarse = dns.downsample_velocity(fine, target)
        assert coarse.shape == (2, target, target)
        dx = 2 * math.pi / target
        tolerance = 50 * FLOAT32_EPS * float(jnp.abs(fine).max()) / dx
        assert float(jnp.abs(dns.divergence(coarse)).max()) < tolerance
        # face averaging: the coarse u is the mean over the fine faces it covers
        f = 128 // target
        expected_u00 = float(fine[0, f - 1, :f].mean())
        assert float(coarse[0, 0, 0]) == pytest.approx(expected_u00, rel=1e-5, abs=1e-6)


def test_downsampling_rejects_a_non_divisor():
    from neuralpde.config import ConfigError

    with pytest.raises(ConfigError, match="divisor of the source grid 64"):
        dns.downsample_velocity(jnp.zeros((2, 64, 64)), 48)


def test_only_the_adapter_imports_jax_cfd():
    """DESIGN.md: every jax-cfd call goes through neuralpde.physics (one module imports it)."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "neuralpde"
    importers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                       if "import jax_cfd" in p.read_text() or "from jax_cfd" in p.read_text())
    assert importers == ["physics/jaxcfd.py"]
