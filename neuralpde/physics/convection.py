"""Convection from face values for jax-cfd's staggered Navier--Stokes step.

Every coarse solver of the package is the reference finite-volume step
(``cfd.equations.semi_implicit_navier_stokes``) with another convective term
``-div(v c)`` built from *face values*: the advecting velocity and the
advected quantity ``c`` interpolated to the faces of ``c``'s control volume.
This module holds the two families:

* :func:`face_value_convection` — the generic half of learned
  interpolation/TSM: the convection from any face-value rule ``interpolate(role,
  values, from_offset, to_offset)`` (the learned stencils of
  :mod:`neuralpde.solvers.learned`), with jax-cfd's van Leer TVD limiter on
  the advected quantity.
* :func:`weno_convection` — the WENO5-JS/Z baselines, with :func:`ssp_rk3`.

WENO baselines in detail.  The reference step with two substitutions:

1. **Convection.**  :func:`weno_convection` returns a jax-cfd ``ConvectFn``
   (``convect(v) -> tuple of GridArray``) built like jax-cfd's
   ``advect_van_leer_using_limiters`` / ``advect_general``.  For each velocity
   component ``c`` (a ``GridVariable`` on the MAC grid):

   a. every component ``u_j`` of the advecting velocity is linearly
      interpolated to the ``j``-faces of ``c``'s control volume (offset of
      ``c`` + 1/2 along ``j``), exactly as jax-cfd does;
   b. ``c`` is reconstructed on the same faces by WENO5 along ``j``, from the
      left-biased stencil where the face velocity is >= 0 and from the
      right-biased one where it is < 0
      (:func:`neuralpde.numerics.weno.weno5_upwind`; the stored values are read
      as control-volume averages, see that module);
   c. the fluxes ``u_j c`` are formed and their (backward-difference)
      divergence is taken; the result is ``-div(flux)`` on ``c``'s offset.

   Steps b and c go through jax-cfd's own ``advect_general`` with
   :func:`weno_interpolation` as the ``c`` interpolation, so offsets, grids and
   boundary conditions are exactly what jax-cfd's step expects.  No dt-dependent
   limiter is involved: WENO advection is a semi-discrete operator.

   Optionally (``monotone=True``, off by default) each one-sided WENO value is
   clipped by the Suresh--Huynh monotonicity-preserving bound, mirrored for
   negative face velocity like the stencil (formulas in
   :mod:`neuralpde.numerics.weno`).  Its monotonicity argument needs a
   Courant number ``<= 1 / (1 + mp_alpha)`` (0.2 for the default
   ``mp_alpha = 4``; in 2-D, the sum of the axes' Courant numbers below that
   suffices); with a larger step it only reduces overshoots.

2. **Time stepping.**  WENO with forward Euler is unstable for pure advection,
   so the step uses SSP-RK3 with a pressure projection after every stage
   (:func:`ssp_rk3`).  jax-cfd's ``time_stepping.navier_stokes_rk`` already
   does per-stage projection for any explicit Butcher tableau::

       u_1 = P(u_0 + dt k_0)
       u_2 = P(u_0 + dt (k_0 + k_1) / 4)
       u   = P(u_0 + dt (k_0 + k_1 + 4 k_2) / 6),     k_i = F(u_i)

   With the tableau ``a = [[1], [1/4, 1/4]]``, ``b = [1/6, 1/6, 2/3]`` this is
   the Shu--Osher SSP-RK3 with a projection after each stage: because the
   projection ``P`` is linear and leaves the divergence-free ``u_0`` and
   ``u_1`` unchanged, ``P(3/4 u_0 + 1/4 (u_1 + dt k_1)) = P(u_0 + dt (k_0 +
   k_1)/4)`` and likewise for the last stage.  So it is reused, not rewritten.

Only periodic boundary conditions are supported (like WENO's periodic rolls).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from neuralpde.numerics.weno import WENO_SCHEMES, check_params, check_scheme, weno5_upwind
from neuralpde.physics.jaxcfd import cfd

GridArray = cfd.grids.GridArray
GridVariable = cfd.grids.GridVariable
GridVariableVector = tuple[GridVariable, ...]

#: SSP-RK3 (Shu & Osher 1988) as an explicit Butcher tableau.
SSP_RK3_TABLEAU = cfd.time_stepping.ButcherTableau(
    a=[[1.0], [0.25, 0.25]], b=[1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0])

#: Accepted names of the ``time_stepper`` argument of :func:`make_weno_step`.
TIME_STEPPERS = ("ssp_rk3", "forward_euler")


#: Roles of a face value: the velocity normal to the face, and the quantity it carries.
FACE_ROLES = ("advecting", "advected")

#: ``interpolate(role, values (N, N), from_offset, to_offset) -> values at to_offset (N, N)``.
FaceInterpolator = Callable[[str, jax.Array, tuple[float, float], tuple[float, float]], jax.Array]


def face_value_convection(
    make_interpolator: Callable[[jax.Array], FaceInterpolator],
    limiter: bool = True,
) -> Callable[[GridVariableVector], tuple[GridArray, ...]]:
    r"""A jax-cfd ``ConvectFn`` ``-div(u ⊗ c)`` whose face values come from a rule.

    Args:
      make_interpolator: called once per convection with the velocity ``uv``
        ``(2, N, N)`` the ``ConvectFn`` receives (the current state under
        forward Euler, every stage's under Runge--Kutta); returns
        ``interpolate(role, values, from_offset, to_offset)``, which moves a
        field ``(N, N)`` at ``from_offset`` to ``to_offset`` (MAC offsets in
        grid steps), for ``role`` in :data:`FACE_ROLES`.
      limiter: wrap the advected-quantity interpolation in jax-cfd's van Leer
        TVD limiter, ``c_face = c_up - phi(r) (c_up - c_rule)`` with
        ``phi(r) = 2r / (1 + r)`` for ``r > 0`` else 0 (Kochkov et al., PNAS
        2021, keep it on their learned interpolation).  The advecting velocity
        is never limited.

    Returns:
      ``convect(v) -> tuple of GridArray``, built with
        ``cfd.advection.advect_general`` so offsets and boundary conditions are
        those jax-cfd's step expects.  Periodic boundaries only
        (``NotImplementedError`` otherwise).
    """

    def convect(v: GridVariableVector) -> tuple[GridArray, ...]:
        if not cfd.boundaries.has_all_periodic_boundary_conditions(*v):
            raise NotImplementedError("face-value convection supports periodic boundaries only")
        interpolate = make_interpolator(jnp.stack([u.data for u in v]))

        def interpolation(role: str):
            def interp(c: GridVariable, offset, v=None, dt=None) -> GridVariable:
                del v, dt
                offset = tuple(float(o) for o in offset)
                if offset == tuple(c.offset):
                    return c
                data = interpolate(role, c.data, tuple(float(o) for o in c.offset), offset)
                return GridVariable(GridArray(data, offset, c.grid), c.bc)

            return interp

        u_interp, c_interp = interpolation("advecting"), interpolation("advected")
        if limiter:
            c_interp = cfd.interpolation.apply_tvd_limiter(
                c_interp, limiter=cfd.interpolation.van_leer_limiter)
        return tuple(cfd.advection.advect_general(c, v, u_interp, c_interp) for c in v)

    return convect


def _check_periodic(*arrays: GridVariable) -> None:
    if not cfd.boundaries.has_all_periodic_boundary_conditions(*arrays):
        raise NotImplementedError(
            "WENO advection supports periodic boundary conditions only")


def weno_interpolation(scheme: str = "js", eps: float = 1e-6, p: float = 2, *,
                       monotone: bool = False, mp_alpha: float = 4.0,
                       mp_eps: float = 0.0):
    """A jax-cfd ``InterpolationFn`` that puts ``c`` on a face by WENO5.

    The returned ``interp(c, offset, v, dt)`` moves ``c`` by +1/2 cell along a
    single axis ``j`` (the forward face of its control volume) and upwinds by
    the sign of ``v[j]``, which must already sit at ``offset`` (as in
    ``cfd.advection.advect_general``).  ``dt`` is unused.  ``monotone``,
    ``mp_alpha``, ``mp_eps``: the optional monotonicity-preserving bound
    (:func:`neuralpde.numerics.weno.weno5_face_values`).
    """
    check_scheme(scheme)
    check_params(eps, p, mp_alpha, mp_eps)

    def interp(c: GridVariable, offset, v: GridVariableVector,
               dt: float | None = None) -> GridVariable:
        del dt  # WENO is dt-independent
        if tuple(offset) == tuple(c.offset):
            return c
        axes = [j for j, (a, b) in enumerate(zip(c.offset, offset)) if a != b]
        if len(axes) != 1 or offset[axes[0]] - c.offset[axes[0]] != 0.5:
            raise cfd.grids.InconsistentOffsetError(
                "WENO interpolation moves c by +1/2 along one axis only; got "
                f"c.offset={c.offset} and offset={tuple(offset)}")
        (axis,) = axes
        u = v[axis]
        if tuple(u.offset) != tuple(offset):
            raise cfd.grids.InconsistentOffsetError(
                f"the advecting velocity v[{axis}] must sit at {tuple(offset)}, "
                f"got {u.offset}")
        _check_periodic(c)
        data = weno5_upwind(c.data, axis, u.data, scheme=scheme, eps=eps, p=p,
                            monotone=monotone, mp_alpha=mp_alpha, mp_eps=mp_eps)
        return GridVariable(GridArray(data, tuple(offset), c.grid), c.bc)

    return interp


def advect_weno(c: GridVariable, v: GridVariableVector, scheme: str = "js",
                eps: float = 1e-6, p: float = 2,
                dt: float | None = None, *, monotone: bool = False,
                mp_alpha: float = 4.0, mp_eps: float = 0.0) -> GridArray:
    """``-div(v c)`` with WENO5 face values of ``c`` (a ``GridArray``).

    The advecting velocity is linearly interpolated to the faces of ``c``'s
    control volume, as in jax-cfd.  ``dt`` is accepted for interface
    compatibility and unused.  ``monotone``, ``mp_alpha``, ``mp_eps``: the
    optional monotonicity-preserving bound (see :func:`weno_interpolation`).
    """
    _check_periodic(c, *v)
    return cfd.advection.advect_general(
        c, v, cfd.interpolation.linear,
        weno_interpolation(scheme, eps, p, monotone=monotone, mp_alpha=mp_alpha,
                           mp_eps=mp_eps), dt)


def weno_convection(scheme: str = "js", eps: float = 1e-6,
                    p: float = 2, *, monotone: bool = False,
                    mp_alpha: float = 4.0, mp_eps: float = 0.0,
                    ) -> Callable[[GridVariableVector], tuple[GridArray, ...]]:
    """A jax-cfd ``ConvectFn`` using WENO5-JS (``'js'``) or WENO5-Z (``'z'``).

    Pass it as ``cfd.equations.semi_implicit_navier_stokes(..., convect=...)``;
    ``convect(v)`` returns ``tuple(advect_weno(u, v) for u in v)``.
    ``monotone=True`` adds the Suresh--Huynh monotonicity-preserving bound to
    every WENO face value (``mp_alpha``, ``mp_eps``: its parameters; see
    :mod:`neuralpde.numerics.weno`).  Off by default: the ``weno5-js`` /
    ``weno5-z`` solvers are unchanged.
    """
    check_scheme(scheme)
    check_params(eps, p, mp_alpha, mp_eps)
    mp = dict(monotone=monotone, mp_alpha=mp_alpha, mp_eps=mp_eps)

    def convect(v: GridVariableVector) -> tuple[GridArray, ...]:
        return tuple(advect_weno(u, v, scheme, eps, p, **mp) for u in v)

    return convect


def ssp_rk3(equation, time_step: float):
    """SSP-RK3 time stepper with a pressure projection after every stage.

    Same signature as jax-cfd's ``time_stepping.forward_euler`` so it can be
    passed as ``semi_implicit_navier_stokes(..., time_stepper=ssp_rk3)``.
    """
    return jax.named_call(
        cfd.time_stepping.navier_stokes_rk(SSP_RK3_TABLEAU, equation, time_step),
        name="ssp_rk3")


def make_weno_step(grid, dt: float, viscosity: float, density: float = 1.0,
                   forcing=None, scheme: str = "js", *, eps: float = 1e-6,
                   p: float = 2, time_stepper: str = "ssp_rk3",
                   monotone: bool = False, mp_alpha: float = 4.0,
                   mp_eps: float = 0.0):
    """One Navier--Stokes step with WENO5 convection.

    The jax-cfd reference step (explicit convection, forcing and diffusion,
    pressure projection by fast diagonalisation) with :func:`weno_convection`
    and, by default, :func:`ssp_rk3`.

    Args:
      grid: a periodic ``cfd.grids.Grid``.
      dt: the time step (> 0).
      viscosity: kinematic viscosity (>= 0).
      density: density (> 0).
      forcing: a jax-cfd ``ForcingFn`` or None.
      scheme: ``'js'`` or ``'z'``.
      eps: WENO parameter (see :mod:`neuralpde.numerics.weno`).
      p: WENO parameter (see :mod:`neuralpde.numerics.weno`).
      monotone: apply the optional monotonicity-preserving bound of the face
        values (see :func:`weno_convection`; off by default).
      mp_alpha: parameter of that bound (see :func:`weno_convection`).
      mp_eps: parameter of that bound (see :func:`weno_convection`).
      time_stepper: ``'ssp_rk3'`` (default) or ``'forward_euler'`` (unstable
        for WENO; kept for comparisons).

    Returns:
      ``step(v: GridVariableVector) -> GridVariableVector``.
    """
    check_scheme(scheme)
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    if not viscosity >= 0:
        raise ValueError(f"viscosity must be >= 0, got {viscosity!r}")
    if not density > 0:
        raise ValueError(f"density must be > 0, got {density!r}")
    if time_stepper == "ssp_rk3":
        stepper = ssp_rk3
    elif time_stepper == "forward_euler":
        stepper = cfd.time_stepping.forward_euler
    else:
        raise ValueError(f"unknown time_stepper {time_stepper!r}; accepted: "
                         + ", ".join(repr(s) for s in TIME_STEPPERS))
    return cfd.equations.semi_implicit_navier_stokes(
        density=density, viscosity=viscosity, dt=dt, grid=grid,
        convect=weno_convection(scheme, eps, p, monotone=monotone,
                                mp_alpha=mp_alpha, mp_eps=mp_eps),
        forcing=forcing,
        time_stepper=stepper)


__all__ = [
    "FACE_ROLES",
    "FaceInterpolator",
    "face_value_convection",
    "WENO_SCHEMES",
    "SSP_RK3_TABLEAU",
    "TIME_STEPPERS",
    "weno_interpolation",
    "advect_weno",
    "weno_convection",
    "ssp_rk3",
    "make_weno_step",
]
