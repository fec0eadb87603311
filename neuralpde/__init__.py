"""neuralpde: neural PDE solvers for 2-D incompressible Navier–Stokes turbulence, on JAX.

Subpackages: ``physics`` (flows, jax-cfd adapter, DNS), ``numerics`` (WENO,
van Leer), ``evaluation`` (metrics, rollouts, tables); modules ``store``
(trajectory store), ``presets``, ``generate``, ``solvers``, ``cli``.
"""

__version__ = "0.1.0"
