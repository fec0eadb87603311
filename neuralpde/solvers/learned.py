r"""The learned solvers: learned interpolation (LI) and temporal stencil modeling (TSM).

Both are the reference finite-volume step (:func:`neuralpde.physics.dns.finite_volume_step`:
forward Euler, explicit diffusion and forcing, pressure projection) in which
the convective face values come from learned, constrained 4×4 stencils
(:mod:`neuralpde.models.learned_interpolation`) applied by
:func:`neuralpde.physics.convection.face_value_convection` (van Leer TVD
limiter on the advected quantity, as published):

* :class:`LearnedSolver` — LI (Kochkov et al., PNAS 2021): the stencil
  network reads the current velocity; state = the velocity ``(2, N, N)``.
* :class:`TSMSolver` — TSM (Sun, Yang & Yoo, ICML 2023): the network reads a
  temporal memory of the history (:mod:`neuralpde.models.temporal_stencil`);
  one step is one temporal bundle of B model steps; state =
  :class:`TSMState` (velocity and memory).

:func:`build_li_solver` makes LI from an
:class:`~neuralpde.models.config.LIConfig` and :func:`build_tsm_solver` TSM
from a :class:`~neuralpde.models.config.TSMHiPPOConfig` or
:class:`~neuralpde.models.config.TSMCNNConfig` (the table of learned kinds,
:mod:`neuralpde.training.kinds`, names which builds which kind).

Parameters and purity
---------------------
NNX modules are mutable Python objects; a solver step must be a pure
function.  A learned solver holds the model split by ``nnx.split(model)``
into a static ``graphdef`` and a ``params`` pytree (an ``nnx.State``) and
rebuilds the module with ``nnx.merge`` inside every step.  The parameters
live in the *solver*, not in the solver state (so rollouts vmap over samples
without copying the weights); ``with_params`` returns the same solver with
other parameters, which is what a training loss calls with the parameters it
differentiates.  The solvers are pytrees whose only leaves are the
parameters, so they can be passed through ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.config import LIConfig, StencilConfig, TSMConfig, TSMHiPPOConfig
from neuralpde.models.learned_interpolation import LearnedInterpolation, stencil_face_values
from neuralpde.models.stencils import STENCIL_WIDTH
from neuralpde.models.temporal_stencil import (
    HiPPOEncoder,
    TemporalStencilModel,
    feature_rms,
    make_encoder,
)
from neuralpde.physics import dns
from neuralpde.physics.convection import face_value_convection
from neuralpde.physics.flows import FlowSpec
from neuralpde.solvers.base import SolverDefaults


def learned_convection(
    model_coefficients: Mapping[str, jax.Array] | Callable[[jax.Array], Mapping[str, jax.Array]],
    limiter: bool = True,
):
    """A jax-cfd ``ConvectFn`` ``-div(u ⊗ c)`` whose face values are learned stencils.

    Args:
      model_coefficients: either the per-target coefficients ``{name: (N, N,
        16)}`` (fixed for this call), or a function ``uv (2, N, N) ->
        coefficients`` (e.g. a
        :class:`~neuralpde.models.learned_interpolation.LearnedInterpolation`), evaluated
        on the velocity the ConvectFn receives.
      limiter: van Leer TVD limiter on the advected quantity (published: on).

    See :func:`neuralpde.physics.convection.face_value_convection`.
    """

    def make_interpolator(uv):
        weights = model_coefficients(uv) if callable(model_coefficients) else model_coefficients
        return lambda role, values, source, target: stencil_face_values(
            weights, role, values, source, target)

    return face_value_convection(make_interpolator, limiter=limiter)


@dataclasses.dataclass(frozen=True, eq=False)
class LearnedSolver(SolverDefaults):
    """The finite-volume step with learned convection (the :mod:`neuralpde.solvers` interface).

    Build with :meth:`from_model`.  The state is the velocity ``(2, N, N)``;
    ``step(uv) = dns.finite_volume_step(flow, size, dt, convect=
    learned_convection(model))(uv)`` with ``model = nnx.merge(graphdef,
    params)`` evaluated on the current velocity.

    Args:
      flow: the flow specification.
      size: cells per side (>= 4, the stencil width).
      graphdef: the graph definition of ``nnx.split(model)``, for a model
        mapping ``uv`` to the coefficients of :data:`TARGETS` (a
        :class:`LearnedInterpolation`).
      params: the parameters of that ``nnx.split(model)``.
      dt: time step (default: the CFL step of this grid, as the classical solvers).
      limiter: van Leer TVD limiter on the advected quantity (published: on).
      name: label in tables (default ``li-N``).
    """

    flow: FlowSpec
    size: int
    graphdef: Any
    params: Any
    dt: float = 0.0
    limiter: bool = True
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.size, int) or self.size < STENCIL_WIDTH:
            raise ConfigError(f"invalid grid size {self.size!r}: accepted an integer >= "
                              f"{STENCIL_WIDTH}")
        if not self.dt:
            object.__setattr__(self, "dt", dns.model_time_step(self.flow, self.size))
        if not self.dt > 0:
            raise ConfigError(f"invalid time step {self.dt!r}: accepted a number > 0")
        if not self.name:
            object.__setattr__(self, "name", f"li-{self.size}")

    @classmethod
    def from_model(cls, flow: FlowSpec, size: int, model: nnx.Module, **kwargs) -> LearnedSolver:
        """The solver of ``model`` (its current parameters); ``kwargs``: dt, limiter, name."""
        graphdef, params = nnx.split(model)
        return cls(flow=flow, size=size, graphdef=graphdef, params=params, **kwargs)

    @property
    def kind(self) -> str:
        return "learned"

    def model(self) -> nnx.Module:
        """A fresh module with this solver's parameters (``nnx.merge``)."""
        return nnx.merge(self.graphdef, self.params)

    def with_params(self, params) -> LearnedSolver:
        """The same solver with other parameters (same structure as ``params``)."""
        return dataclasses.replace(self, params=params)

    def init(self, uv: jax.Array) -> jax.Array:
        return uv

    def step(self, state: jax.Array) -> jax.Array:
        model = self.model()
        convect = learned_convection(model, limiter=self.limiter)
        return dns.finite_volume_step(self.flow, self.size, self.dt, convect=convect)(state)

    def velocity(self, state: jax.Array) -> jax.Array:
        return state


