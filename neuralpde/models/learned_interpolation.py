r"""Learned interpolation (LI): the network that predicts constrained convective stencils.

Learned interpolation (Kochkov et al., PNAS 2021) is the reference
finite-volume Navier–Stokes step in which only the convective term
:math:`-\nabla\cdot(\mathbf u\, c)` of every velocity component
:math:`c \in \{u, v\}` changes: the face values it needs come from
constrained 4×4 stencils whose coefficients a network predicts from the
current velocity.  This module holds the network side — the interpolation
targets, their constrained stencils, and :class:`LearnedInterpolation`
(tower + stencil heads); the solver that runs it inside the finite-volume step
is :class:`neuralpde.solvers.learned.LearnedSolver`, the convection from face
values :func:`neuralpde.physics.convection.face_value_convection`.

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
used; at extrema (``r <= 0``) the scheme falls back to upwind.  It is applied by
:func:`neuralpde.physics.convection.face_value_convection` (jax-cfd's
``apply_tvd_limiter`` with ``van_leer_limiter``, through the adapter).  ``limiter=False``
uses the learned value as it is.  The advecting velocity is never limited.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.stencils import (
    STENCIL_WIDTH,
    StencilGeometry,
    apply_stencil,
    constrained_basis,
    stencil_offsets,
)
from neuralpde.models.tower import make_tower

Coefficients = dict[str, jax.Array]

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
    source_offset: tuple[float, float]
    target_offset: tuple[float, float]


def _build_targets() -> tuple[InterpolationTarget, ...]:
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
TARGETS: tuple[InterpolationTarget, ...] = _build_targets()
TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)


class TargetStencil(NamedTuple):
    """A target with its stencil geometry and constrained basis (float64 numpy)."""

    target: InterpolationTarget
    geometry: StencilGeometry
    c0: np.ndarray
    nullspace: np.ndarray


@functools.cache
def target_stencils(order: int = 1) -> tuple[TargetStencil, ...]:
    """The constrained 4×4 stencil of every target of :data:`TARGETS` (cached, numpy)."""
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool):
        raise ConfigError(f"invalid polynomial order {order!r}: accepted an integer in 0..3")
    out = []
    for target in TARGETS:
        geometry = stencil_offsets(target.source_offset, target.target_offset, STENCIL_WIDTH)
        try:
            c0, nullspace = constrained_basis(geometry, order=int(order))
        except ValueError as error:
            raise ConfigError(f"invalid polynomial order {order!r}: "
                              f"accepted 0..3 ({error})") from error
        out.append(TargetStencil(target, geometry, c0, nullspace))
    return tuple(out)


def num_free_parameters(order: int = 1) -> int:
    """Network output channels: the summed nullspace sizes (104 for order 1)."""
    return sum(s.nullspace.shape[1] for s in target_stencils(order))


def coefficients_from_free_parameters(theta: jax.Array, order: int = 1) -> Coefficients:
    """Split ``theta`` (``(..., N, N, F)``) into per-target stencils ``c0 + N θ``
    (``(..., N, N, 16)``)."""
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
      hidden: channels per hidden layer of the :class:`ConvTower` (published 256).
      depth: layers of the tower (published 6).
      kernel: kernel size of the tower (published 3).
      input_scale: inputs of the tower are multiplied by this (published 0.1).
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


@functools.cache
def _stencils_by_offsets(role: str) -> dict[tuple[tuple, tuple], TargetStencil]:
    # geometry only (order-independent): order 0 always exists
    return {(s.target.source_offset, s.target.target_offset): s
            for s in target_stencils(0) if s.target.role == role}


def stencil_face_values(coefficients: Coefficients, role: str, values: jax.Array,
                        source_offset: tuple[float, float],
                        target_offset: tuple[float, float]) -> jax.Array:
    """The learned face values of ``values`` ``(N, N)`` moved from ``source_offset`` to
    ``target_offset``.

    Applies the stencil of the target of :data:`TARGETS` with this ``role``
    (``'advecting'``/``'advected'``) and these offsets, with the per-cell
    coefficients ``coefficients[name]`` ``(N, N, 16)``.  This is the
    ``interpolate`` rule that
    :func:`neuralpde.physics.convection.face_value_convection` calls.

    Raises :class:`ConfigError` for offsets no target has, ``KeyError`` when
    ``coefficients`` lacks the target.
    """
    table = _stencils_by_offsets(role)
    key = (tuple(float(o) for o in source_offset), tuple(float(o) for o in target_offset))
    if key not in table:
        raise ConfigError(f"no learned {role} stencil from offset {key[0]} to {key[1]}: accepted "
                          f"{sorted(table)}")
    stencil = table[key]
    name = stencil.target.name
    if name not in coefficients:
        raise KeyError(f"coefficients for target {name!r} missing: got {sorted(coefficients)}")
    return apply_stencil(values, coefficients[name], stencil.geometry)


__all__ = [
    "VELOCITY_OFFSETS",
    "COMPONENTS",
    "InterpolationTarget",
    "TARGETS",
    "TARGET_NAMES",
    "TargetStencil",
    "target_stencils",
    "num_free_parameters",
    "coefficients_from_free_parameters",
    "LearnedInterpolation",
    "stencil_face_values",
]
