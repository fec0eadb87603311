"""Fifth-order WENO face values (WENO5-JS and WENO5-Z) on periodic arrays.

Interpretation of the input values
----------------------------------
The inputs are **cell averages** and the output is the **point value at the
face** ``i+1/2`` (between cell ``i`` and cell ``i+1``): this is the classical
finite-volume WENO5 reconstruction of Jiang & Shu (1996).

Why this one: jax-cfd advances every quantity in flux form,
``dc/dt = -(F_{i+1/2} - F_{i-1/2}) / dx``, i.e. it treats the stored value of
``c`` as the average over its control volume and needs the flux (a value) on
the control-volume faces.  Reconstruction from averages is the consistent
reading of that update, and the ideal weights prescribed for the baseline,
``(1/10, 6/10, 3/10)``, are exactly those of the average-to-face
reconstruction (point-value interpolation would need ``(1/16, 10/16, 5/16)``
and different candidate stencils).  The tests measure the error against the
exact face value of the function whose cell averages are given.

Formulas (left-biased stencil ``c_{i-2} .. c_{i+2}``, used for velocity >= 0)
---------------------------------------------------------------------------
Candidate reconstructions of the face value from three 3-cell stencils::

    q0 = ( 2 c_{i-2} - 7 c_{i-1} + 11 c_i    ) / 6
    q1 = (  -c_{i-1} + 5 c_i     +  2 c_{i+1}) / 6
    q2 = ( 2 c_i     + 5 c_{i+1} -    c_{i+2}) / 6

Ideal weights ``d = (1/10, 6/10, 3/10)`` (their combination is the fifth-order
upwind-biased reconstruction).  Jiang--Shu smoothness indicators::

    b0 = 13/12 (c_{i-2} - 2 c_{i-1} + c_i)^2     + 1/4 (c_{i-2} - 4 c_{i-1} + 3 c_i)^2
    b1 = 13/12 (c_{i-1} - 2 c_i     + c_{i+1})^2 + 1/4 (c_{i-1} - c_{i+1})^2
    b2 = 13/12 (c_i     - 2 c_{i+1} + c_{i+2})^2 + 1/4 (3 c_i - 4 c_{i+1} + c_{i+2})^2

Nonlinear weights ``w_k = a_k / sum(a)`` with

- WENO5-JS: ``a_k = d_k / (eps + b_k)^2``
- WENO5-Z:  ``a_k = d_k (1 + (tau5 / (b_k + eps))^p)``, ``tau5 = |b0 - b2|``.

The right-biased value at the same face (velocity < 0) uses the mirror stencil
``c_{i+3} .. c_{i-1}`` in the same formulas.

``eps`` is absolute (default ``1e-6``, as in Jiang & Shu), so the weights are
not scale-invariant: for data of a very different magnitude than O(1) scale
``eps`` with the square of the data scale.

Optional monotonicity-preserving bound (``monotone=True``)
----------------------------------------------------------
WENO is essentially non-oscillatory, not monotone: at a jump the face value
overshoots by O(eps) (measured 3.5e-4 of the jump for WENO5-JS, 1.7e-4 for
WENO5-Z after one period of a square wave, see ``docs/solvers.md``).  With
``monotone=True`` the WENO face value ``u_f`` is clipped into the
monotonicity-preserving interval of Suresh & Huynh (1997, "Accurate
monotonicity-preserving schemes with Runge--Kutta time stepping", J. Comput.
Phys. 136, 83--99), the bound of their MP5 scheme.  In the notation of the
left-biased stencil (``u_j = c_i``, ``u_{j+k} = c_{i+k}``, face ``j+1/2``)::

    minmod(a, b)  = sign(a) min(|a|, |b|) if sign(a) == sign(b) else 0
    minmod(a, b, c, d) = minmod(minmod(a, b), minmod(c, d))
    median(x, lo, hi)  = x + minmod(lo - x, hi - x)

    u_MP  = u_j + minmod(u_{j+1} - u_j, alpha (u_j - u_{j-1}))
    d_k   = u_{k-1} - 2 u_k + u_{k+1}                  (k = j-1, j, j+1)
    dM4_{j+1/2} = minmod(4 d_j - d_{j+1}, 4 d_{j+1} - d_j, d_j, d_{j+1})
    dM4_{j-1/2} = minmod(4 d_j - d_{j-1}, 4 d_{j-1} - d_j, d_j, d_{j-1})
    u_UL  = u_j + alpha (u_j - u_{j-1})                 (upper limit)
    u_MD  = (u_j + u_{j+1}) / 2 - dM4_{j+1/2} / 2       (median)
    u_LC  = u_j + (u_j - u_{j-1}) / 2 + 4/3 dM4_{j-1/2} (large curvature)
    u_min = max(min(u_j, u_{j+1}, u_MD), min(u_j, u_UL, u_LC))
    u_max = min(max(u_j, u_{j+1}, u_MD), max(u_j, u_UL, u_LC))

    u_f  <-  median(u_f, u_min, u_max)   where (u_f - u_j)(u_f - u_MP) > mp_eps
    u_f  <-  u_f                         elsewhere

(Suresh & Huynh, section 2: ``u_MP`` and the "no limiting" test, the
curvature measures ``dM4`` and the limits ``u_UL``, ``u_MD``, ``u_LC``.)
The right-biased value (velocity < 0) uses the same formulas on
the mirror stencil, ``u_{j+k} = c_{i+1-k}``, exactly like the WENO value
itself, so the bound is symmetric under reflection.

- ``mp_alpha`` (``alpha``, default 4 as in the paper): Suresh & Huynh's
  monotonicity-preservation argument for forward Euler -- hence for SSP-RK3,
  a convex combination of Euler steps -- needs the Courant number
  ``C = |a| dt / dx <= 1 / (1 + alpha)``: 0.2 for ``alpha = 4``, 0.4 for
  ``alpha = 1.5`` (:func:`mp_alpha_for_courant`).  Above that the bound only
  reduces the overshoot (square wave, CFL 0.4, ``alpha = 4``: 1.2e-5 of the
  jump in float32).  It is not strictly TVD: ``u_MD`` / ``u_LC`` widen the
  interval so that smooth extrema survive, and within the CFL condition the
  square wave still shows new extrema of up to ~1e-7 of the jump (measured
  8.8e-8, WENO5-Z, N=64, CFL 0.4, ``alpha = 1.5``; <= 1e-19 at N=128).
- ``mp_eps`` (default 0): the threshold of the "no limiting needed" test.
  Suresh & Huynh use 1e-10 to skip work in scalar code; here both branches
  are computed anyway, and an absolute 1e-10 lets face overshoots of up to
  ``sqrt(1e-10) = 1e-5`` through (measured: 1.7e-5 to 2.0e-5 new extrema,
  ``python experiments/weno_square_wave.py --mp-eps 1e-10``), so the default
  is 0.

The bound is built from ``min``/``max``/``minmod`` and ``where`` only: it is
jit-compatible and differentiable almost everywhere (piecewise linear in the
data and the WENO value; gradients are finite everywhere).  It is designed to
leave smooth data untouched except possibly at extrema; on ``sin(2 pi x)``
(N = 32 .. 256, several phases, ``alpha`` 4 or 1.5) it changes no face value
at all, so the fifth-order convergence is kept (tested).

Everything is pure ``jax.numpy`` with periodic ``jnp.roll`` along ``axis``:
vectorised over any number of other axes, jit-compatible, differentiable.
"""