jax.tree_util.register_dataclass(
    LearnedSolver, data_fields=["params"],
    meta_fields=["flow", "size", "graphdef", "dt", "limiter", "name"])


class TSMState(NamedTuple):
    """The state of a TSM rollout at a bundle boundary: velocity ``(2, n, n)`` and memory."""

    velocity: jax.Array
    memory: Any


@dataclasses.dataclass(frozen=True, eq=False)
class TSMSolver(SolverDefaults):
    """A temporal stencil model as a solver (the :mod:`neuralpde.solvers` interface).

    One :meth:`step` is one bundle of ``bundle`` finite-volume steps, so
    ``dt = bundle · dt_model``.  ``init`` takes the prefix ``(K, 2, n, n)``
    (oldest first, the last frame is the initial state; ``history_frames = K``).

    Args:
      flow: the flow specification.
      size: cells per side (>= 4).
      graphdef: the graph definition of ``nnx.split`` of a :class:`TemporalStencilModel`.
      params: the parameters of that ``nnx.split``.
      encoder: :class:`HiPPOEncoder` or :class:`FrameStackEncoder`.
      bundle: steps per network call (the model's ``bundle``).
      dt_model: the finite-volume step (default: the CFL step of this grid).
      limiter: van Leer TVD limiter on the advected quantity (published on).
      name: label in tables (default ``tsm-hippo-N`` / ``tsm-cnn-N``).
    """

    flow: FlowSpec
    size: int
    graphdef: Any
    params: Any
    encoder: Any
    bundle: int = 1
    dt_model: float = 0.0
    limiter: bool = True
    name: str = ""

    def __post_init__(self):
        if not isinstance(self.bundle, int) or self.bundle < 1:
            raise ConfigError(f"invalid bundle={self.bundle!r}: accepted an integer >= 1")
        if not isinstance(self.size, int) or self.size < STENCIL_WIDTH:
            raise ConfigError(f"invalid grid size {self.size!r}: accepted an integer >= "
                              f"{STENCIL_WIDTH}")
        if not self.dt_model:
            object.__setattr__(self, "dt_model", dns.model_time_step(self.flow, self.size))
        if not self.name:
            label = "tsm-hippo" if isinstance(self.encoder, HiPPOEncoder) else "tsm-cnn"
            object.__setattr__(self, "name", f"{label}-{self.size}")

    @classmethod
    def from_model(cls, flow: FlowSpec, size: int, model: TemporalStencilModel, encoder,
                   **kwargs) -> TSMSolver:
        if model.tower.in_channels != encoder.channels:
            raise ConfigError(f"the model takes {model.tower.in_channels} feature channels; the "
                              f"encoder gives {encoder.channels}")
        graphdef, params = nnx.split(model)
        return cls(flow=flow, size=size, graphdef=graphdef, params=params, encoder=encoder,
                   bundle=model.bundle, **kwargs)

    @property
    def kind(self) -> str:
        return "learned"

    @property
    def dt(self) -> float:
        return self.bundle * self.dt_model

    @property
    def history_frames(self) -> int:
        return self.encoder.prefix

    @property
    def substeps(self) -> int:
        return self.bundle

    def model(self) -> TemporalStencilModel:
        return nnx.merge(self.graphdef, self.params)

    def with_params(self, params) -> TSMSolver:
        return dataclasses.replace(self, params=params)

    def init(self, frames: jax.Array) -> TSMState:
        """Encode the prefix ``(K, 2, n, n)``; the rollout starts from its last frame."""
        k = self.encoder.prefix
        if frames.shape != (k, 2, self.size, self.size):
            raise ValueError(f"TSM prefix has shape {frames.shape}: expected ({k}, 2, {self.size}, "
                             f"{self.size}) (the last {k} frames, oldest first)")
        return TSMState(frames[-1], self.encoder.encode(frames))

    def bundle_step(self, state: TSMState) -> tuple[TSMState, jax.Array]:
        """One network call, then ``bundle`` steps; returns the state and ``(B, 2, n, n)``
        velocities."""
        coefficients = self.model()(self.encoder.features(state.memory))
        uv, memory, velocities = state.velocity, state.memory, []
        for weights in coefficients:
            convect = learned_convection(weights, limiter=self.limiter)
            uv = dns.finite_volume_step(self.flow, self.size, self.dt_model, convect=convect)(uv)
            memory = self.encoder.update(memory, uv)
            velocities.append(uv)
        return TSMState(uv, memory), jnp.stack(velocities)

    def step(self, state: TSMState) -> TSMState:
        return self.bundle_step(state)[0]

    def velocity(self, state: TSMState) -> jax.Array:
        return state.velocity


