"""Flax NNX networks of the learned solvers, and their configs (no solver, no jax-cfd here).

* :mod:`~neuralpde.models.config` — one config per learned kind:
  :class:`LIConfig`, :class:`TSMHiPPOConfig`, :class:`TSMCNNConfig`,
  :class:`StaggerModelConfig` (staggered sub-solvers).
* :mod:`~neuralpde.models.tower` — periodic convolution towers, plain and
  decomposed (run on the s² interleaved sub-fields).
* :mod:`~neuralpde.models.stencils` — 4×4 stencils constrained to be exact for
  polynomials up to a chosen order, and their periodic evaluation.
* :mod:`~neuralpde.models.learned_interpolation` — the interpolation targets
  and :class:`LearnedInterpolation` (tower + constrained stencil heads).
* :mod:`~neuralpde.models.hippo` — HiPPO memories (LagT, LegT, LegS).
* :mod:`~neuralpde.models.temporal_stencil` — TSM encoders and the stencil
  network that reads them (with temporal bundling).
* :mod:`~neuralpde.models.subsolver_net` — the staggered sub-solver network.

The solvers that run these networks live in :mod:`neuralpde.solvers`.
"""
