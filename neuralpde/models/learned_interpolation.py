r"""Learned interpolation (LI): a finite-volume step with learned convective stencils.

The learned solver is jax-cfd's explicit finite-volume Navier–Stokes step
(:func:`neuralpde.physics.dns.finite_volume_step`: forward Euler, explicit
diffusion and forcing, pressure projection) in which only the convective
term :math:`-\nabla\cdot(\mathbf u\, c)` of every velocity component
:math:`c \in \{u, v\}` changes: the face values it needs come from
constrained 4×4 stencils whose coefficients a network predicts from the
current velocity.

Target layout
-------------
On the MAC grid u sits at offset (1, ½) and v at (½, 1).  The control volume
of a component ``c`` has its forward faces at ``c.offset + ½ e_j`` for the
face direction ``j ∈ {x, y}``, and the flux through that face is
``(advecting velocity u_j on the face) × (advected quantity c on the face)``.
Each of the 2 components × 2 faces × 2 roles is one interpolation target
(:data:`TARGETS`, in this order; the network's output channels are split in
consecutive blocks in the same order):

============  ===========  ===========  ==================
name          source       from offset  to offset
============  ===========  ===========  ==================
u_x_advecting u            (1, ½)       (1½, ½)
u_x_advected  u            (1, ½)       (1½, ½)
u_y_advecting v            (½, 1)       (1, 1)
u_y_advected  u            (1, ½)       (1, 1)
v_x_advecting u            (1, ½)       (1, 1)
v_x_advected  v            (½, 1)       (1, 1)
v_y_advecting v            (½, 1)       (½, 1½)
v_y_advected  v            (½, 1)       (½, 1½)
============  ===========  ===========  ==================

(``u_x_advecting`` and ``u_x_advected`` interpolate the same field to the
same point but are separate targets with separate learned stencils, as in the
published model.)  Every target has a 4×4 stencil
(:func:`neuralpde.models.stencils.stencil_offsets`) whose coefficients are
``c0 + N θ`` with the polynomial-accuracy constraint of order ``order``
(published 1) built in (:func:`neuralpde.models.stencils.constrained_basis`);
``θ`` — ``16 − #constraints`` numbers per target and cell (13 for order 1,
so 104 output channels) — is the network output.

Limiter
-------
The advected-quantity face value is wrapped in jax-cfd's van Leer TVD limiter,
as in the published model (not clipping): with ``c_up`` the first-order upwind
value (by the sign of the face velocity) and ``c_L`` the learned value,

.. math::

    c_\text{face} = c_\text{up} - \phi(r)\,(c_\text{up} - c_L),\qquad
    \phi(r) = \frac{2r}{1 + r}\ (r > 0),\ 0\ \text{otherwise},

where ``r`` is the ratio of consecutive differences of ``c`` on the upwind
side of the face.  Where ``c`` is smooth (``r ≈ 1``) the learned value is
used; at extrema (``r <= 0``) the scheme falls back to upwind.  This is
``cfd.interpolation.apply_tvd_limiter(learned, van_leer_limiter)``, reused
through the adapter, not rewritten.  ``limiter=False`` uses the learned value
as it is.  The advecting velocity is never limited.

Parameters and purity
---------------------
NNX modules are mutable Python objects; a solver step must be a pure
function.  :class:`LearnedSolver` holds the model split by
``nnx.split(model)`` into a static ``graphdef`` and a ``params`` pytree
(an ``nnx.State``) and rebuilds the module with ``nnx.merge`` inside every
step.  The parameters live in the *solver*, not in the solver state (the
state is the velocity ``(2, N, N)`` alone, so rollouts vmap over samples
without copying the weights); :meth:`LearnedSolver.with_params` returns the
same solver with other parameters, which is what a training loss calls with
the parameters it differentiates.  ``LearnedSolver`` is a pytree whose only
leaves are the parameters, so it can also be passed through ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.stencils import (STENCIL_WIDTH, StencilGeometry, apply_stencil,
                                       constrained_basis, stencil_offsets)
from neuralpde.models.tower import make_tower
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec
from neuralpde.physics.jaxcfd import cfd

GridArray = cfd.grids.GridArray
GridVariable = cfd.grids.GridVariable
GridVariableVector = Tuple[GridVariable, ...]
Coefficients = Dict[str, jax.Array]

#: Staggered offsets of u and v on the MAC grid (jax-cfd's ``grid.cell_faces``).
VELOCITY_OFFSETS = ((1.0, 0.5), (0.5, 1.0))
COMPONENTS = ("u", "v")
FACES = ("x", "y")
ROLES = ("advecting", "advected")


class InterpolationTarget(NamedTuple):
    """One learned interpolation: ``source`` at ``source_offset`` onto ``target_offset``.

    ``component``/``face``: the control volume (``'u'``/``'v'``) and the face
    direction (``'x'``/``'y'``); ``role``: ``'advecting'`` (the velocity
    component normal to the face) or ``'advected'`` (the component itself).
    """

    name: str
    component: str
    face: str
    role: str
    source: str
    source_offset: Tuple[float, float]
    target_offset: Tuple[float, float]


def _build_targets() -> Tuple[InterpolationTarget, ...]:
    targets = []
    for i, component in enumerate(COMPONENTS):
        for j, face in enumerate(FACES):
            target_offset = tuple(o + 0.5 if axis == j else o
                                  for axis, o in enumerate(VELOCITY_OFFSETS[i]))
            for role in ROLES:
                k = j if role == "advecting" else i
                targets.append(InterpolationTarget(
                    name=f"{component}_{face}_{role}", component=component, face=face, role=role,
                    source=COMPONENTS[k], source_offset=VELOCITY_OFFSETS[k],
                    target_offset=target_offset))
    return tuple(targets)


#: The 8 interpolation targets, in the order of the network's output blocks.
TARGETS: Tuple[InterpolationTarget, ...] = _build_targets()
TARGET_NAMES: Tuple[str, ...] = tuple(t.name for t in TARGETS)


class TargetStencil(NamedTuple):
    """A target with its stencil geometry and constrained basis (float64 numpy)."""

    target: InterpolationTarget
    geometry: StencilGeometry
    c0: np.ndarray
    nullspace: np.ndarray


@functools.lru_cache(maxsize=None)
def target_stencils(order: int = 1) -> Tuple[TargetStencil, ...]:
    """The constrained 4×4 stencil of every target of :data:`TARGETS` (cached, numpy)."""
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise ConfigError(f"invalid polynomial order {order!r}: accepted an integer in 0..3")
    out = []
    for target in TARGETS:
        geometry = stencil_offsets(target.source_offset, target.target_offset, STENCIL_WIDTH)
        try:
            c0, nullspace = constrained_basis(geometry, order=int(order))
        except ValueError as error:
            raise ConfigError(f"invalid polynomial order {order!r}: accepted 0..3 ({error})")
        out.append(TargetStencil(target, geometry, c0, nullspace))
    return tuple(out)


def num_free_parameters(order: int = 1) -> int:
    """Network output channels: the summed nullspace sizes (104 for order 1)."""
    return sum(s.nullspace.shape[1] for s in target_stencils(order))


def coefficients_from_free_parameters(theta: jax.Array, order: int = 1) -> Coefficients:
    """Split ``theta`` (``(..., N, N, F)``) into per-target stencils ``c0 + N θ`` (``(..., N, N, 16)``)."""
    stencils = target_stencils(order)
    total = num_free_parameters(order)
    if theta.shape[-1] != total:
        raise ValueError(f"free parameters have {theta.shape[-1]} channels: order {order} "
                         f"needs {total}")
    out, start = {}, 0
    for stencil in stencils:
        k = stencil.nullspace.shape[1]
        block = theta[..., start:start + k]
        start += k
        basis = jnp.asarray(stencil.nullspace, theta.dtype)
        out[stencil.target.name] = (jnp.einsum("...f,kf->...k", block, basis)
                                    + jnp.asarray(stencil.c0, theta.dtype))
    return out


class LearnedInterpolation(nnx.Module):
    """Tower + constrained stencil heads: velocity -> per-cell stencil coefficients.

    Args:
      order: polynomial order reproduced exactly by every stencil (0..3;
        published 1).
      hidden, depth, kernel, input_scale: the :class:`ConvTower`
        (published 256, 6, 3, 0.1).
      decompose: run the tower on the s² interleaved sub-fields at N/s
        (NeuralStagger-style; 1 = off, the published model).
      rngs: ``nnx.Rngs`` for the initial weights.

    ``model(uv)`` takes the velocity ``(..., 2, N, N)`` (u and v as stored,
    read as two channels on the cell grid) and returns ``{target name:
    (..., N, N, 16)}`` — the stencil coefficients of every target of
    :data:`TARGETS` in every cell, ordered as
    :func:`~neuralpde.models.stencils.stencil_offsets`.
    """

    def __init__(self, order: int = 1, hidden: int = 256, depth: int = 6, kernel: int = 3,
                 input_scale: float = 0.1, decompose: int = 1, *, rngs: nnx.Rngs):
        self.order = int(order)
        out_channels = num_free_parameters(self.order)  # validates the order
        self.tower = make_tower(len(COMPONENTS), out_channels, hidden=hidden, depth=depth,
                                kernel=kernel, input_scale=input_scale, decompose=decompose,
                                rngs=rngs)

    def free_parameters(self, uv: jax.Array) -> jax.Array:
        """``θ`` ``(..., N, N, F)`` for the velocity ``uv`` ``(..., 2, N, N)``."""
        if uv.ndim < 3 or uv.shape[-3] != len(COMPONENTS):
            raise ValueError(f"velocity has shape {uv.shape}: expected (..., 2, N, N)")
        return self.tower(jnp.moveaxis(uv, -3, -1))

    def __call__(self, uv: jax.Array) -> Coefficients:
        return coefficients_from_free_parameters(self.free_parameters(uv), self.order)


def _lookup(role: str) -> Dict[Tuple[tuple, tuple], TargetStencil]:
    # geometry only (order-independent): order 0 always exists
    return {(s.target.source_offset, s.target.target_offset): s
            for s in target_stencils(0) if s.target.role == role}


def _stencil_interpolation(role: str, coefficients: Callable[[], Coefficients]):
    """A jax-cfd InterpolationFn applying the learned stencil of ``role`` for ``(c.offset, offset)``."""
    table = _lookup(role)

    def interp(c: GridVariable, offset, v=None, dt=None) -> GridVariable:
        del v, dt
        offset = tuple(float(o) for o in offset)
        if offset == tuple(c.offset):
            return c
        key = (tuple(float(o) for o in c.offset), offset)
        if key not in table:
            raise cfd.grids.InconsistentOffsetError(
                f"no learned {role} stencil from offset {key[0]} to {key[1]}: accepted "
                f"{sorted(table)}")
        stencil = table[key]
        weights = coefficients()
        name = stencil.target.name
        if name not in weights:
            raise KeyError(f"coefficients for target {name!r} missing: got {sorted(weights)}")
        data = apply_stencil(c.data, weights[name], stencil.geometry)
        return GridVariable(GridArray(data, offset, c.grid), c.bc)

    return interp


def learned_convection(
    model_coefficients: Union[Mapping[str, jax.Array], Callable[[jax.Array], Mapping[str, jax.Array]]],
    limiter: bool = True,
) -> Callable[[GridVariableVector], Tuple[GridArray, ...]]:
    """A jax-cfd ``ConvectFn`` ``-div(u ⊗ c)`` using learned face values.

    Args:
      model_coefficients: either the per-target coefficients ``{name: (N, N,
        16)}`` (fixed for this call), or a function ``uv (2, N, N) ->
        coefficients`` (e.g. a :class:`LearnedInterpolation`), evaluated on
        the velocity the ConvectFn receives (the current state under forward
        Euler; every stage's velocity under a Runge–Kutta stepper).
      limiter: wrap the advected-quantity interpolation in jax-cfd's van Leer
        TVD limiter (blend towards first-order upwind; see the module
        docstring).  The advecting velocity is never limited.

    Returns:
      ``convect(v) -> tuple of GridArray``, the ``i``-th at ``v[i]``'s offset,
      built with ``cfd.advection.advect_general`` so that offsets and
      boundary conditions are those jax-cfd's step expects.  Periodic
      boundaries only.
    """

    def convect(v: GridVariableVector) -> Tuple[GridArray, ...]:
        if not cfd.boundaries.has_all_periodic_boundary_conditions(*v):
            raise NotImplementedError("learned convection supports periodic boundaries only")
        if callable(model_coefficients):
            weights = model_coefficients(jnp.stack([u.data for u in v]))
        else:
            weights = model_coefficients
        u_interp = _stencil_interpolation("advecting", lambda: weights)
        c_interp = _stencil_interpolation("advected", lambda: weights)
        if limiter:
            c_interp = cfd.interpolation.apply_tvd_limiter(
                c_interp, limiter=cfd.interpolation.van_leer_limiter)
        return tuple(cfd.advection.advect_general(c, v, u_interp, c_interp) for c in v)

    return convect


@dataclasses.dataclass(frozen=True, eq=False)
class LearnedSolver:
    """The finite-volume step with learned convection (the :mod:`neuralpde.solvers` interface).

    Build with :meth:`from_model`.  The state is the velocity ``(2, N, N)``;
    ``step(uv) = dns.finite_volume_step(flow, size, dt, convect=
    learned_convection(model))(uv)`` with ``model = nnx.merge(graphdef,
    params)`` evaluated on the current velocity.

    Args:
      flow: the flow specification.
      size: cells per side (>= 4, the stencil width).
      graphdef, params: ``nnx.split(model)`` of a model mapping ``uv`` to the
        coefficients of :data:`TARGETS` (a :class:`LearnedInterpolation`).
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
    def from_model(cls, flow: FlowSpec, size: int, model: nnx.Module, **kwargs) -> "LearnedSolver":
        """The solver of ``model`` (its current parameters); ``kwargs``: dt, limiter, name."""
        graphdef, params = nnx.split(model)
        return cls(flow=flow, size=size, graphdef=graphdef, params=params, **kwargs)

    @property
    def kind(self) -> str:
        return "learned"

    def model(self) -> nnx.Module:
        """A fresh module with this solver's parameters (``nnx.merge``)."""
        return nnx.merge(self.graphdef, self.params)

    def with_params(self, params) -> "LearnedSolver":
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


__all__ = [
    "VELOCITY_OFFSETS",
    "InterpolationTarget",
    "TARGETS",
    "TARGET_NAMES",
    "TargetStencil",
    "target_stencils",
    "num_free_parameters",
    "coefficients_from_free_parameters",
    "LearnedInterpolation",
    "learned_convection",
    "LearnedSolver",
]
