"""Second-order MUSCL face values with the van Leer limiter (TVD).

Same conventions as :mod:`neuralpde.numerics.weno`: ``c`` holds cell averages,
periodic along ``axis``; entry ``i`` of the result is the value at the face
``i+1/2`` between cells ``i`` and ``i+1``.

Scheme: a piecewise-linear reconstruction in each cell whose slope is the van
Leer limited slope (the harmonic mean of the one-sided differences)::

    a = c_i - c_{i-1},  b = c_{i+1} - c_i
    s_i = 2 a b / (a + b)  if a b > 0  else 0       (= (a|b| + |a|b) / (|a| + |b|))

    left  (velocity >= 0):  c_{i+1/2} = c_i     + s_i / 2
    right (velocity <  0):  c_{i+1/2} = c_{i+1} - s_{i+1} / 2

Equivalently ``c_i + phi(r) (c_{i+1} - c_i) / 2`` with ``r = a / b`` and the
van Leer limiter ``phi(r) = (r + |r|) / (1 + |r|)``.  The face value never leaves
the range of its two neighbouring cells, and with SSP-RK3 (or forward Euler) at
Courant number <= 1/2 the flux-form update is total-variation diminishing.

Unlike jax-cfd's ``advect_van_leer_using_limiters`` (a limited Lax--Wendroff
flux whose correction depends on the Courant number ``u dt / dx``), this is the
semi-discrete (method-of-lines) form: it does not depend on ``dt`` and is meant
to be combined with a Runge--Kutta integrator, like WENO.
"""

from __future__ import annotations

import jax.numpy as jnp

from neuralpde.numerics.weno import check_axis

Array = jnp.ndarray


def _van_leer_slope(a: Array, b: Array) -> Array:
    """Harmonic-mean limited slope, safe (finite value and gradient) at 0/0."""
    denom = jnp.abs(a) + jnp.abs(b)
    nonzero = denom > 0
    safe = jnp.where(nonzero, denom, 1.0)
    return jnp.where(nonzero, (a * jnp.abs(b) + jnp.abs(a) * b) / safe, 0.0)


def _prepare(c: Array, axis: int):
    axis = check_axis(c, axis, min_cells=4, what="van Leer")
    c = jnp.asarray(c)
    return c, (lambda k: jnp.roll(c, -k, axis=axis))


def van_leer_left(c: Array, axis: int = -1) -> Array:
    """Face value at ``i+1/2`` reconstructed in cell ``i`` (velocity >= 0)."""
    c, s = _prepare(c, axis)
    return c + 0.5 * _van_leer_slope(c - s(-1), s(1) - c)


def van_leer_right(c: Array, axis: int = -1) -> Array:
    """Face value at ``i+1/2`` reconstructed in cell ``i+1`` (velocity < 0)."""
    c, s = _prepare(c, axis)
    cp1 = s(1)
    return cp1 - 0.5 * _van_leer_slope(cp1 - c, s(2) - cp1)


def van_leer_face_values(c: Array, axis: int, velocity: Array) -> Array:
    """Van Leer face values at ``i+1/2`` upwinded by the sign of ``velocity``.

    ``velocity`` is the advecting velocity at the faces ``i+1/2`` (scalar or an
    array broadcastable to ``c``); >= 0 takes :func:`van_leer_left`, < 0
    :func:`van_leer_right`.
    """
    return jnp.where(jnp.asarray(velocity) >= 0,
                     van_leer_left(c, axis), van_leer_right(c, axis))


__all__ = ["van_leer_left", "van_leer_right", "van_leer_face_values"]
