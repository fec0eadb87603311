"""The classical coarse solvers: jax-cfd's explicit finite-volume step with a chosen flux.

* ``dns[-N]`` — van Leer (the reference scheme of the DNS), forward Euler;
* ``weno5-js[-N]``, ``weno5-z[-N]`` — WENO5 face values (Jiang & Shu 1996;
  Borges et al. 2008), SSP-RK3 with a projection per stage (forward Euler is
  unstable with WENO).

The suffix ``-N`` runs the scheme on an N² grid (a multiple of the model grid)
with the CFL time step of that grid; without it the scheme runs on the model
grid.  Both implement the interface of :mod:`neuralpde.solvers.base`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Callable

import jax

from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.physics.convection import ssp_rk3, weno_convection
from neuralpde.physics.flows import FlowSpec

SCHEMES = ("van_leer", "weno5-js", "weno5-z")
_NAME = re.compile(r"^(dns|weno5-js|weno5-z)(?:-(\d+))?$")


@dataclasses.dataclass(frozen=True)
class FiniteVolumeSolver:
    """jax-cfd's explicit finite-volume Navier–Stokes step with a chosen convective scheme.

    Args:
      flow: the flow specification.
      size: grid cells per side.
      dt: time step (default: the CFL step of this grid, ``courant·dx/max_velocity``).
      scheme: ``'van_leer'`` (forward Euler), ``'weno5-js'`` or ``'weno5-z'``
        (SSP-RK3, one pressure projection per stage).
      name: label used in tables (default: ``dns-N`` / ``weno5-js-N``).
    """

    flow: FlowSpec
    size: int
    dt: float = 0.0
    scheme: str = "van_leer"
    name: str = ""

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ConfigError(f"unknown scheme {self.scheme!r}: accepted {list(SCHEMES)}")
        if not self.dt:
            object.__setattr__(self, "dt", dns.model_time_step(self.flow, self.size))
        if not self.name:
            prefix = "dns" if self.scheme == "van_leer" else self.scheme
            object.__setattr__(self, "name", f"{prefix}-{self.size}")

    @property
    def kind(self) -> str:
        return "dns" if self.scheme == "van_leer" else "weno"

    @functools.cached_property
    def _step(self) -> Callable:
        if self.scheme == "van_leer":
            return dns.finite_volume_step(self.flow, self.size, self.dt)
        return dns.finite_volume_step(
            self.flow, self.size, self.dt,
            convect=weno_convection(self.scheme.split("-")[1]), time_stepper=ssp_rk3)

    def init(self, uv):
        return uv

    def step(self, state):
        return self._step(state)

    def velocity(self, state):
        return state


jax.tree_util.register_dataclass(
    FiniteVolumeSolver, data_fields=[], meta_fields=["flow", "size", "dt", "scheme", "name"])


def classical_solver(name: str, flow: FlowSpec, model_size: int) -> FiniteVolumeSolver:
    """A classical solver from its name: ``dns``, ``dns-64``, ``weno5-js``, ``weno5-z-64``, ...

    Raises :class:`ConfigError` for an unknown name or a grid that is not a
    multiple of the model grid.
    """
    match = _NAME.match(name)
    if not match:
        raise ConfigError(f"unknown solver {name!r}: accepted dns[-N], weno5-js[-N], weno5-z[-N] "
                          "(N a multiple of the model grid), or run:<training run folder>")
    scheme = {"dns": "van_leer"}.get(match.group(1), match.group(1))
    size = int(match.group(2)) if match.group(2) else model_size
    if size < model_size or size % model_size:
        raise ConfigError(f"invalid grid {size} in solver {name!r}: accepted a multiple of the "
                          f"model grid {model_size}")
    return FiniteVolumeSolver(flow=flow, size=size, scheme=scheme)


__all__ = ["SCHEMES", "FiniteVolumeSolver", "classical_solver"]