jax.tree_util.register_dataclass(
    TSMSolver, data_fields=["params"],
    meta_fields=["flow", "size", "graphdef", "encoder", "bundle", "dt_model", "limiter", "name"])


def unscaled_encoder(config: TSMConfig):
    """The temporal encoder of a TSM config, without a feature scale."""
    if isinstance(config, TSMHiPPOConfig):
        return make_encoder("hippo", config.prefix, config.hippo_measure, config.hippo_order,
                            config.hippo_theta or None)
    return make_encoder("frames", config.prefix)


def build_encoder(config: TSMConfig, feature_scale: Sequence[float] | None = None):
    """The temporal encoder of a TSM config.

    ``feature_scale``: the per-channel divisors of a ``feature_norm='rms'``
    model (from its run.json, or :func:`training_feature_scale`); required
    for such a model, refused (:class:`ConfigError`) for the others.
    """
    if (config.feature_norm == "rms") != (feature_scale is not None):
        raise ConfigError(f"feature_norm={config.feature_norm!r} with "
                          f"{'no' if feature_scale is None else 'a'} feature scale: a model with "
                          "feature_norm='rms' needs the scale of its training data (run.json "
                          "'feature_scale'); one with 'none' takes no scale")
    scale = None if feature_scale is None else tuple(float(x) for x in feature_scale)
    return dataclasses.replace(unscaled_encoder(config), scale=scale)


def training_feature_scale(config: StencilConfig, prefixes: Callable[[], Any]
                           ) -> tuple[float, ...] | None:
    """The ``feature_norm='rms'`` scale of a TSM ``config``, else None (LI has none).

    ``prefixes()`` returns training prefixes ``(S, K, 2, n, n)`` (called only
    when the scale is needed); the scale is the RMS of each feature channel
    over them (:func:`neuralpde.models.temporal_stencil.feature_rms`).
    """
    if getattr(config, "feature_norm", "none") != "rms":
        return None
    return feature_rms(unscaled_encoder(config), prefixes())


def _tower(config: StencilConfig, seed: int) -> dict:
    """The tower and stencil arguments of a learned-stencil network, weights from ``seed``."""
    return dict(order=config.order, hidden=config.hidden, depth=config.depth,
                kernel=config.kernel, input_scale=config.input_scale,
                decompose=config.decompose, rngs=nnx.Rngs(seed))


def build_li_model(config: LIConfig, seed: int) -> LearnedInterpolation:
    """The LI network of ``config`` with initial weights from ``seed`` (``nnx.Rngs(seed)``)."""
    return LearnedInterpolation(**_tower(config, seed))


def build_tsm_model(config: TSMConfig, seed: int) -> TemporalStencilModel:
    """The TSM network of ``config`` (its encoder's channels in) with initial weights from
    ``seed``."""
    return TemporalStencilModel(unscaled_encoder(config).channels, bundle=config.bundle,
                                **_tower(config, seed))


def build_li_solver(config: LIConfig, seed: int, flow: FlowSpec, size: int,
                    name: str = "") -> LearnedSolver:
    """The LI solver of ``config`` on an ``size``² grid, weights from ``seed``."""
    return LearnedSolver.from_model(flow, size, build_li_model(config, seed),
                                    limiter=config.limiter, name=name)


def build_tsm_solver(config: TSMConfig, seed: int, flow: FlowSpec, size: int, name: str = "",
                     feature_scale: Sequence[float] | None = None) -> TSMSolver:
    """The TSM solver of ``config`` on an ``size``² grid, weights from ``seed``.

    ``feature_scale``: see :func:`build_encoder`.
    """
    return TSMSolver.from_model(flow, size, build_tsm_model(config, seed),
                                build_encoder(config, feature_scale), limiter=config.limiter,
                                name=name)


__all__ = ["learned_convection", "LearnedSolver", "TSMState", "TSMSolver", "unscaled_encoder",
           "build_encoder", "training_feature_scale", "build_li_model", "build_tsm_model",
           "build_li_solver", "build_tsm_solver"]
