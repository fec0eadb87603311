r"""Direct numerical simulation: grids, time steps, initial conditions, steppers.

The state of every finite-volume stepper in neuralpde is a plain array
``uv`` of shape ``(2, N, N)`` (float32): ``uv[0]`` is the x-velocity u on the
x-faces of the MAC grid (offset (1, ½) in grid steps), ``uv[1]`` is v on the
y-faces (offset (½, 1)).  Axis −2 is x, axis −1 is y.  Plain arrays vmap,
shard, checkpoint and store without any jax-cfd type leaking out; jax-cfd's
``GridVariable`` wrappers are built inside the jitted step and cost nothing.

Finite-volume step (the reference DNS, jax-cfd's
``equations.semi_implicit_navier_stokes``):

.. math::

    \mathbf u^{*} = \mathbf u^n + \Delta t\,[-\nabla\cdot(\mathbf u\mathbf u)^n
                  + \nu\nabla^2\mathbf u^n + \mathbf f(\mathbf u^n)],\qquad
    \mathbf u^{n+1} = \mathbf u^{*} - \Delta t\,\nabla p,\quad
    \nabla^2 p = \nabla\cdot\mathbf u^{*}/\Delta t ,

with van Leer–limited flux advection, forward Euler in time and the pressure
Poisson equation solved by fast diagonalisation.  (In jax-cfd 0.2.1 this
"semi-implicit" step treats diffusion explicitly, too; at Re = 1000 the
diffusive limit is ~300x the advective one, so the CFL step governs; at low
Reynolds numbers on fine grids it does not, and :func:`inner_steps` takes
more fine steps.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from neuralpde.config import ConfigError
from neuralpde.physics.flows import DecayingTurbulence, FlowSpec
from neuralpde.physics.jaxcfd import JAX_CFD_VERSION, cfd  # noqa: F401 (version re-exported)

Array = jax.Array
Stepper = Callable[[Array], Array]


def make_grid(size: int, domain_size: float = 2 * math.pi):
    """A periodic ``size x size`` jax-cfd grid on ``[0, domain_size]^2``."""
    return cfd.grids.Grid((size, size), domain=((0.0, domain_size), (0.0, domain_size)))


def model_time_step(flow: FlowSpec, size: int) -> float:
    """The CFL time step on an N² grid: ``courant * (L/N) / max_velocity``.

    0.0070125 for the published flow on 64² (jax-cfd's ``stable_time_step``).
    Raises :class:`ConfigError` when the explicit diffusion of this step is
    unstable on this grid, ``dt > dx²/(4ν)`` (jax-cfd's diffusive limit),
    naming the largest viscosity the grid accepts.
    """
    grid = make_grid(size, flow.domain_size)
    dt = float(cfd.advection.stable_time_step(flow.max_velocity, flow.courant, grid))
    limit = float(cfd.diffusion.stable_time_step(flow.viscosity, grid))
    if dt > limit:
        dx = flow.domain_size / size
        raise ConfigError(
            f"invalid viscosity={flow.viscosity:g} on the {size}² grid: the explicit diffusion "
            f"limit dx²/(4ν) = {limit:.3g} is below the CFL step {dt:.3g}; accepted viscosity <= "
            f"{dx * flow.max_velocity / (4 * flow.courant):.3g} on this grid (a larger "
            "max_velocity or a smaller courant shortens the step)")
    return dt


def inner_steps(flow: FlowSpec, fine_size: int, model_size: int) -> int:
    """Fine steps per model step: the grid ratio, more where the fine grid's diffusion needs it.

    The fine step ``dt_model / n`` keeps the model grid's Courant number on the
    fine grid (``n >= fine_size / model_size``; the published protocol: 32 at
    2048² for the 64² model step) and its explicit diffusion at the same
    fraction ``courant`` of the fine grid's diffusive limit,
    ``dt_model / n <= courant * dx_fine² / (4ν)``.  Raises :class:`ConfigError`
    for a fine grid that is not a multiple of the model grid.
    """
    if fine_size % model_size:
        raise ConfigError(
            f"invalid fine grid {fine_size}: accepted an integer multiple of the model grid "
            f"{model_size}")
    ratio = fine_size // model_size
    dt = model_time_step(flow, model_size)
    grid = make_grid(fine_size, flow.domain_size)
    limit = flow.courant * float(cfd.diffusion.stable_time_step(flow.viscosity, grid))
    return max(ratio, math.ceil(dt / limit - 1e-9))


def wrap_velocity(uv: Array, grid) -> tuple:
    """``(2, N, N)`` array -> jax-cfd GridVariableVector with periodic boundaries."""
    bc = cfd.boundaries.periodic_boundary_conditions(2)
    offsets = grid.cell_faces
    return tuple(
        cfd.grids.GridVariable(cfd.grids.GridArray(uv[i], offsets[i], grid), bc) for i in range(2))


def unwrap_velocity(velocity) -> Array:
    """jax-cfd GridVariableVector -> ``(2, N, N)`` array."""
    return jnp.stack([component.data for component in velocity])


def forcing_function(flow: FlowSpec, grid):
    """jax-cfd forcing for a flow: Kolmogorov ``A sin(k_f y) x̂ − μ u``, or ``None``."""
    if isinstance(flow, DecayingTurbulence):
        return None
    return cfd.forcings.simple_turbulence_forcing(
        grid,
        constant_magnitude=flow.forcing_amplitude,
        constant_wavenumber=flow.forcing_wavenumber,
        linear_coefficient=-flow.linear_drag,
        forcing_type="kolmogorov",
    )


def finite_volume_step(
    flow: FlowSpec,
    size: int,
    dt: float,
    convect: Callable | None = None,
    time_stepper: Callable | None = None,
) -> Stepper:
    """One explicit finite-volume Navier–Stokes step ``uv -> uv`` on an N² grid.

    Args:
      flow: the flow specification (viscosity, density, forcing, domain).
      size: N, cells per side.
      dt: time step.
      convect: jax-cfd ConvectFn replacing van Leer advection (WENO, learned).
      time_stepper: jax-cfd time stepper (default forward Euler).
    """
    grid = make_grid(size, flow.domain_size)
    kwargs = {}
    if time_stepper is not None:
        kwargs["time_stepper"] = time_stepper
    # jax-cfd builds constant arrays (the forcing field) when the step is made;
    # keep them concrete even if the step is first built inside a jit trace.
    with jax.ensure_compile_time_eval():
        step = cfd.equations.semi_implicit_navier_stokes(
            density=flow.density,
            viscosity=flow.viscosity,
            dt=dt,
            grid=grid,
            convect=convect,
            forcing=forcing_function(flow, grid),
            **kwargs,
        )

    def uv_step(uv: Array) -> Array:
        return unwrap_velocity(step(wrap_velocity(uv, grid)))

    return uv_step


def random_initial_velocity(key: Array, flow: FlowSpec, size: int) -> Array:
    """A random divergence-free ``(2, N, N)`` field peaked at ``flow.peak_wavenumber``.

    jax-cfd's ``filtered_velocity_field``: white noise filtered by a log-normal
    spectrum around the peak wavenumber, projected and scaled to
    ``flow.max_velocity`` (three times, for round-off).
    """
    grid = make_grid(size, flow.domain_size)
    velocity = cfd.initial_conditions.filtered_velocity_field(
        key, grid, flow.max_velocity, flow.peak_wavenumber)
    return unwrap_velocity(velocity)


def downsample_velocity(uv: Array, target_size: int, domain_size: float = 2 * math.pi) -> Array:
    """Staggered face averaging of ``uv`` (``(2, N, N)``) to ``target_size``.

    The coarse u on a coarse x-face is the mean of the fine u over the fine
    faces it covers, so the net flux through every coarse face is kept and the
    coarse field is exactly as divergence-free as the fine one.
    """
    size = uv.shape[-1]
    if target_size == size:
        return uv
    if size % target_size:
        raise ConfigError(
            f"invalid target grid {target_size}: accepted a divisor of the source grid {size}")
    source = make_grid(size, domain_size)
    target = make_grid(target_size, domain_size)
    coarse = cfd.resize.downsample_staggered_velocity(source, target, (uv[0], uv[1]))
    return jnp.stack(coarse)


def divergence(uv: Array, domain_size: float = 2 * math.pi) -> Array:
    """Discrete MAC divergence at cell centres: backward differences of the face values."""
    dx = domain_size / uv.shape[-1]
    u, v = uv[..., 0, :, :], uv[..., 1, :, :]
    return (u - jnp.roll(u, 1, axis=-2)) / dx + (v - jnp.roll(v, 1, axis=-1)) / dx
