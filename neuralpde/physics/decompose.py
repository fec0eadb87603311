r"""Spatial and temporal decomposition of staggered fields (exact, invertible).

Spatial: a fine periodic field on an :math:`N\times N` grid is split into
:math:`s^2` interleaved *sub-fields* on the coarse :math:`M\times M` grid,
:math:`M = N/s`, coarse step :math:`\Delta = s\,\delta x`:

.. math::

    \text{sub}_{(a,b)}[c, I, J] = \text{fine}[c,\; sI + a,\; sJ + b],
    \qquad a, b \in \{0, \dots, s-1\},

stored at index :math:`a s + b` of a new axis (:func:`split_space`);
:func:`merge_space` is its exact inverse (a reshape and a transpose, no
arithmetic: ``merge_space(split_space(x, s), s) == x`` bit for bit).

Offsets.  A fine component at offset :math:`(o_x, o_y)` (in fine grid steps:
u at (1, ½), v at (½, 1) on the MAC grid) has its value
:math:`\text{fine}[i, j]` at :math:`((i + o_x)\,\delta x, (j + o_y)\,\delta x)`.
With :math:`i = sI + a` that is
:math:`((I + (a + o_x)/s)\,\Delta,\ (J + (b + o_y)/s)\,\Delta)`: sub-field
:math:`(a, b)` is a field on the coarse grid at the **coarse offset**

.. math::

    \big((a + o_x)/s,\ (b + o_y)/s\big)\quad\text{(coarse grid steps)},

i.e. u of sub-field (a, b) sits at :math:`((a+1)/s, (b+\tfrac12)/s)` and v at
:math:`((a+\tfrac12)/s, (b+1)/s)` (:func:`velocity_subfield_offsets`).  Only
for :math:`s = 1` is this the MAC layout.  For :math:`a = s-1` the u values
lie on the coarse x-faces (offset 1) but their y-offset is
:math:`1 - \tfrac{1}{2s}`, not ½; u and v of one sub-field are **not** a
coarse MAC pair (their shifts from the MAC positions differ), so a sub-field
cannot be advanced by the coarse finite-volume DNS, and its discrete
divergence on the coarse grid is not a divergence of anything.  Everything
that needs the physics (loss, divergence) works on the rebuilt fine field.

Relative view: sub-solver (a, b) sees the fine field rolled by
:math:`(-a, -b)` fine cells and then split (:func:`relative_view`); block
:math:`(d_a, d_b)` of its view holds the values at its own points shifted by
:math:`(d_a, d_b)\,\delta x = (d_a/s, d_b/s)\,\Delta` — block 0 is its own
sub-field.  Every sub-solver therefore sees the same *geometry* (its own
points first, the neighbours in the same relative order), which is what lets
one set of shared weights serve all of them.

Temporal: a sequence of :math:`T` frames is split into :math:`s_T`
interleaved sub-sequences, :math:`\text{sub}_k[n] = \text{frames}[n s_T + k]`
(:func:`split_time`, exact inverse :func:`merge_time`).

The index functions accept numpy arrays (and then compute in numpy) or JAX
arrays (jit-able).  Channels-last helpers (:func:`space_to_depth`, :func:`depth_to_space`) do the
same spatial split for ``(..., N, N, C)`` network tensors, sub-field-major in
the channel axis: channel :math:`(a s + b) C + c`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import ConfigError

Array = jax.Array

#: Fine-grid offsets of u and v on the MAC grid (jax-cfd's ``grid.cell_faces``).
MAC_OFFSETS = ((1.0, 0.5), (0.5, 1.0))


def _xp(x):
    """NumPy for NumPy inputs (no JAX dispatch or compile), ``jax.numpy`` otherwise."""
    return np if isinstance(x, np.ndarray) else jnp


def check_factor(size: int, s: int, name: str = "s") -> int:
    """Validate a decomposition factor: an integer >= 1 that divides ``size``; returns
    ``size // s``."""
    if isinstance(s, bool) or not isinstance(s, int) or s < 1:
        raise ConfigError(f"invalid {name}={s!r}: accepted an integer >= 1")
    if size % s:
        divisors = [d for d in range(1, size + 1) if size % d == 0]
        raise ConfigError(f"invalid {name}={s!r}: accepted a divisor of the grid size {size} "
                          f"({divisors})")
    return size // s


