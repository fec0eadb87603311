r"""The physics-constrained loss: discrete incompressible Navier–Stokes residual on the fine MAC grid.

For two consecutive fine frames :math:`\mathbf u^n, \mathbf u^{n+1}` (one
fine step :math:`\Delta t` apart) the Crank–Nicolson momentum residual is

.. math::

    \mathbf R = \frac{\mathbf u^{n+1} - \mathbf u^n}{\Delta t}
      - \tfrac12\big[\mathbf F(\mathbf u^{n+1}) + \mathbf F(\mathbf u^n)\big],
    \qquad
    \mathbf F(\mathbf u) = -\nabla\cdot(\mathbf u\mathbf u) + \nu\nabla^2\mathbf u + \mathbf f(\mathbf u),

with exactly the DNS's discrete operators (jax-cfd's
``navier_stokes_explicit_terms``: the same convection, the 5-point staggered
Laplacian, the flow's forcing :math:`A\sin(k_f y)\hat{\mathbf x} - \mu\mathbf u`).

Pressure is **removed by projection**: the Navier–Stokes equations hold with
some pressure iff :math:`\mathbf R = -\nabla p` for some :math:`p`, i.e. iff the
divergence-free part :math:`\mathcal P\mathbf R` vanishes, where
:math:`\mathcal P = I - G(DG)^{-1}D` is the discrete Leray projection of the
DNS (MAC divergence :math:`D`, its adjoint gradient :math:`G`, the Poisson
problem solved exactly by fast diagonalisation: ``cfd.pressure.projection``).
No pressure network is needed and no pressure boundary/gauge choice enters.
The projection cannot see the gradient part of :math:`\mathbf u^{n+1}`, so
incompressibility is imposed separately by the divergence term.

Loss of a predicted sequence :math:`\mathbf u^{n+1..n+s_T}` from :math:`\mathbf u^n`:

.. math::

    L = \frac{1}{s_T}\sum_{m=n}^{n+s_T-1}
        \Big[\overline{(\mathcal P\mathbf R^{m})^2}
        + \lambda\,\overline{\big(\tfrac{\delta x}{\Delta t}\,D\mathbf u^{m+1}\big)^2}\Big]

(overlines: means over components and cells).  The divergence is scaled by
:math:`\delta x/\Delta t` so that both terms have the units of
:math:`\mathbf R` (velocity per time): for :math:`\mathbf u^{m+1} =
\mathbf u^m + \Delta t\,\mathbf g` with a divergence-free :math:`\mathbf u^m`,
:math:`\tfrac{\delta x}{\Delta t}D\mathbf u^{m+1} = \delta x\,D\mathbf g`, which
is of the size of the divergent part of :math:`\mathbf g` at the grid scale;
:math:`\lambda = 1` weighs a divergent error about as much as a
divergence-free one.

Convection: ``'van_leer'`` (default) is the DNS's van Leer–limited flux
(``advect_van_leer_using_limiters`` with the same :math:`\Delta t`), so on a
DNS pair the only residual left is the Crank–Nicolson vs forward-Euler
difference, :math:`\mathcal P\mathbf R = \tfrac12\mathcal P[\mathbf F(\mathbf u^n)
- \mathbf F(\mathbf u^{n+1})] = O(\Delta t)`; a loss that is consistent with the
data generator to the order of the time discretisation.  ``'central'`` is
jax-cfd's second-order central flux (``advect_linear``): smooth in
:math:`\mathbf u` (better gradients), but a DNS pair then also leaves the
van Leer–central flux difference in :math:`\mathbf R`.

All functions are pure and jit-able; fields are ``(..., 2, N, N)`` float32
arrays in the layout of :mod:`neuralpde.physics.dns`.
"""

from __future__ import annotations

import math
from typing import Dict, Tuple

import jax
import jax.numpy as jnp

from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec
from neuralpde.physics.jaxcfd import cfd

Array = jax.Array

CONVECTIONS = ("van_leer", "central")


def check_convection(convection: str) -> str:
    if convection not in CONVECTIONS:
        raise ConfigError(f"invalid convection={convection!r}: accepted one of {list(CONVECTIONS)}")
    return convection


def _explicit_terms(flow: FlowSpec, size: int, dt: float, convection: str):
    grid = dns.make_grid(size, flow.domain_size)
    if check_convection(convection) == "central":
        def convect(v):
            return tuple(cfd.advection.advect_linear(u, v) for u in v)
    else:
        convect = None  # jax-cfd's default: the DNS's van Leer with limiters
    with jax.ensure_compile_time_eval():
        terms = cfd.equations.navier_stokes_explicit_terms(
            density=flow.density, viscosity=flow.viscosity, dt=dt, grid=grid,
            convect=convect, forcing=dns.forcing_function(flow, grid))
    return terms, grid


