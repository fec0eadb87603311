r"""Interpolation stencils with polynomial-accuracy constraints.

A learned interpolation puts a field stored at one staggered offset onto
another offset (a face of a control volume) as a weighted sum of the source
values in a 4×4 neighbourhood of the target point,

.. math::

    \hat f(\mathbf x_t) = \sum_{j=1}^{16} c_j(\mathbf x_t)\, f(\mathbf x_t + \mathbf r_j),

where the weights :math:`c_j` may vary from cell to cell (they come from a
network).  The weights are constrained to be exact for every polynomial of
total degree ``<= order``:

.. math::

    \sum_j c_j\, p(\mathbf r_j) = p(\mathbf 0)\qquad
    \text{for } p = x^a y^b,\ a + b \le \text{order}

(``order = 1`` in the published model: the stencil reproduces constants and
linear fields, i.e. it is a consistent, at least first-order interpolation).
These are ``M`` linear equations ``A c = b`` in 16 unknowns.  They are solved
once, in float64 numpy: ``c0`` is the least-norm particular solution and the
columns of ``N`` (16 × (16 − M)) an orthonormal basis of the nullspace of
``A``, so

.. math::

    c = c_0 + N\,\theta

satisfies the constraint for *any* free parameters :math:`\theta`.  The
network predicts :math:`\theta`; the constraint holds by construction.

Conventions (those of jax-cfd): an array at staggered offset ``o`` holds, at
index ``i``, the value at position ``(i + o)·Δx``.  Positions here are in grid
units.  The stencil of a target at offset ``t`` built from a source at offset
``s`` is, along every axis, the four source points nearest the target in the
half-open window ``(-2, 2]`` around it: the relative positions are
``s − t + k`` for the integer index shifts ``k`` with ``-2 < s − t + k <= 2``.
So an axis on which source and target are staggered by ½ gets the symmetric
positions ``−1.5, −0.5, 0.5, 1.5``; an axis on which they are aligned gets
``−1, 0, 1, 2`` (the tie at distance 2 is broken towards +, the side of the
forward face being interpolated to).  Flattened stencils are ordered
row-major over (x, y): entry ``4·a + b`` is x-position ``a``, y-position ``b``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Points per axis of a stencil (the published 4×4).
STENCIL_WIDTH = 4


class StencilGeometry(NamedTuple):
    """Where a stencil reads its source values.

    Attributes:
      positions: ``(K, ndim)`` float64, source positions relative to the target
        point, in grid units (``K = width**ndim``).
      shifts: ``(K, ndim)`` int, index shifts: the target value at index ``i``
        reads the source array at index ``i + shift`` (periodically).
    """

    positions: np.ndarray
    shifts: np.ndarray


def _axis_window(delta: float, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer shifts ``k`` with ``-width/2 < delta + k <= width/2`` and their positions."""
    half = width / 2
    first = int(np.floor(-half - delta)) + 1  # smallest k with delta + k > -half
    shifts = np.arange(first, first + width)
    positions = delta + shifts
    assert positions[0] > -half - 1e-12 and positions[-1] <= half + 1e-12
    return shifts, positions.astype(np.float64)


def stencil_offsets(source_offset: Sequence[float], target_offset: Sequence[float],
                    width: int = STENCIL_WIDTH) -> StencilGeometry:
    """The ``width``^ndim neighbourhood of source points around a target point.

    Args:
      source_offset: staggered offset of the source array (e.g. ``(1, 0.5)``
        for u on the x-faces).
      target_offset: offset of the target point (e.g. ``(1.5, 0.5)``).
      width: points per axis (even, >= 2; published 4).

    Returns:
      A :class:`StencilGeometry` with the relative positions (the
        ``width`` source positions nearest the target along each axis) and the
        matching integer index shifts.
    """
    source_offset = tuple(float(o) for o in source_offset)
    target_offset = tuple(float(o) for o in target_offset)
    if len(source_offset) != len(target_offset) or not source_offset:
        raise ValueError(f"source offset {source_offset} and target offset {target_offset} "
                         "must have the same, non-zero length")
    if width < 2 or width % 2:
        raise ValueError(f"invalid stencil width {width!r}: accepted an even integer >= 2")
    per_axis = [_axis_window(s - t, width) for s, t in zip(source_offset, target_offset)]
    shifts = np.array(list(itertools.product(*[k for k, _ in per_axis])), dtype=np.int64)
    positions = np.array(list(itertools.product(*[p for _, p in per_axis])), dtype=np.float64)
    return StencilGeometry(positions=positions, shifts=shifts)


def monomial_exponents(ndim: int, order: int) -> np.ndarray:
    """Exponents ``(M, ndim)`` of all monomials of total degree ``<= order``."""
    if order < 0:
        raise ValueError(f"invalid polynomial order {order!r}: accepted an integer >= 0")
    return np.array([e for e in itertools.product(range(order + 1), repeat=ndim)
                     if sum(e) <= order], dtype=np.int64)


def _positions(offsets) -> np.ndarray:
    positions = offsets.positions if isinstance(offsets, StencilGeometry) else offsets
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2:
        raise ValueError(f"stencil positions must have shape (K, ndim), got {positions.shape}")
    return positions