from __future__ import annotations

import jax.numpy as jnp

Array = jnp.ndarray

#: Accepted values of ``scheme``.
WENO_SCHEMES = ("js", "z")

_D0, _D1, _D2 = 0.1, 0.6, 0.3


def check_scheme(scheme: str) -> str:
    """``scheme`` if it is one of :data:`WENO_SCHEMES`, else a ``ValueError`` naming it."""
    if scheme not in WENO_SCHEMES:
        raise ValueError(
            f"unknown WENO scheme {scheme!r}; accepted: "
            + ", ".join(repr(s) for s in WENO_SCHEMES)
        )
    return scheme


def check_axis(c: Array, axis: int, min_cells: int = 5,
                what: str = "WENO5") -> int:
    """``axis`` of ``c`` as a valid integer axis holding at least ``min_cells`` cells.

    Raises:
        ValueError: ``c`` is a scalar, ``axis`` is out of range, or the axis
            has fewer than ``min_cells`` cells (``what`` names the stencil).
    """
    ndim = jnp.ndim(c)
    if ndim == 0:
        raise ValueError("c must have at least one dimension, got a scalar")
    if not isinstance(axis, int) or not -ndim <= axis < ndim:
        raise ValueError(
            f"axis={axis!r} is out of range for an array of {ndim} dimension(s); "
            f"accepted: integers in [{-ndim}, {ndim - 1}]"
        )
    n = jnp.shape(c)[axis]
    if n < min_cells:
        raise ValueError(
            f"{what} needs at least {min_cells} cells along axis {axis}, got {n}"
        )
    return axis % ndim