def tendency(uv: Array, flow: FlowSpec, dt: float, convection: str = "van_leer") -> Array:
    r"""The explicit Navier–Stokes tendency of one field ``(2, N, N)``.

    :math:`\mathbf F(\mathbf u) = -\nabla\cdot(\mathbf u\mathbf u) + \nu\nabla^2\mathbf u
    + \mathbf f(\mathbf u)` with the DNS's discrete operators.
    """
    terms, grid = _explicit_terms(flow, uv.shape[-1], dt, convection)
    return dns.unwrap_velocity(terms(dns.wrap_velocity(uv, grid)))


def project(field: Array, domain_size: float = 2 * math.pi) -> Array:
    r"""Discrete Leray projection :math:`\mathcal P` of a MAC vector field ``(2, N, N)``.

    The DNS's pressure projection (fast diagonalisation).
    """
    grid = dns.make_grid(field.shape[-1], domain_size)
    projected = cfd.pressure.projection(dns.wrap_velocity(field, grid), cfd.pressure.solve_fast_diag)
    return dns.unwrap_velocity(projected)


def static_forcing(flow: FlowSpec, size: int) -> Array:
    r"""The state-independent forcing :math:`\mathbf f(\mathbf 0)` on the MAC grid (zeros if none)."""
    grid = dns.make_grid(size, flow.domain_size)
    forcing = dns.forcing_function(flow, grid)
    zero = jnp.zeros((2, size, size), jnp.float32)
    if forcing is None:
        return zero
    with jax.ensure_compile_time_eval():
        return dns.unwrap_velocity(forcing(dns.wrap_velocity(zero, grid))).astype(jnp.float32)


def cn_residual(uv0: Array, uv1: Array, flow: FlowSpec, dt: float,
                convection: str = "van_leer") -> Array:
    r"""Unprojected Crank–Nicolson residual :math:`\mathbf R` of one step ``uv0 -> uv1``."""
    f0 = tendency(uv0, flow, dt, convection)
    f1 = tendency(uv1, flow, dt, convection)
    return (uv1 - uv0) / dt - 0.5 * (f0 + f1)


def projected_residual(uv0: Array, uv1: Array, flow: FlowSpec, dt: float,
                       convection: str = "van_leer") -> Array:
    r""":math:`\mathcal P\mathbf R`: the residual with the pressure gradient removed."""
    return project(cn_residual(uv0, uv1, flow, dt, convection), flow.domain_size)


def scaled_divergence(uv: Array, dt: float, domain_size: float = 2 * math.pi) -> Array:
    r""":math:`\tfrac{\delta x}{\Delta t} D\mathbf u` at cell centres (units of the residual)."""
    dx = domain_size / uv.shape[-1]
    return dns.divergence(uv, domain_size) * (dx / dt)


def sequence_loss(uv0: Array, frames: Array, flow: FlowSpec, dt: float,
                  convection: str = "van_leer",
                  div_weight: float = 1.0) -> Tuple[Array, Dict[str, Array]]:
    r"""Physics loss :math:`L` of predicted ``frames`` ``(s_T, 2, N, N)`` after ``uv0`` ``(2, N, N)``.

    Returns ``(L, {'residual': mean (PR)^2, 'divergence': mean (dx/dt Du)^2})``,
    both averaged over the ``s_T`` fine steps.
    """
    frames_all = jnp.concatenate([uv0[None], frames], axis=0)         # u^n .. u^{n+s_T}
    # F of every frame in one traced call (u^n included: its F enters the first residual)
    f = jax.vmap(lambda u: tendency(u, flow, dt, convection))(frames_all)
    r = (frames_all[1:] - frames_all[:-1]) / dt - 0.5 * (f[1:] + f[:-1])
    residual = jax.vmap(lambda x: project(x, flow.domain_size))(r)
    res = jnp.mean(residual ** 2)
    div = jnp.mean(jax.vmap(lambda u: scaled_divergence(u, dt, flow.domain_size))(frames) ** 2)
    return res + div_weight * div, {"residual": res, "divergence": div}


def trajectory_residual(frames: Array, flow: FlowSpec, dt: float,
                        convection: str = "van_leer") -> Array:
    """Mean squared projected residual of every consecutive pair of ``frames`` ``(T, 2, N, N)``.

    Returns ``(T-1,)``.
    """
    pairs = jax.vmap(lambda a, b: jnp.mean(projected_residual(a, b, flow, dt, convection) ** 2))
    return pairs(frames[:-1], frames[1:])


__all__ = ["CONVECTIONS", "check_convection", "tendency", "project", "static_forcing",
           "cn_residual", "projected_residual", "scaled_divergence", "sequence_loss",
           "trajectory_residual"]
