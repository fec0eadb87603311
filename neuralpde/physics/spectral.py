r"""The pseudo-spectral Navier–Stokes solver (jax-cfd's) and its exchange with the MAC grid.

**The solver.**  jax-cfd's ``spectral.equations.NavierStokes2D``: the
vorticity equation

.. math::  \partial_t\omega + \mathbf u\cdot\nabla\omega = \nu\nabla^2\omega
           - \mu\,\omega + (\nabla\times\mathbf f)_z ,

in Fourier space on an N² grid, the advection term computed in physical
space and dealiased by the 2/3 rule (a brick-wall filter), the linear terms
(viscosity, linear drag μ) implicit; stepped by
``spectral.time_stepping.crank_nicolson_rk4`` (Crank–Nicolson for the linear
part, a low-storage RK4 for the rest).  This is the strongest classical
method for periodic 2-D turbulence, the baseline and reference of Dresdner
et al. (2022), "Learning to correct spectral methods for simulating
turbulent flows".  Grid point ``(i, j)`` of the spectral solver lies at
``(iΔ, jΔ)``, Δ = L/N, where the Kolmogorov forcing ``A sin(k_f y)`` is
evaluated.

**The state** is ``(omega_hat, mean)``: the vorticity's ``rfft2``
``(N, N//2 + 1)`` complex64 and the domain-mean velocity ``(2,)`` float32,
which the vorticity does not carry; the mean obeys ``d<u>/dt = −μ<u>``
(the forcing has zero mean and advection conserves momentum), integrated
exactly.

**Exchange with the MAC grid.**  A finite-volume (stored) field on an M² grid
holds face averages: ``u[i, j]`` is the mean of u over the x-face at
``x = (i+1)Δ_M``, ``y ∈ [jΔ_M, (j+1)Δ_M]`` (``v`` likewise with x and y
swapped), which is what staggered face averaging of a finer field
(:func:`neuralpde.physics.dns.downsample_velocity`) produces.  For a
band-limited field with Fourier coefficients ``ĉ(k)`` this is exactly

.. math::  u[i, j] = \sum_k \hat c_u(k)\,\mathrm{sinc}(k_y Δ_M/2)\,
           e^{\,\mathrm i k_x (i+1)Δ_M + \mathrm i k_y (j+\frac12)Δ_M},
           \qquad \mathrm{sinc}(z) = \sin z / z,

so :func:`staggered_to_spectral` divides the stored field's DFT by the same
phase and sinc factors (modes ``|k| < M/2``; the Nyquist modes, whose phase an
even grid cannot resolve, are dropped) to get the continuous field, and keeps
the modes an N² grid holds (``|k| < N/2``: the reference *filtered to N*).
:func:`spectral_to_staggered` applies the factors of the target grid: the
predicted field is compared at exactly the positions, and with exactly the
averaging, of the stored reference.  At N = M the round trip returns the
stored field up to its Nyquist modes and round-off.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from neuralpde.config import ConfigError
from neuralpde.physics.dns import make_grid
from neuralpde.physics.flows import FlowSpec, KolmogorovFlow
from neuralpde.physics.jaxcfd import cfd, spectral

Array = jax.Array


def _wavenumbers(size: int, domain_size: float):
    """Angular wavenumbers ``(kx (N, 1), ky (1, N//2+1))`` of an N² ``rfft2``, Nyquist set to 0
    in a mask ``(N, N//2+1)`` (True where a mode is kept)."""
    kx = 2 * math.pi * jnp.fft.fftfreq(size, d=domain_size / size)[:, None]
    ky = 2 * math.pi * jnp.fft.rfftfreq(size, d=domain_size / size)[None, :]
    index_x = jnp.fft.fftfreq(size, d=1.0 / size)[:, None]
    index_y = jnp.fft.rfftfreq(size, d=1.0 / size)[None, :]
    keep = (jnp.abs(index_x) < size / 2) & (jnp.abs(index_y) < size / 2)
    return kx, ky, keep


def _sinc(z):
    return jnp.where(z == 0, 1.0, jnp.sin(z) / jnp.where(z == 0, 1.0, z))


def _resize_rfft(coefficients: Array, size: int) -> Array:
    """Coefficients of an M² ``rfft2`` layout moved to an N² one (modes beyond both dropped,
    new modes zero), keeping the per-mode amplitude ``ĉ(k)`` (not DFT-scaled)."""
    m = coefficients.shape[0]
    half = min(m, size) // 2  # modes |k| < half are kept on both grids (Nyquist dropped)
    out = jnp.zeros((size, size // 2 + 1), coefficients.dtype)
    out = out.at[:half, :half].set(coefficients[:half, :half])
    if half > 1:
        out = out.at[-(half - 1):, :half].set(coefficients[-(half - 1):, :half])
    return out


def staggered_to_spectral(uv: Array, size: int, domain_size: float = 2 * math.pi):
    """A face-averaged MAC field ``(2, M, M)`` → the spectral state ``(omega_hat, mean)`` on N².

    Args:
      uv: the staggered velocity ``(2, M, M)`` (u on x-faces, v on y-faces), face averages.
      size: N, the spectral grid (any even N ≥ 8; N ≤ M keeps the modes |k| < N/2, N > M
        pads with zeros).
      domain_size: L, the periodic domain's side.

    Returns:
      ``omega_hat`` ``(N, N//2+1)`` complex64 (DFT-scaled for an N² grid whose point
        ``(i, j)`` lies at ``(iΔ_N, jΔ_N)``) and ``mean`` ``(2,)`` float32.
    """
    m = uv.shape[-1]
    dx = domain_size / m
    kx, ky, keep = _wavenumbers(m, domain_size)
    u_hat, v_hat = jnp.fft.rfft2(uv[0]) / m**2, jnp.fft.rfft2(uv[1]) / m**2
    mean = jnp.stack([u_hat[0, 0].real, v_hat[0, 0].real]).astype(jnp.float32)
    # undo the sample positions and the face averaging: continuous amplitudes c(k)
    c_u = u_hat * jnp.exp(-1j * (kx * dx + ky * dx / 2)) / _sinc(ky * dx / 2)
    c_v = v_hat * jnp.exp(-1j * (kx * dx / 2 + ky * dx)) / _sinc(kx * dx / 2)
    omega = jnp.where(keep, 1j * kx * c_v - 1j * ky * c_u, 0)
    omega_hat = _resize_rfft(omega, size) * size**2
    return omega_hat.astype(jnp.complex64), mean


def spectral_to_staggered(state, size: int, domain_size: float = 2 * math.pi) -> Array:
    """The spectral state ``(omega_hat (N, N//2+1), mean (2,))`` → face averages ``(2, n, n)``.

    The exact face averages of the band-limited field over the faces of an
    n² MAC grid, at the positions of a stored field (module docstring): every
    mode ``|k| < N/2`` of the state contributes, at its own wavenumber, with
    the sinc factor of the n² faces; a mode ``|k| ≥ n/2`` lands on the n²
    grid's mode ``k mod n`` (it is sampled there like any other), exactly as
    face averaging a finer finite-volume field
    (:func:`neuralpde.physics.dns.downsample_velocity`) folds it.  So for
    ``N = m n`` the result equals the face averages on N² averaged down to
    n², and for ``N = n`` the field itself (less its Nyquist modes).
    """
    omega_hat, mean = state
    n_spec = omega_hat.shape[0]
    kx, ky, keep = _wavenumbers(n_spec, domain_size)
    k2 = kx**2 + ky**2
    psi = jnp.where(keep & (k2 > 0), omega_hat / jnp.where(k2 > 0, k2, 1.0), 0) / n_spec**2
    dx = domain_size / size
    # continuous amplitudes times the target faces' average and position, per source mode
    a_u = 1j * ky * psi * _sinc(ky * dx / 2) * jnp.exp(1j * (kx * dx + ky * dx / 2))
    a_v = -1j * kx * psi * _sinc(kx * dx / 2) * jnp.exp(1j * (kx * dx / 2 + ky * dx))
    # integer mode numbers of the rfft layout, folded onto the target grid
    index_x = jnp.round(jnp.fft.fftfreq(n_spec, d=1.0 / n_spec)).astype(jnp.int32)[:, None]
    index_y = jnp.round(jnp.fft.rfftfreq(n_spec, d=1.0 / n_spec)).astype(jnp.int32)[None, :]
    shape = (n_spec, n_spec // 2 + 1)
    bx, by = jnp.broadcast_to(index_x % size, shape), jnp.broadcast_to(index_y % size, shape)
    cx, cy = jnp.broadcast_to(-index_x % size, shape), jnp.broadcast_to(-index_y % size, shape)
    # the half plane ky > 0 stands for its conjugate modes -k, too (ky = 0 holds both kx)
    mirrored = jnp.broadcast_to(index_y > 0, shape)

    def fold(a):
        full = jnp.zeros((size, size), jnp.complex64).at[bx, by].add(a.astype(jnp.complex64))
        return full.at[cx, cy].add(jnp.where(mirrored, jnp.conj(a), 0).astype(jnp.complex64))

    u = jnp.fft.ifft2(fold(a_u)).real * size**2 + mean[0]
    v = jnp.fft.ifft2(fold(a_v)).real * size**2 + mean[1]
    return jnp.stack([u, v]).astype(jnp.float32)


def check_spectral_size(size: int) -> int:
    """``size`` if it is an even integer ≥ 8, else :class:`ConfigError`."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 2:
        raise ConfigError(f"invalid spectral grid {size!r}: accepted an even number of cells "
                          "per side >= 8")
    return size


def spectral_time_step(size: int, model_size: int, model_dt: float) -> float:
    """The spectral step on N²: the model step divided into ``ceil(N / n)`` steps.

    That is the CFL step ``courant·Δ_N/max_velocity`` or shorter, and a
    divisor of the model step (and so of the stored frame spacing).
    """
    return model_dt / max(1, math.ceil(size / model_size - 1e-9))


def vorticity_step(flow: FlowSpec, size: int, dt: float, smooth: bool = True):
    """One pseudo-spectral step on the vorticity's ``rfft2`` (Crank–Nicolson RK4).

    jax-cfd's ``NavierStokes2D`` with drag ``μ`` and the flow's Kolmogorov
    forcing curl (evaluated at the points ``(iΔ, jΔ)``); returns ``(step, grid)``.
    """
    grid = make_grid(size, flow.domain_size)
    if isinstance(flow, KolmogorovFlow):
        def forcing_fn(g):
            return cfd.forcings.kolmogorov_forcing(
                g, scale=flow.forcing_amplitude, k=flow.forcing_wavenumber,
                offsets=((0, 0), (0, 0)))
        drag = flow.linear_drag
    else:
        forcing_fn, drag = None, 0.0
    with jax.ensure_compile_time_eval():
        equation = spectral.equations.NavierStokes2D(
            flow.viscosity, grid, drag=drag, smooth=smooth, forcing_fn=forcing_fn)
    return spectral.time_stepping.crank_nicolson_rk4(equation, dt), grid


def spectral_step(flow: FlowSpec, size: int, dt: float):
    """One step ``(omega_hat, mean) -> (omega_hat, mean)`` of the pseudo-spectral solver."""
    step, _ = vorticity_step(flow, size, dt)
    drag = flow.linear_drag if isinstance(flow, KolmogorovFlow) else 0.0
    decay = math.exp(-drag * dt)

    def state_step(state):
        omega_hat, mean = state
        return step(omega_hat), mean * decay

    return state_step


def vorticity_velocity(vorticity_hat: Array, grid) -> Array:
    """Collocated velocity ``(2, N, N)`` from the vorticity's ``rfft2`` (jax-cfd's solve)."""
    uhat, vhat = spectral.utils.vorticity_to_velocity(grid)(vorticity_hat)
    return jnp.stack([jnp.fft.irfftn(uhat), jnp.fft.irfftn(vhat)])


__all__ = ["staggered_to_spectral", "spectral_to_staggered", "check_spectral_size",
           "spectral_time_step", "vorticity_step", "spectral_step", "vorticity_velocity"]