def split_space(field: Array, s: int) -> Array:
    """``(..., C, N, N)`` -> ``(..., s*s, C, N/s, N/s)``.

    Sub-field ``a*s+b`` is ``field[..., a::s, b::s]``.
    """
    if field.ndim < 3 or field.shape[-1] != field.shape[-2]:
        raise ValueError(f"field has shape {field.shape}: expected (..., C, N, N)")
    m = check_factor(field.shape[-1], s)
    lead, c = field.shape[:-3], field.shape[-3]
    x = field.reshape(lead + (c, m, s, m, s))          # [..., c, I, a, J, b]
    k = len(lead)
    x = _xp(field).moveaxis(x, (k + 2, k + 4), (k, k + 1))  # [..., a, b, c, I, J]
    return x.reshape(lead + (s * s, c, m, m))


def merge_space(sub: Array, s: int) -> Array:
    """Inverse of :func:`split_space`: ``(..., s*s, C, M, M)`` -> ``(..., C, s*M, s*M)``."""
    if sub.ndim < 4 or sub.shape[-4] != s * s:
        raise ValueError(f"sub-fields have shape {sub.shape}: expected (..., {s * s}, C, M, M) "
                         f"for s={s}")
    lead, c, m = sub.shape[:-4], sub.shape[-3], sub.shape[-1]
    k = len(lead)
    x = sub.reshape(lead + (s, s, c, m, m))             # [..., a, b, c, I, J]
    x = _xp(sub).moveaxis(x, (k, k + 1), (k + 2, k + 4))  # [..., c, I, a, J, b]
    return x.reshape(lead + (c, m * s, m * s))


def subfield(field: Array, s: int, a: int, b: int) -> Array:
    """Sub-field ``(a, b)``: ``field[..., a::s, b::s]`` (``(..., C, N/s, N/s)``)."""
    check_factor(field.shape[-1], s)
    for label, value in (("a", a), ("b", b)):
        if not isinstance(value, int) or not 0 <= value < s:
            raise ConfigError(f"invalid sub-field index {label}={value!r}: accepted 0..{s - 1}")
    return field[..., a::s, b::s]


def subfield_offset(offset: tuple[float, float], s: int, a: int, b: int) -> tuple[float, float]:
    """Coarse-grid offset of sub-field ``(a, b)`` of a component at fine ``offset``.

    ``((a + o_x)/s, (b + o_y)/s)`` in coarse grid steps.
    """
    return ((a + offset[0]) / s, (b + offset[1]) / s)


