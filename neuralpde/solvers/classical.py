"""The classical coarse solvers: jax-cfd's finite-volume step with a chosen flux, and its
pseudo-spectral solver.

* ``dns[-N]`` — van Leer (the reference scheme of the DNS), forward Euler;
* ``weno5-js[-N]``, ``weno5-z[-N]`` — WENO5 face values (Jiang & Shu 1996;
  Borges et al. 2008), SSP-RK3 with a projection per stage (forward Euler is
  unstable with WENO);
* ``spectral[-N]`` — pseudo-spectral vorticity solver, 2/3-rule dealiasing,
  Crank–Nicolson RK4 (:mod:`neuralpde.physics.spectral`; the baseline of
  Dresdner et al. 2022), any even N >= 8 up to the reference grid.

The suffix ``-N`` runs the scheme on an N² grid (for the finite-volume
schemes a multiple of the model grid) with the CFL time step of that grid;
without it the scheme runs on the model grid.  All implement the interface
of :mod:`neuralpde.solvers.base`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable

import jax

from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.physics import spectral as spectral_physics
from neuralpde.physics.convection import ssp_rk3, weno_convection
from neuralpde.physics.flows import FlowSpec
from neuralpde.solvers.base import SolverDefaults

SCHEMES = ("van_leer", "weno5-js", "weno5-z")
_NAME = re.compile(r"^(dns|weno5-js|weno5-z)(?:-(\d+))?$")
_SPECTRAL = re.compile(r"^spectral(?:-(\d+))?$")


@dataclasses.dataclass(frozen=True)
class FiniteVolumeSolver(SolverDefaults):
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


@dataclasses.dataclass(frozen=True)
class SpectralSolver(SolverDefaults):
    """jax-cfd's pseudo-spectral Navier–Stokes solver (CN-RK4, 2/3 dealiasing) on an N² grid.

    It starts from a stored staggered state on an M² grid (``input_size``),
    converted to the vorticity's Fourier modes ``|k| < N/2`` (the reference
    filtered to N), and reports its velocity as face averages on the model
    grid (``observed_size``) at the stored reference's positions
    (:mod:`neuralpde.physics.spectral`).

    Args:
      flow: the flow specification (viscosity, drag, Kolmogorov forcing, domain).
      size: N, an even number of cells per side >= 8.
      model_size: n, the store's model grid (the velocity's grid).
      input_size: M, the grid of the stored state ``init`` takes (default n).
      dt: time step (default: the model step divided into ``ceil(N/n)`` steps,
        the CFL step of N² or shorter).
      name: label used in tables (default ``spectral-N``).
    """

    flow: FlowSpec
    size: int
    model_size: int
    input_size: int = 0
    dt: float = 0.0
    name: str = ""

    def __post_init__(self):
        spectral_physics.check_spectral_size(self.size)
        if not self.input_size:
            object.__setattr__(self, "input_size", self.model_size)
        if not self.dt:
            model_dt = dns.model_time_step(self.flow, self.model_size)
            object.__setattr__(self, "dt", spectral_physics.spectral_time_step(
                self.size, self.model_size, model_dt))
        if not self.name:
            object.__setattr__(self, "name", f"spectral-{self.size}")

    kind = "spectral"

    @property
    def observed_size(self) -> int:
        return self.model_size

    @functools.cached_property
    def _step(self) -> Callable:
        return spectral_physics.spectral_step(self.flow, self.size, self.dt)

    def init(self, uv):
        return spectral_physics.staggered_to_spectral(uv, self.size, self.flow.domain_size)

    def step(self, state):
        return self._step(state)

    def velocity(self, state):
        return spectral_physics.spectral_to_staggered(state, self.model_size,
                                                      self.flow.domain_size)


jax.tree_util.register_dataclass(
    SpectralSolver, data_fields=[],
    meta_fields=["flow", "size", "model_size", "input_size", "dt", "name"])


def spectral_solver(name: str, flow: FlowSpec, model_size: int, stored_sizes=(),
                    fine_size: int = 0) -> SpectralSolver:
    """``spectral`` (N = the model grid) or ``spectral-N`` for a store.

    It starts from the finest stored initial state (``stored_sizes``: the
    model grid and the store's ``initial_sizes``) filtered to N.  Raises
    :class:`ConfigError` for an odd N, N < 8, or N above the reference grid
    ``fine_size``.
    """
    match = _SPECTRAL.match(name)
    if not match:
        raise ConfigError(f"unknown solver {name!r}: accepted spectral or spectral-N")
    size = int(match.group(1)) if match.group(1) else model_size
    spectral_physics.check_spectral_size(size)
    if fine_size and size > fine_size:
        raise ConfigError(f"invalid grid {size} in solver {name!r}: accepted an even N from 8 "
                          f"up to the store's reference grid {fine_size}")
    input_size = max([model_size, *stored_sizes])
    return SpectralSolver(flow=flow, size=size, model_size=model_size, input_size=input_size)


def classical_solver(name: str, flow: FlowSpec, model_size: int, stored_sizes=(),
                     fine_size: int = 0):
    """A classical solver from its name: ``dns``, ``dns-64``, ``weno5-js``, ``weno5-z-64``,
    ``spectral``, ``spectral-48``, ...

    ``stored_sizes``/``fine_size``: the grids of the store's stored initial
    states and its reference grid (for :func:`spectral_solver`).  Raises
    :class:`ConfigError` for an unknown name or a finite-volume grid that is
    not a multiple of the model grid.
    """
    if _SPECTRAL.match(name):
        return spectral_solver(name, flow, model_size, stored_sizes, fine_size)
    match = _NAME.match(name)
    if not match:
        raise ConfigError(f"unknown solver {name!r}: accepted dns[-N], weno5-js[-N], weno5-z[-N] "
                          "(N a multiple of the model grid), spectral[-N] (N even, >= 8), "
                          "run:<training run folder>, pretrained:<name|file.npz> or "
                          "file:<rollout .zarr|.nc>")
    scheme = {"dns": "van_leer"}.get(match.group(1), match.group(1))
    size = int(match.group(2)) if match.group(2) else model_size
    if size < model_size or size % model_size:
        raise ConfigError(f"invalid grid {size} in solver {name!r}: accepted a multiple of the "
                          f"model grid {model_size}")
    return FiniteVolumeSolver(flow=flow, size=size, scheme=scheme)


__all__ = ["SCHEMES", "FiniteVolumeSolver", "SpectralSolver", "classical_solver",
           "spectral_solver"]
