"""Flax NNX models for learned solvers.

* :mod:`neuralpde.models.stencils` — 4×4 interpolation stencils whose
  coefficients are constrained to be exact for polynomials up to a chosen
  order (particular solution + nullspace basis × free parameters), and their
  periodic evaluation.
* :mod:`neuralpde.models.tower` — the periodic convolution tower
  (:class:`~neuralpde.models.tower.ConvTower`) that predicts the free
  parameters of every stencil in every cell.
* :mod:`neuralpde.models.learned_interpolation` — learned interpolation (LI):
  the tower plus constrained stencil heads
  (:class:`~neuralpde.models.learned_interpolation.LearnedInterpolation`), the
  jax-cfd convection that uses them
  (:func:`~neuralpde.models.learned_interpolation.learned_convection`) and the
  learned solver
  (:class:`~neuralpde.models.learned_interpolation.LearnedSolver`) that
  implements the interface of :mod:`neuralpde.solvers`.
"""