def polynomial_constraint(offsets, target: Sequence[float] = None,
                          order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The linear system ``A c = b`` of polynomial exactness.

    Args:
      offsets: ``(K, ndim)`` stencil positions (or a :class:`StencilGeometry`).
      target: the target point in the same frame (default: the origin, as the
        positions of :func:`stencil_offsets` are relative to the target).
      order: highest total degree reproduced exactly (>= 0).

    Returns:
      ``A`` of shape ``(M, K)`` with ``A[m, j] = p_m(x_j)`` and ``b`` of shape
        ``(M,)`` with ``b[m] = p_m(x_target)``, for the ``M`` monomials of total
        degree ``<= order`` (:func:`monomial_exponents` order).
    """
    positions = _positions(offsets)
    ndim = positions.shape[1]
    target = np.zeros(ndim) if target is None else np.asarray(target, dtype=np.float64)
    if target.shape != (ndim,):
        raise ValueError(f"target {tuple(target)} must have {ndim} coordinates")
    exponents = monomial_exponents(ndim, order)
    a = np.prod(positions[None, :, :] ** exponents[:, None, :], axis=-1)
    b = np.prod(target[None, :] ** exponents, axis=-1)
    return a, b


def constrained_basis(offsets, target: Sequence[float] = None,
                      order: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Particular solution and nullspace of the polynomial constraint (float64).

    Returns:
      ``(c0, N)``: ``c0`` ``(K,)`` the least-norm solution of ``A c = b`` and
        ``N`` ``(K, K − M)`` an orthonormal nullspace basis of ``A``, so that
        ``c0 + N @ theta`` satisfies the constraint for every ``theta``.

    Raises:
      ValueError: if the stencil cannot reproduce every monomial of degree
        ``<= order`` (more independent constraints than the stencil supports;
        a 4×4 tensor stencil supports orders 0 to 3).
    """
    a, b = polynomial_constraint(offsets, target, order)
    u, s, vt = np.linalg.svd(a, full_matrices=True)
    tol = max(a.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 1.0)
    rank = int(np.sum(s > tol))
    if rank < a.shape[0]:
        raise ValueError(
            f"invalid polynomial order {order!r} for a stencil of {a.shape[1]} points: its "
            f"{a.shape[0]} monomials are not independent on the stencil (rank {rank}); accepted "
            "an order whose monomials the stencil can reproduce (0 to 3 for a 4×4 stencil)")
    c0 = vt[:rank].T @ ((u[:, :rank].T @ b) / s[:rank])
    nullspace = vt[rank:].T
    return c0, nullspace


def apply_stencil(field: jax.Array, coefficients: jax.Array,
                  offsets: StencilGeometry | np.ndarray) -> jax.Array:
    """``sum_j c_j(x) field(x + shift_j)`` with periodic wrap-around.

    Equivalent to ``sum_j c[..., j] * jnp.roll(field, -shift_j, grid axes)``;
    implemented as one periodic pad and one static slice per stencil entry,
    which compiles and differentiates much faster than 16 rolls.

    Args:
      field: ``(..., N_1, ..., N_d)`` source values (the last ``d`` axes are
        the periodic grid axes).
      coefficients: ``(..., N_1, ..., N_d, K)`` per-cell stencil weights
        (broadcast against ``field``'s leading axes).
      offsets: a :class:`StencilGeometry` or an integer ``(K, d)`` array of
        index shifts (``StencilGeometry.shifts``).

    Returns:
      ``(..., N_1, ..., N_d)``: the interpolated values, at index ``i`` the
        target point of cell ``i``.
    """
    shifts = offsets.shifts if isinstance(offsets, StencilGeometry) else offsets
    shifts = np.asarray(shifts)
    if shifts.ndim != 2 or not np.issubdtype(shifts.dtype, np.integer):
        raise ValueError(f"stencil shifts must be an integer (K, ndim) array, got "
                         f"{shifts.dtype} {shifts.shape}")
    ndim = shifts.shape[1]
    if coefficients.shape[-1] != shifts.shape[0]:
        raise ValueError(f"coefficients have {coefficients.shape[-1]} stencil entries, the "
                         f"stencil has {shifts.shape[0]}")
    lo = -np.minimum(shifts.min(axis=0), 0)
    hi = np.maximum(shifts.max(axis=0), 0)
    grid_shape = field.shape[field.ndim - ndim:]
    # one periodic pad, then a static slice per stencil entry (cheaper to compile and
    # differentiate than one roll per entry)
    pad = [(0, 0)] * (field.ndim - ndim) + [(int(a), int(b)) for a, b in zip(lo, hi)]
    padded = jnp.pad(field, pad, mode="wrap")
    lead = (slice(None),) * (field.ndim - ndim)
    windows = jnp.stack([
        padded[lead + tuple(slice(int(k + low), int(k + low) + n)
                            for k, low, n in zip(shift, lo, grid_shape))]
        for shift in shifts], axis=-1)
    return jnp.sum(coefficients * windows, axis=-1)


__all__ = [
    "STENCIL_WIDTH",
    "StencilGeometry",
    "stencil_offsets",
    "monomial_exponents",
    "polynomial_constraint",
    "constrained_basis",
    "apply_stencil",
]
