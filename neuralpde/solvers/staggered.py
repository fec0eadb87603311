r"""The staggered sub-solvers (NeuralStagger-style, Huang et al., ICML 2023) as solvers.

* :class:`StaggeredSolver` — the fine simulation on N²: one step is one
  batched call of all s²·s_T sub-solvers and advances ``s_T`` fine steps
  (``solver.dt = s_T · fine_dt``); the state is the fine velocity ``(2, N, N)``.
* :class:`CoarseSubSolver` — one sub-solver alone, a simulation on
  (N/s)²: the state is sub-field ``(a, b)`` of the fine field (its points sit
  at the coarse offsets of
  :func:`~neuralpde.physics.decompose.velocity_subfield_offsets`, not on the
  coarse MAC grid).  With ``view='own'`` this is exactly the computation the
  sub-solver does inside the fine simulation; with ``view='all'`` the
  neighbouring sub-fields it has not got are rebuilt from its own by
  band-limited (Fourier) interpolation
  (:func:`~neuralpde.physics.decompose.interpolated_view`), so it runs on
  information the fine run does not lose.  One step: sub-solver
  ``(a, b, s_T - 1)`` only (the frame ``s_T`` fine steps ahead).  A set
  trained with ``project=True`` (its fine frames pressure-projected) is run
  alone the same way: the new sub-field is Fourier-interpolated to the whole
  fine grid, projected there, and its own points taken back (one N² FFT
  solve per step), so the lone sub-solver sees the divergence-free fields it
  was trained to produce.  Its ``reference_view`` is sub-field
  ``(a, b)`` of a model-grid field, so scoring starts it from that sub-field of
  the reference initial state and compares it with the same sub-field of every
  reference frame (point samples at exactly its points), on (N/s)².

Both are pytrees whose only data leaves are the network parameters (as
:class:`~neuralpde.solvers.learned.LearnedSolver`), so
:func:`neuralpde.solvers.rollout.rollout` and ``measure_latency`` run them
unchanged and one compilation serves every parameter value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.config import StaggerModelConfig
from neuralpde.models.subsolver_net import SubSolverNet, predict_frames
from neuralpde.physics import decompose, dns
from neuralpde.physics.flows import FlowSpec
from neuralpde.physics.operators import project, static_forcing
from neuralpde.solvers.base import SolverDefaults


def build_stagger_model(config: StaggerModelConfig, seed: int = 0) -> SubSolverNet:
    """A :class:`SubSolverNet` with initial weights from ``seed``."""
    return SubSolverNet(config, rngs=nnx.Rngs(seed))


def build_stagger_solver(config: StaggerModelConfig, seed: int, flow: FlowSpec, size: int,
                         fine_dt: float = 0.0, name: str = "") -> StaggeredSolver:
    """The :class:`StaggeredSolver` of ``config`` on an ``size``² fine grid, weights from
    ``seed``."""
    return StaggeredSolver.from_model(flow, size, build_stagger_model(config, seed),
                                      fine_dt=fine_dt, name=name)


def _check_and_default(solver, fine_size: int, label: str) -> None:
    """The checks and defaults both staggered solvers share (factor, fine step, name)."""
    decompose.check_factor(fine_size, solver.config.s)
    if not solver.fine_dt:
        object.__setattr__(solver, "fine_dt", dns.model_time_step(solver.flow, fine_size))
    if not solver.fine_dt > 0:
        raise ConfigError(f"invalid fine_dt={solver.fine_dt!r}: accepted a number > 0")
    if not solver.name:
        object.__setattr__(solver, "name", f"stagger-s{solver.config.s}t{solver.config.s_time}-"
                                           f"{label}")


class _SubSolverTimes(SolverDefaults):
    """What both staggered solvers share: a learned kind, one call = ``s_T`` fine steps."""

    @property
    def kind(self) -> str:
        return "learned"

    @property
    def dt(self) -> float:
        """One solver step: ``s_T`` fine steps."""
        return self.config.s_time * self.fine_dt


@dataclasses.dataclass(frozen=True, eq=False)
class StaggeredSolver(_SubSolverTimes):
    """All sub-solvers: the fine simulation (the :mod:`neuralpde.solvers` interface).

    Args:
      flow: the flow specification.
      size: fine grid N (a multiple of ``config.s``).
      config: the model config.
      graphdef: the graph definition of ``nnx.split`` of a :class:`SubSolverNet` of ``config``.
      params: the parameters of that ``nnx.split``.
      fine_dt: the fine time step (default: the CFL step of the N² grid).
      name: label (default ``stagger-s{s}t{s_T}-N``).
    """

    flow: FlowSpec
    size: int
    config: StaggerModelConfig
    graphdef: Any
    params: Any
    fine_dt: float = 0.0
    name: str = ""

    def __post_init__(self):
        _check_and_default(self, self.size, str(self.size))

    @classmethod
    def from_model(cls, flow: FlowSpec, size: int, model: SubSolverNet,
                   **kwargs) -> StaggeredSolver:
        graphdef, params = nnx.split(model)
        return cls(flow=flow, size=size, config=model.config, graphdef=graphdef, params=params,
                   **kwargs)

    def model(self) -> SubSolverNet:
        return nnx.merge(self.graphdef, self.params)

    def with_params(self, params) -> StaggeredSolver:
        return dataclasses.replace(self, params=params)

    def forcing(self) -> jax.Array:
        return static_forcing(self.flow, self.size)

    def frames(self, uv: jax.Array) -> jax.Array:
        """The ``s_T`` fine frames after ``uv``: ``(s_T, 2, N, N)`` (one batched call)."""
        project_fn = ((lambda f: project(f, self.flow.domain_size)) if self.config.project
                      else None)
        return predict_frames(self.model(), uv, self.forcing(), self.fine_dt, project_fn)

    def init(self, uv: jax.Array) -> jax.Array:
        return uv

    def step(self, state: jax.Array) -> jax.Array:
        return self.frames(state)[-1]

    def velocity(self, state: jax.Array) -> jax.Array:
        return state

    def coarse(self, a: int | None = None, b: int | None = None) -> CoarseSubSolver:
        """The one-sub-solver coarse simulation of sub-field ``(a, b)`` (default ``(s-1, s-1)``)."""
        s = self.config.s
        a = s - 1 if a is None else a
        b = s - 1 if b is None else b
        return CoarseSubSolver(flow=self.flow, fine_size=self.size, config=self.config,
                               graphdef=self.graphdef, params=self.params, a=a, b=b,
                               fine_dt=self.fine_dt,
                               name=f"{self.name}-sub{a}{b}-{self.size // s}")


jax.tree_util.register_dataclass(
    StaggeredSolver, data_fields=["params"],
    meta_fields=["flow", "size", "config", "graphdef", "fine_dt", "name"])


@dataclasses.dataclass(frozen=True, eq=False)
class CoarseSubSolver(_SubSolverTimes):
    """Sub-solver ``(a, b)`` alone: a simulation of sub-field ``(a, b)`` on (N/s)².

    ``size`` is N/s; ``init(sub)`` takes the sub-field ``(2, N/s, N/s)``
    (e.g. ``decompose.subfield(uv_fine, s, a, b)``); ``dt = s_T · fine_dt``.
    """

    flow: FlowSpec
    fine_size: int
    config: StaggerModelConfig
    graphdef: Any
    params: Any
    a: int
    b: int
    fine_dt: float = 0.0
    name: str = ""

    def __post_init__(self):
        for label, value in (("a", self.a), ("b", self.b)):
            if (isinstance(value, bool) or not isinstance(value, int)
                    or not 0 <= value < self.config.s):
                raise ConfigError(f"invalid sub-field index {label}={value!r}: accepted "
                                  f"0..{self.config.s - 1}")
        _check_and_default(self, self.fine_size,
                           f"sub{self.a}{self.b}-{self.fine_size // self.config.s}")

    @property
    def size(self) -> int:
        return self.fine_size // self.config.s

    def with_params(self, params) -> CoarseSubSolver:
        return dataclasses.replace(self, params=params)

    @property
    def view_name(self) -> str:
        return f"sub-field ({self.a}, {self.b}) of the model grid"

    def reference_view(self, uv: jax.Array) -> jax.Array:
        """Sub-field ``(a, b)`` of model-grid fields ``(..., 2, N, N)`` ->
        ``(..., 2, N/s, N/s)``."""
        return decompose.subfield(uv, self.config.s, self.a, self.b)

    def _forcing_view(self):
        c = self.config
        if not c.forcing_input:
            return None
        forcing = static_forcing(self.flow, self.fine_size)
        if c.weights == "joint":
            return decompose.split_space(forcing, c.s)
        view = decompose.relative_view(forcing, c.s, self.a, self.b)
        return view if c.view == "all" else view[:1]

    def _view(self, own):
        c = self.config
        if c.view == "own":
            return own[None]
        return decompose.interpolated_view(own, c.s, self.a, self.b,
                                           relative=c.weights != "joint")

    def init(self, uv: jax.Array) -> jax.Array:
        return uv

    def step(self, state: jax.Array) -> jax.Array:
        c = self.config
        model = nnx.merge(self.graphdef, self.params)
        g = model.subtask_tendency(self._view(state), self._forcing_view(), self.a, self.b,
                                   c.s_time - 1)
        new = state + self.dt * g
        if c.project:  # as in the fine set: project, here a band-limited fine reconstruction
            stack = decompose.interpolated_view(new, c.s, self.a, self.b, relative=False)
            fine = project(decompose.merge_space(stack, c.s), self.flow.domain_size)
            new = decompose.subfield(fine, c.s, self.a, self.b)
        return new

    def velocity(self, state: jax.Array) -> jax.Array:
        return state


jax.tree_util.register_dataclass(
    CoarseSubSolver, data_fields=["params"],
    meta_fields=["flow", "fine_size", "config", "graphdef", "a", "b", "fine_dt", "name"])


__all__ = ["build_stagger_model", "build_stagger_solver", "StaggeredSolver", "CoarseSubSolver"]
