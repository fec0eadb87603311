"""Staggered coarse sub-solvers (NeuralStagger-style spatial and temporal decomposition).

Modules (one job each; see docs/stagger.md):

* :mod:`~neuralpde.stagger.decompose` — fine field <-> s² interleaved sub-fields
  (exact inverse, offsets), temporal split/merge by s_T, relative views;
* :mod:`~neuralpde.stagger.physics_loss` — Crank–Nicolson Navier–Stokes residual
  on the fine MAC grid with the DNS's operators, pressure removed by projection,
  plus the divergence term;
* :mod:`~neuralpde.stagger.config` — :class:`StaggerModelConfig`,
  :class:`StaggerTrainConfig`;
* :mod:`~neuralpde.stagger.model` — the sub-solver network (shared / separate /
  joint weights), all sub-solvers in one batched call;
* :mod:`~neuralpde.stagger.solver` — :class:`StaggeredSolver` (fine) and
  :class:`CoarseSubSolver` (one sub-solver alone) on the one solver interface;
* :mod:`~neuralpde.stagger.train` — physics-constrained training on a refreshed
  state pool, or supervised from a store; checkpoints, resume, metrics;
* :mod:`~neuralpde.stagger.evaluate` — errors over time, coarse-simulation scoring;
* :mod:`~neuralpde.stagger.cli` — ``neuralpde stagger-train | stagger-evaluate``.

Import the submodules directly (this package imports nothing heavy itself).
"""