def check_params(eps: float, p: float, mp_alpha: float = 4.0,
                  mp_eps: float = 0.0) -> None:
    """Check the WENO5 parameters: ``eps`` > 0, ``p`` >= 1, ``mp_alpha`` > 0, ``mp_eps`` >= 0.

    Raises:
        ValueError: naming the first parameter out of range.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (WENO5-Z uses 1 or 2), got {p!r}")
    if not mp_alpha > 0:
        raise ValueError(f"mp_alpha must be > 0 (Suresh-Huynh use 4), got {mp_alpha!r}")
    if not mp_eps >= 0:
        raise ValueError(f"mp_eps must be >= 0, got {mp_eps!r}")


def _minmod(a: Array, b: Array) -> Array:
    """``sign(a) min(|a|, |b|)`` where ``a`` and ``b`` have the same strict
    sign, else 0."""
    zero = jnp.zeros_like(a + b)
    return jnp.where((a > 0) & (b > 0), jnp.minimum(a, b),
                     jnp.where((a < 0) & (b < 0), jnp.maximum(a, b), zero))


def _median(x: Array, lo: Array, hi: Array) -> Array:
    """The median of three numbers, ``x + minmod(lo - x, hi - x)``."""
    return x + _minmod(lo - x, hi - x)


def _mp5_bound(
    face: Array, cm2: Array, cm1: Array, c0: Array, cp1: Array, cp2: Array,
    mp_alpha: float, mp_eps: float,
) -> Array:
    """Suresh--Huynh monotonicity-preserving bound of the face value ``face``
    at the right face of cell ``c0``; stencil ordered as in
    :func:`_weno5_from_stencil`.  Formulas in the module docstring."""
    d_back = c0 - cm1
    u_mp = c0 + _minmod(cp1 - c0, mp_alpha * d_back)
    curv_m = cm2 - 2.0 * cm1 + c0
    curv_0 = cm1 - 2.0 * c0 + cp1
    curv_p = c0 - 2.0 * cp1 + cp2
    dm4_p = _minmod(_minmod(4.0 * curv_0 - curv_p, 4.0 * curv_p - curv_0),
                    _minmod(curv_0, curv_p))
    dm4_m = _minmod(_minmod(4.0 * curv_0 - curv_m, 4.0 * curv_m - curv_0),
                    _minmod(curv_0, curv_m))
    u_ul = c0 + mp_alpha * d_back
    u_md = 0.5 * (c0 + cp1) - 0.5 * dm4_p
    u_lc = c0 + 0.5 * d_back + (4.0 / 3.0) * dm4_m
    u_min = jnp.maximum(jnp.minimum(jnp.minimum(c0, cp1), u_md),
                        jnp.minimum(jnp.minimum(c0, u_ul), u_lc))
    u_max = jnp.minimum(jnp.maximum(jnp.maximum(c0, cp1), u_md),
                        jnp.maximum(jnp.maximum(c0, u_ul), u_lc))
    needs_limit = (face - c0) * (face - u_mp) > mp_eps
    return jnp.where(needs_limit, _median(face, u_min, u_max), face)


def _weno5_from_stencil(
    cm2: Array, cm1: Array, c0: Array, cp1: Array, cp2: Array,
    scheme: str, eps: float, p: float, monotone: bool = False,
    mp_alpha: float = 4.0, mp_eps: float = 0.0,
) -> Array:
    """Reconstruct the value at the right face of cell ``c0``.

    ``cm2 .. cp2`` are the five cells of the stencil ordered in the upwind
    direction (``cm2`` furthest upwind).  Any shapes that broadcast.  With
    ``monotone`` the value is passed through :func:`_mp5_bound`.
    """
    q0 = (2.0 * cm2 - 7.0 * cm1 + 11.0 * c0) / 6.0
    q1 = (-cm1 + 5.0 * c0 + 2.0 * cp1) / 6.0
    q2 = (2.0 * c0 + 5.0 * cp1 - cp2) / 6.0

    b0 = (13.0 / 12.0) * (cm2 - 2.0 * cm1 + c0) ** 2 + 0.25 * (
        cm2 - 4.0 * cm1 + 3.0 * c0) ** 2
    b1 = (13.0 / 12.0) * (cm1 - 2.0 * c0 + cp1) ** 2 + 0.25 * (cm1 - cp1) ** 2
    b2 = (13.0 / 12.0) * (c0 - 2.0 * cp1 + cp2) ** 2 + 0.25 * (
        3.0 * c0 - 4.0 * cp1 + cp2) ** 2

    if scheme == "js":
        a0 = _D0 / (eps + b0) ** 2
        a1 = _D1 / (eps + b1) ** 2
        a2 = _D2 / (eps + b2) ** 2
    else:  # "z"
        tau5 = jnp.abs(b0 - b2)
        a0 = _D0 * (1.0 + (tau5 / (b0 + eps)) ** p)
        a1 = _D1 * (1.0 + (tau5 / (b1 + eps)) ** p)
        a2 = _D2 * (1.0 + (tau5 / (b2 + eps)) ** p)
    face = (a0 * q0 + a1 * q1 + a2 * q2) / (a0 + a1 + a2)
    if monotone:
        face = _mp5_bound(face, cm2, cm1, c0, cp1, cp2, mp_alpha, mp_eps)
    return face


def mp_alpha_for_courant(courant: float, alpha_max: float = 4.0) -> float:
    """The largest ``alpha <= alpha_max`` with ``courant <= 1 / (1 + alpha)``.

    ``min(alpha_max, 1 / courant - 1)`` (``alpha_max`` for ``courant == 0``):
    the largest ``mp_alpha`` for which the Suresh--Huynh CFL condition of the
    monotonicity-preserving bound holds at Courant number ``courant`` (forward
    Euler or SSP-RK3), which must be in ``[0, 1)``.  Above 1/2 the result is < 1, and the bound may
    then clip smooth monotone data too (it costs accuracy).
    """
    courant = float(courant)
    if not 0 <= courant < 1:
        raise ValueError(
            f"the Courant number must be in [0, 1) for the MP bound, got {courant!r}")
    if courant == 0:
        return float(alpha_max)
    return min(float(alpha_max), 1.0 / courant - 1.0)


def _shift(c: Array, k: int, axis: int) -> Array:
    """Periodic shift: ``_shift(c, k)[i] == c[i + k]`` along ``axis``."""
    return jnp.roll(c, -k, axis=axis)


def weno5_left(
    c: Array, axis: int = -1, scheme: str = "js", eps: float = 1e-6,
    p: float = 2, *, monotone: bool = False, mp_alpha: float = 4.0,
    mp_eps: float = 0.0,
) -> Array:
    """Face value at ``i+1/2`` from the left-biased stencil ``i-2 .. i+2``.

    The upwind reconstruction for a non-negative advecting velocity.
    ``c`` holds cell averages, periodic along ``axis``; the result has the same
    shape and entry ``i`` along ``axis`` is the value at face ``i+1/2``.

    With ``monotone=True`` the value is clipped by the Suresh--Huynh
    monotonicity-preserving bound (parameters ``mp_alpha``, ``mp_eps``; see
    the module docstring).
    """
    check_scheme(scheme)
    check_params(eps, p, mp_alpha, mp_eps)
    axis = check_axis(c, axis)
    c = jnp.asarray(c)
    s = lambda k: _shift(c, k, axis)  # noqa: E731
    return _weno5_from_stencil(s(-2), s(-1), c, s(1), s(2), scheme, eps, p,
                               monotone, mp_alpha, mp_eps)


def weno5_right(
    c: Array, axis: int = -1, scheme: str = "js", eps: float = 1e-6,
    p: float = 2, *, monotone: bool = False, mp_alpha: float = 4.0,
    mp_eps: float = 0.0,
) -> Array:
    """Face value at ``i+1/2`` from the right-biased stencil ``i-1 .. i+3``.

    The upwind reconstruction for a negative advecting velocity: the mirror
    image of :func:`weno5_left` (the cell ``i+1`` plays the role of ``i``);
    the optional monotonicity-preserving bound is mirrored the same way.

    With ``monotone=True`` the value is clipped by the Suresh--Huynh
    monotonicity-preserving bound (parameters ``mp_alpha``, ``mp_eps``; see
    the module docstring).
    """
    check_scheme(scheme)
    check_params(eps, p, mp_alpha, mp_eps)
    axis = check_axis(c, axis)
    c = jnp.asarray(c)
    s = lambda k: _shift(c, k, axis)  # noqa: E731
    return _weno5_from_stencil(s(3), s(2), s(1), c, s(-1), scheme, eps, p,
                               monotone, mp_alpha, mp_eps)


def weno5_face_values(
    c: Array, axis: int, upwind_positive: bool | Array,
    scheme: str = "js", eps: float = 1e-6, p: float = 2, *,
    monotone: bool = False, mp_alpha: float = 4.0, mp_eps: float = 0.0,
) -> Array:
    """Upwinded WENO5 face values at ``i+1/2`` along ``axis``.

    Args:
      c: cell averages, periodic along ``axis``.
      axis: the axis to reconstruct along.
      upwind_positive: boolean (scalar or array broadcastable to ``c``), True
        where the advecting velocity at face ``i+1/2`` is >= 0 (take the
        left-biased value), False where it is < 0 (take the right-biased one).
      scheme: ``'js'`` (WENO5-JS) or ``'z'`` (WENO5-Z).
      eps: the small constant in the weights.
      p: the exponent of WENO5-Z (ignored by WENO5-JS).
      monotone: clip each one-sided value by the Suresh--Huynh
        monotonicity-preserving bound (module docstring; default off).
      mp_alpha: ``alpha`` of that bound (> 0); no new extrema when the
        Courant number is ``<= 1 / (1 + mp_alpha)``.
      mp_eps: the bound is applied where
        ``(u_f - u_j)(u_f - u_MP) > mp_eps`` (>= 0).

    Returns:
      Array shaped like ``c``; entry ``i`` along ``axis`` is the value at the
        face between cells ``i`` and ``i+1``.
    """
    check_scheme(scheme)
    check_params(eps, p, mp_alpha, mp_eps)
    axis = check_axis(c, axis)
    c = jnp.asarray(c)
    s = lambda k: _shift(c, k, axis)  # noqa: E731
    # Both one-sided reconstructions in one pass: the left-biased stencil and
    # its mirror are stacked on a new leading axis (same arithmetic as
    # weno5_left / weno5_right, half the operations in the traced graph).
    c0, cp1, cp2 = c, s(1), s(2)
    cm1, cm2, cp3 = s(-1), s(-2), s(3)
    both = _weno5_from_stencil(
        jnp.stack([cm2, cp3]), jnp.stack([cm1, cp2]), jnp.stack([c0, cp1]),
        jnp.stack([cp1, c0]), jnp.stack([cp2, cm1]), scheme, eps, p,
        monotone, mp_alpha, mp_eps)
    return jnp.where(upwind_positive, both[0], both[1])


def weno5_upwind(
    c: Array, axis: int, velocity: Array, scheme: str = "js",
    eps: float = 1e-6, p: float = 2, *, monotone: bool = False,
    mp_alpha: float = 4.0, mp_eps: float = 0.0,
) -> Array:
    """WENO5 face values upwinded by the sign of ``velocity``.

    ``velocity`` holds the advecting velocity at the faces ``i+1/2`` (same
    indexing as the result); velocity >= 0 takes the left-biased value,
    velocity < 0 the right-biased one.  ``monotone``, ``mp_alpha``, ``mp_eps``:
    the optional monotonicity-preserving bound, see :func:`weno5_face_values`.
    """
    return weno5_face_values(
        c, axis, jnp.asarray(velocity) >= 0, scheme=scheme, eps=eps, p=p,
        monotone=monotone, mp_alpha=mp_alpha, mp_eps=mp_eps)


__all__ = [
    "WENO_SCHEMES",
    "check_axis",
    "check_params",
    "check_scheme",
    "mp_alpha_for_courant",
    "weno5_left",
    "weno5_right",
    "weno5_face_values",
    "weno5_upwind",
]