def velocity_subfield_offsets(s: int, a: int,
                              b: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Coarse offsets of u and v of sub-field ``(a, b)`` (fine u at (1, ½), v at (½, 1))."""
    return tuple(subfield_offset(o, s, a, b) for o in MAC_OFFSETS)


def relative_view(field: Array, s: int, a: int, b: int) -> Array:
    """Sub-solver ``(a, b)``'s view: ``split_space(roll(field, (-a, -b)), s)``.

    Block 0 is its own sub-field.
    """
    rolled = _xp(field).roll(field, (-a, -b), axis=(-2, -1))
    return split_space(rolled, s)


def relative_views(field: Array, s: int) -> Array:
    """All ``s*s`` relative views stacked: ``(..., C, N, N)`` -> ``(s*s, ..., s*s, C, M, M)``."""
    return _xp(field).stack([relative_view(field, s, a, b) for a in range(s) for b in range(s)])


def split_time(frames: Array, s_time: int) -> Array:
    """``(T, ...)`` -> ``(s_T, T/s_T, ...)``; sub-sequence ``k`` is ``frames[k::s_T]``."""
    t = frames.shape[0]
    n = check_factor(t, s_time, "s_time")
    x = frames.reshape((n, s_time) + frames.shape[1:])
    return _xp(frames).swapaxes(x, 0, 1)


def merge_time(sub: Array) -> Array:
    """Inverse of :func:`split_time`: ``(s_T, n, ...)`` -> ``(n*s_T, ...)``."""
    x = _xp(sub).swapaxes(sub, 0, 1)
    return x.reshape((x.shape[0] * x.shape[1],) + x.shape[2:])


def space_to_depth(x: Array, s: int) -> Array:
    """Channels-last split: ``(..., N, N, C)`` -> ``(..., N/s, N/s, s*s*C)``.

    Channel ``(a*s+b)*C + c`` holds ``x[..., a::s, b::s, c]``.
    """
    if x.ndim < 3:
        raise ValueError(f"input has shape {x.shape}: expected (..., N1, N2, C)")
    for axis in (-3, -2):
        check_factor(x.shape[axis], s)
    lead, (n1, n2, c) = x.shape[:-3], x.shape[-3:]
    k = len(lead)
    y = x.reshape(lead + (n1 // s, s, n2 // s, s, c))   # [..., I, a, J, b, c]
    y = _xp(x).moveaxis(y, k + 1, k + 2)                 # [..., I, J, a, b, c]
    return y.reshape(lead + (n1 // s, n2 // s, s * s * c))


def depth_to_space(x: Array, s: int) -> Array:
    """Inverse of :func:`space_to_depth`: ``(..., M1, M2, s*s*C)`` -> ``(..., s*M1, s*M2, C)``."""
    if x.ndim < 3 or x.shape[-1] % (s * s):
        raise ValueError(f"input has shape {x.shape}: expected (..., M1, M2, s*s*C) for s={s}")
    lead, (m1, m2, sc) = x.shape[:-3], x.shape[-3:]
    c = sc // (s * s)
    k = len(lead)
    y = x.reshape(lead + (m1, m2, s, s, c))              # [..., I, J, a, b, c]
    y = _xp(x).moveaxis(y, k + 2, k + 1)                 # [..., I, a, J, b, c]
    return y.reshape(lead + (m1 * s, m2 * s, c))


def fourier_shift(field: Array, shift: tuple[float, float]) -> Array:
    r"""Band-limited periodic interpolation of ``field`` (``(..., M, M)``) at its points +
    ``shift``.

    .. math::

        g(\mathbf x) = f(\mathbf x + \boldsymbol\delta\,\Delta)
          = \mathcal F^{-1}\big[\hat f_{\mathbf k}\,
            e^{2\pi i\,\mathbf k\cdot\boldsymbol\delta/M}\big]

    with ``shift`` = δ in coarse cells (real part taken: the Nyquist mode is
    thereby treated as a cosine).  Exact for
    fields whose spectrum lies below the Nyquist wavenumber; used to fill in
    the neighbours a lone sub-solver does not have.
    """
    xp = _xp(field)
    m1, m2 = field.shape[-2:]
    k1 = xp.fft.fftfreq(m1, d=1.0 / m1)
    k2 = xp.fft.fftfreq(m2, d=1.0 / m2)
    phase = xp.exp(2j * np.pi * (k1[:, None] * shift[0] / m1 + k2[None, :] * shift[1] / m2))
    out = xp.fft.ifft2(xp.fft.fft2(field) * phase)
    return xp.real(out).astype(field.dtype)


def interpolated_view(own: Array, s: int, a: int = 0, b: int = 0, relative: bool = True) -> Array:
    """A view of sub-solver ``(a, b)`` rebuilt from its own sub-field alone, by
    :func:`fourier_shift`.

    ``own``: ``(..., C, M, M)``, sub-field ``(a, b)``.  ``relative=True``:
    block ``(d_a, d_b)`` is ``own`` shifted by ``(d_a/s, d_b/s)`` coarse cells
    (the layout of :func:`relative_view`; block 0 = ``own``).
    ``relative=False``: block ``(a', b')`` approximates sub-field ``(a', b')``,
    ``own`` shifted by ``((a'-a)/s, (b'-b)/s)`` (the layout of :func:`split_space`).
    Returns ``(..., s*s, C, M, M)``.
    """
    blocks = []
    for i in range(s):
        for j in range(s):
            shift = (i / s, j / s) if relative else ((i - a) / s, (j - b) / s)
            blocks.append(own if shift == (0.0, 0.0) else fourier_shift(own, shift))
    return _xp(own).stack(blocks, axis=-4)


__all__ = [
    "MAC_OFFSETS", "check_factor", "split_space", "merge_space", "subfield", "subfield_offset",
    "velocity_subfield_offsets", "relative_view", "relative_views", "split_time", "merge_time",
    "space_to_depth", "depth_to_space", "fourier_shift", "interpolated_view",
]
