r"""Flow specifications: the PDE, its parameters and its initial conditions.

Both flows solve the 2-D incompressible Navier–Stokes equations on the
periodic square :math:`[0, L]^2`

.. math::

    \partial_t \mathbf u + (\mathbf u\cdot\nabla)\mathbf u
        = -\tfrac{1}{\rho}\nabla p + \nu \nabla^2 \mathbf u + \mathbf f,
    \qquad \nabla\cdot\mathbf u = 0 .

* :class:`KolmogorovFlow` — forced turbulence,
  :math:`\mathbf f = A\sin(k_f y)\,\hat{\mathbf x} - \mu\,\mathbf u`
  (published: :math:`A=1, k_f=4, \mu=0.1, \nu=10^{-3}, L=2\pi`, Re ≈ 1000).
* :class:`DecayingTurbulence` — the same equations with :math:`\mathbf f = 0`.

Initial conditions are random divergence-free fields whose spectrum peaks at
``peak_wavenumber``, scaled to ``max_velocity``.  The model time step is
jax-cfd's CFL estimate ``courant * dx / max_velocity`` (explicit diffusion
limit included), i.e. 0.0070125 on a 64² grid with the defaults.

Viscosity (Reynolds number), domain size and forcing wavenumber are the
out-of-distribution knobs users vary to test generalisation.
"""

from __future__ import annotations

import dataclasses
import math

from neuralpde.config import ConfigError, fields_from_dict, require, require_positive


@dataclasses.dataclass(frozen=True)
class KolmogorovFlow:
    """Forced 2-D turbulence with Kolmogorov forcing and linear drag.

    Args:
      viscosity: kinematic viscosity ν (> 0). Re ≈ 1/ν for the defaults.
      density: ρ (> 0).
      domain_size: side L of the periodic square [0, L]² (> 0).
      forcing_wavenumber: k_f in f_x = A sin(k_f y); an integer ≥ 1 multiple of
        2π/L is needed for periodicity, so ``forcing_wavenumber * L / (2π)``
        must be an integer.
      forcing_amplitude: A.
      linear_drag: μ ≥ 0 in −μ u.
      max_velocity: maximum speed of the initial condition, also the velocity
        scale of the CFL time step; at least ``courant × laminar_speed`` (the
        forcing drives the flow towards :attr:`laminar_speed`).
      peak_wavenumber: spectral peak of the random initial condition.
      courant: CFL number of the time step, in (0, 1].
    """

    viscosity: float = 1e-3
    density: float = 1.0
    domain_size: float = 2 * math.pi
    forcing_wavenumber: int = 4
    forcing_amplitude: float = 1.0
    linear_drag: float = 0.1
    max_velocity: float = 7.0
    peak_wavenumber: float = 4.0
    courant: float = 0.5

    def __post_init__(self):
        _validate_common(self)
        require(isinstance(self.forcing_wavenumber, int) and self.forcing_wavenumber >= 1,
                "forcing_wavenumber", self.forcing_wavenumber, "an integer >= 1")
        periods = self.forcing_wavenumber * self.domain_size / (2 * math.pi)
        require(abs(periods - round(periods)) < 1e-6, "forcing_wavenumber", self.forcing_wavenumber,
                f"k_f with k_f*L/(2*pi) an integer (L={self.domain_size:g} gives {periods:g} "
                "periods)")
        require(math.isfinite(self.forcing_amplitude), "forcing_amplitude",
                self.forcing_amplitude, "a finite number")
        require(math.isfinite(self.linear_drag) and self.linear_drag >= 0, "linear_drag",
                self.linear_drag, "a finite number >= 0")
        laminar = self.laminar_speed
        require(self.courant * laminar <= self.max_velocity * (1 + 1e-9), "max_velocity",
                self.max_velocity,
                f"at least courant × A/(ν k_f² + μ) = {self.courant * laminar:.3g}: the forcing "
                f"drives the flow towards the laminar Kolmogorov speed A/(ν k_f² + μ) = "
                f"{laminar:.3g}, and the time step (Courant number {self.courant:g} at "
                "max_velocity) must keep that speed's Courant number <= 1")

    @property
    def laminar_speed(self) -> float:
        r"""The laminar Kolmogorov amplitude :math:`|A|/(\nu k_f^2 + \mu)`, the forced flow's speed
        scale.

        The steady solution :math:`u = A\sin(k_f y)/(\nu k_f^2 + \mu)` of the
        forced, damped equations; 8.62 for the published flow.  Time steps are
        refused whose Courant number at this speed exceeds 1.
        """
        return abs(self.forcing_amplitude) / (self.viscosity * self.forcing_wavenumber ** 2
                                               + self.linear_drag)

    @property
    def reynolds_number(self) -> float:
        """Re = U L_f / ν with U = 1, L_f = 1 (the published convention: Re = 1/ν)."""
        return 1.0 / self.viscosity


@dataclasses.dataclass(frozen=True)
class DecayingTurbulence:
    """Freely decaying 2-D turbulence: Navier–Stokes with no forcing.

    Args: as :class:`KolmogorovFlow`, without the forcing parameters.
    """

    viscosity: float = 1e-3
    density: float = 1.0
    domain_size: float = 2 * math.pi
    max_velocity: float = 7.0
    peak_wavenumber: float = 4.0
    courant: float = 0.5

    def __post_init__(self):
        _validate_common(self)

    @property
    def reynolds_number(self) -> float:
        return 1.0 / self.viscosity


FlowSpec = KolmogorovFlow | DecayingTurbulence
FLOW_KINDS = {"kolmogorov": KolmogorovFlow, "decaying": DecayingTurbulence}


def _validate_common(flow) -> None:
    require_positive("viscosity", flow.viscosity)
    require_positive("density", flow.density)
    require_positive("domain_size", flow.domain_size)
    require_positive("max_velocity", flow.max_velocity)
    require_positive("peak_wavenumber", flow.peak_wavenumber)
    require(isinstance(flow.courant, (int, float)) and 0 < flow.courant <= 1,
            "courant", flow.courant, "a number in (0, 1]")


def flow_name(flow: FlowSpec) -> str:
    return {v: k for k, v in FLOW_KINDS.items()}[type(flow)]


def make_flow(kind: str = "kolmogorov", **overrides) -> FlowSpec:
    """Build a flow spec by name (``'kolmogorov'`` or ``'decaying'``) with overrides."""
    if kind not in FLOW_KINDS:
        raise ConfigError(f"unknown flow {kind!r}: accepted {sorted(FLOW_KINDS)}")
    return FLOW_KINDS[kind](**fields_from_dict(FLOW_KINDS[kind], overrides))


def flow_from_dict(data: dict) -> FlowSpec:
    """Inverse of ``config.to_dict`` for flows."""
    by_class = {cls.__name__: cls for cls in FLOW_KINDS.values()}
    kind = data.get("kind")
    if kind not in by_class:
        raise ConfigError(f"unknown flow kind {kind!r}: accepted {sorted(by_class)}")
    cls = by_class[kind]
    return cls(**fields_from_dict(cls, data))
