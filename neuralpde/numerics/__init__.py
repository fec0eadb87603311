"""Classical face-value schemes for finite-volume advection.

- :mod:`neuralpde.numerics.weno` -- fifth-order WENO reconstruction
  (WENO5-JS of Jiang & Shu 1996, WENO5-Z of Borges et al. 2008), with an
  optional monotonicity-preserving bound (``monotone=True``, Suresh & Huynh
  1997).
- :mod:`neuralpde.numerics.van_leer` -- second-order MUSCL reconstruction with
  the van Leer limiter (TVD), the comparison scheme.
- :mod:`neuralpde.numerics.advection_1d` -- a small 1-D periodic advection
  demo that compares the schemes (errors, overshoots, a figure).
- :mod:`neuralpde.numerics.time_stepping` -- the package's one time loop:
  a step repeated, a trajectory of observed frames, a scan of a step with
  outputs (generation, rollouts, the training loss, the staggered pool).

All functions are pure ``jax.numpy``, vectorised with periodic rolls,
jit-compatible and differentiable.  They work on raw arrays; the coupling to
jax-cfd's staggered grid lives in :mod:`neuralpde.physics.convection`.
"""

from neuralpde.numerics.van_leer import (
    van_leer_face_values,
    van_leer_left,
    van_leer_right,
)
from neuralpde.numerics.weno import (
    WENO_SCHEMES,
    mp_alpha_for_courant,
    weno5_face_values,
    weno5_left,
    weno5_right,
    weno5_upwind,
)

__all__ = [
    "WENO_SCHEMES",
    "mp_alpha_for_courant",
    "weno5_face_values",
    "weno5_left",
    "weno5_right",
    "weno5_upwind",
    "van_leer_face_values",
    "van_leer_left",
    "van_leer_right",
]
