r"""The Navier–Stokes operators of the DNS, as pure functions of a MAC field.

Fields are ``(2, N, N)`` float32 arrays in the layout of
:mod:`neuralpde.physics.dns` (u on the x-faces, v on the y-faces of a periodic
``[0, L]²`` grid).  Each operator is exactly the discrete one inside the
reference step (jax-cfd's ``equations.semi_implicit_navier_stokes``,
Kochkov et al., PNAS 2021), so a loss or a diagnostic built from them speaks
the data's own discretisation:

* :func:`tendency` — the explicit terms
  :math:`\mathbf F(\mathbf u) = -\nabla\cdot(\mathbf u\mathbf u) + \nu\nabla^2\mathbf u
  + \mathbf f(\mathbf u)` (jax-cfd's ``navier_stokes_explicit_terms``: the
  convection, the 5-point staggered Laplacian, the flow's forcing
  :math:`A\sin(k_f y)\hat{\mathbf x} - \mu\mathbf u`);
* :func:`project` — the discrete Leray projection
  :math:`\mathcal P = I - G(DG)^{-1}D` (MAC divergence :math:`D`, its adjoint
  gradient :math:`G`, the Poisson problem solved exactly by fast
  diagonalisation: ``cfd.pressure.projection``);
* :func:`static_forcing` — the state-independent forcing :math:`\mathbf f(\mathbf 0)`.

Convection (:data:`CONVECTIONS`): ``'van_leer'`` is the DNS's van Leer–limited
flux (jax-cfd's ``advect_van_leer_using_limiters``; it depends on ``dt``
through the limiter), ``'central'`` jax-cfd's second-order central flux
(``advect_linear``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec
from neuralpde.physics.jaxcfd import cfd

Array = jax.Array

#: Convective fluxes :func:`tendency` accepts.
CONVECTIONS = ("van_leer", "central")


#: Time schemes a residual of the DNS's operators can use: the DNS's own forward Euler,
#: or Crank–Nicolson (:mod:`neuralpde.training.losses`).
TIME_SCHEMES = ("forward_euler", "crank_nicolson")


def check_time_scheme(time_scheme: str) -> str:
    """``time_scheme`` if it is one of :data:`TIME_SCHEMES`, else :class:`ConfigError`."""
    if time_scheme not in TIME_SCHEMES:
        raise ConfigError(f"invalid time_scheme={time_scheme!r}: accepted one of "
                          f"{list(TIME_SCHEMES)}")
    return time_scheme


def check_convection(convection: str) -> str:
    """``convection`` if it is one of :data:`CONVECTIONS`, else :class:`ConfigError`."""
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
    r"""The explicit Navier–Stokes tendency :math:`\mathbf F(\mathbf u)` of one field ``(2, N, N)``.

    ``dt`` enters only through the van Leer limiter.  Returns ``(2, N, N)``
    (an acceleration, velocity per time unit).
    """
    terms, grid = _explicit_terms(flow, uv.shape[-1], dt, convection)
    return dns.unwrap_velocity(terms(dns.wrap_velocity(uv, grid)))


def project(field: Array, domain_size: float = 2 * math.pi) -> Array:
    r"""Discrete Leray projection :math:`\mathcal P` of a MAC vector field ``(2, N, N)``.

    The DNS's pressure projection (fast diagonalisation); the result is
    divergence-free to round-off.
    """
    grid = dns.make_grid(field.shape[-1], domain_size)
    projected = cfd.pressure.projection(dns.wrap_velocity(field, grid),
                                        cfd.pressure.solve_fast_diag)
    return dns.unwrap_velocity(projected)


def static_forcing(flow: FlowSpec, size: int) -> Array:
    r"""The state-independent forcing :math:`\mathbf f(\mathbf 0)` on the MAC grid, ``(2, N, N)``.

    Zeros for a flow without forcing (decaying turbulence).
    """
    grid = dns.make_grid(size, flow.domain_size)
    forcing = dns.forcing_function(flow, grid)
    zero = jnp.zeros((2, size, size), jnp.float32)
    if forcing is None:
        return zero
    with jax.ensure_compile_time_eval():
        return dns.unwrap_velocity(forcing(dns.wrap_velocity(zero, grid))).astype(jnp.float32)


__all__ = ["CONVECTIONS", "check_convection", "TIME_SCHEMES", "check_time_scheme", "tendency",
           "project", "static_forcing"]
