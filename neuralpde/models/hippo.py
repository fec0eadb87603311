r"""HiPPO memory operators (the temporal memory of TSM).

Temporal Stencil Modeling (TSM; Sun, Yang & Yoo, ICML 2023) compresses the
time series of every grid cell's velocity into the coefficients of a HiPPO
memory (Gu et al., NeurIPS 2020): a linear ODE, driven by the input
:math:`u(t)`, whose state :math:`x(t)\in\mathbb R^N` is the projection of the
input's history on ``N`` orthogonal functions.

Convention: :math:`\dot x = A x + B u` with the minus sign inside ``A``. Time
is measured in the unit of ``dt`` and ``theta`` (a frame when ``dt = 1``).

Measures (continuous operators, float64 numpy):

* **LagT** (:func:`lagt`, TSM's published choice), exponentially decaying
  Laguerre memory of the whole history:
  :math:`A = -(L + aI)`, :math:`B = b\,\mathbf 1`, with ``L`` the lower
  triangular matrix of ones (diagonal included), published ``a = -1/2``,
  ``b = 1``. For ``a > -1`` it is exactly
  :math:`x_n(t) = b\int_0^\infty u(t-\tau)\,L_n(\tau)\,e^{-(1+a)\tau}\,d\tau`
  (:math:`L_n` the Laguerre polynomials), so
  :math:`u(t-\tau) \approx b^{-1} e^{a\tau}\sum_n x_n L_n(\tau)`.
* **LegT** (:func:`legt`), translated Legendre on the sliding window
  :math:`[t-\theta, t]`, with :math:`\lambda_n=\sqrt{2n+1}`:
  :math:`A_{nk} = -\tfrac1\theta\lambda_n\lambda_k\,(1 \text{ if } k\le n
  \text{ else } (-1)^{n-k})`, :math:`B_n = \tfrac1\theta\lambda_n`;
  :math:`x_n(t) = \tfrac1\theta\int_{t-\theta}^t u(r)\,\lambda_n
  P_n\!\big(2\tfrac{r-t}{\theta}+1\big)\,dr` (up to the closure
  :math:`u(t-\theta)\approx\sum_k x_k\lambda_k(-1)^k` that makes it an ODE).
* **LegS** (:func:`legs`), scaled Legendre on the whole history
  :math:`[0, t]`, time-varying:
  :math:`\dot x = \tfrac1t (A x + B u)`, :math:`A_{nk} = -\lambda_n\lambda_k`
  (n > k), :math:`-(n+1)` (n = k), 0 (n < k); :math:`B_n = \lambda_n`;
  :math:`x_n(t) = \tfrac1t\int_0^t u(r)\,\lambda_n P_n(2r/t - 1)\,dr`.

Reconstruction (:meth:`HiPPO.reconstruct`, relative position
:math:`s\in[0,1]` of the represented window, ``s = 1`` the most recent time):

.. math::

    \text{LegT: } u\big(t-\theta(1-s)\big) \approx \sum_n x_n \lambda_n P_n(2s-1),
    \qquad
    \text{LegS: } u(s\,t) \approx \sum_n x_n \lambda_n P_n(2s-1).

Discretisation: bilinear (Tustin), in float64,

.. math::

    x_{k+1} = (I - \tfrac{\Delta t}2 A)^{-1}\big[(I + \tfrac{\Delta t}2 A)\,x_k
              + \Delta t\, B\, u_k\big] = A_d x_k + B_d u_k .

For LegS, step ``k = 0, 1, 2, ...`` ends at :math:`t_{k} = (k+1)\Delta t`, so
:math:`\Delta t A/t_k = A/(k+1)`: the update (the standard HiPPO-LegS
bilinear form) is independent of ``dt`` and takes the step index. Every
measure's discretisation keeps the continuous fixed point
:math:`x^\ast = -A^{-1}Bc` of a constant input ``c``.

Sampling: step ``k`` integrates over :math:`[k\Delta t, (k+1)\Delta t]` with
the frame :math:`u_k` standing for the input at the middle of that interval
(the bilinear rule is second order for this reading), so after ``K`` frames
the memory describes the history up to :math:`t = K\Delta t`, frame ``j``
sitting at time :math:`(j+\tfrac12)\Delta t`.

Layout: memory coefficients ``(..., N)`` (order axis last, any leading axes,
e.g. ``(2, n, n, N)`` for every velocity component of every cell) in a
:class:`Memory` pytree that also counts the frames consumed. The float64
operators are cast to the memory's dtype when applied.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import ConfigError, require

__all__ = ["MEASURES", "HiPPO", "Memory", "bilinear", "lagt", "legs", "legt", "make_hippo"]

#: The accepted measure names.
MEASURES = ("lagt", "legt", "legs")


def _require_order(N) -> None:
    require(isinstance(N, numbers.Integral) and not isinstance(N, bool) and N >= 1,
            "order", N, "an integer >= 1")


def _require_finite(name: str, value, accepted: str = "a finite number", positive=False) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    require(ok and (value > 0 if positive else True), name, value, accepted)


def lagt(N: int, a: float = -0.5, b: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """LagT operator ``A = -(L + a I)``, ``B = b·1`` (float64; TSM: ``a = -1/2``, ``b = 1``).

    ``a > -1`` (the eigenvalues ``-(1 + a)`` are then negative: a stable,
    invertible ``A``); ``b`` finite and non-zero.
    """
    _require_order(N)
    _require_finite("a", a, "a finite number > -1")
    require(a > -1, "a", a, "a finite number > -1")
    _require_finite("b", b, "a finite non-zero number")
    require(b != 0, "b", b, "a finite non-zero number")
    A = -(np.tril(np.ones((N, N))) + a * np.eye(N))
    return A, b * np.ones(N)


def legt(N: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    r"""LegT operator on a window of length ``theta`` (float64).

    ``A_nk = -λ_n λ_k (1 if k <= n else (-1)^(n-k)) / θ``, ``B_n = λ_n / θ``,
    ``λ_n = sqrt(2n + 1)``.
    """
    _require_order(N)
    _require_finite("theta", theta, "a finite number > 0", positive=True)
    lam = np.sqrt(2.0 * np.arange(N) + 1.0)
    n, k = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    sign = np.where(k <= n, 1.0, (-1.0) ** (n - k))
    return -np.outer(lam, lam) * sign / theta, lam / theta


def legs(N: int) -> tuple[np.ndarray, np.ndarray]:
    """LegS operator (float64) of ``x' = (A x + B u)/t``.

    ``A_nk = -λ_n λ_k`` (n > k), ``-(n + 1)`` (n = k), ``0`` (n < k); ``B_n = λ_n``.
    """
    _require_order(N)
    lam = np.sqrt(2.0 * np.arange(N) + 1.0)
    A = -np.tril(np.outer(lam, lam), -1) - np.diag(np.arange(N) + 1.0)
    return A, lam.copy()


def bilinear(A: np.ndarray, B: np.ndarray, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear (Tustin) discretisation ``(A_d, B_d)`` of ``x' = A x + B u`` (float64 numpy).

    ``A_d = (I - dt/2 A)^{-1} (I + dt/2 A)``, ``B_d = (I - dt/2 A)^{-1} dt B``.
    """
    _require_finite("dt", dt, "a finite number > 0", positive=True)
    A = np.asarray(A, np.float64)
    B = np.asarray(B, np.float64)
    eye = np.eye(A.shape[0])
    lhs = eye - 0.5 * dt * A
    return np.linalg.solve(lhs, eye + 0.5 * dt * A), np.linalg.solve(lhs, dt * B)


class Memory(NamedTuple):
    """A HiPPO memory state (a pytree).

    Attributes:
      coefficients: ``(..., N)`` the memory, order axis last.
      step: int32 scalar, the number of frames consumed (LegS's step index).
    """

    coefficients: jax.Array
    step: jax.Array


def _three_term(z: jax.Array, N: int, a, b, c) -> jax.Array:
    """``p_0 .. p_{N-1}`` of ``p_{n+1} = (a_n(z) p_n - b_n p_{n-1}) / c_n``, ``p_{-1} = 0``,
    ``p_0 = 1``."""
    def body(carry, n):
        previous, current = carry
        return (current, (a(n, z) * current - b(n) * previous) / c(n)), current
    n = jnp.arange(N, dtype=z.dtype)
    _, values = jax.lax.scan(body, (jnp.zeros_like(z), jnp.ones_like(z)), n)
    return jnp.moveaxis(values, 0, -1)


def _scaled_legendre(z: jax.Array, N: int) -> jax.Array:
    """``λ_n P_n(z)`` for ``n < N``, shape ``z.shape + (N,)``:
    ``(n+1)P_{n+1} = (2n+1) z P_n - n P_{n-1}``."""
    values = _three_term(z, N, lambda n, z: (2 * n + 1) * z, lambda n: n, lambda n: n + 1)
    return values * jnp.sqrt(2.0 * jnp.arange(N, dtype=z.dtype) + 1.0)


def _laguerre(x: jax.Array, N: int) -> jax.Array:
    """``L_n(x)`` for ``n < N``, shape ``x.shape + (N,)``:
    ``(n+1)L_{n+1} = (2n+1-x) L_n - n L_{n-1}``."""
    return _three_term(x, N, lambda n, x: 2 * n + 1 - x, lambda n: n, lambda n: n + 1)


@dataclasses.dataclass(frozen=True)
class HiPPO:
    """A discretised HiPPO memory of one measure (hashable; build it with :func:`make_hippo`).

    Attributes:
      measure: ``'lagt'``, ``'legt'`` or ``'legs'``.
      order: ``N``, the number of memory coefficients.
      dt: the step (time between frames; irrelevant for LegS).
      theta: LegT window length (``None`` for the other measures).
      a, b: LagT parameters (unused by the others).
    """

    measure: str
    order: int
    dt: float = 1.0
    theta: float | None = None
    a: float = -0.5
    b: float = 1.0

    @property
    def continuous(self) -> tuple[np.ndarray, np.ndarray]:
        """The continuous ``(A, B)`` (float64 numpy; LegS: of ``x' = (A x + B u)/t``)."""
        return _continuous(self)

    def discrete(self, step: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The float64 ``(A_d, B_d)`` of one update (LegS: of step ``step``, ``A/(step+1)``)."""
        require(isinstance(step, numbers.Integral) and step >= 0, "step", step, "an integer >= 0")
        A, B = self.continuous
        if self.measure == "legs":
            return bilinear(A / (step + 1), B / (step + 1), 1.0)
        return _discrete(self)

    def init(self, shape: tuple[int, ...] = (), dtype=jnp.float32) -> Memory:
        """The empty memory: zero coefficients ``shape + (N,)``, step 0."""
        return Memory(jnp.zeros(tuple(shape) + (self.order,), dtype), jnp.zeros((), jnp.int32))

    def update(self, memory: Memory, u: jax.Array) -> Memory:
        """Consume one frame ``u`` (shape ``memory.coefficients.shape[:-1]``): O(N²) per entry.

        LagT/LegT: ``x ← A_d x + B_d u``. LegS: the bilinear step with
        ``A/(k+1)``, ``k = memory.step`` (a triangular solve, traced ``k``).
        """
        x = memory.coefficients
        u = jnp.asarray(u, x.dtype)
        if self.measure == "legs":
            A, B = (jnp.asarray(m, x.dtype) for m in self.continuous)
            h = 0.5 / (jnp.asarray(memory.step) + 1).astype(x.dtype)
            rhs = x + h * (x @ A.T) + (2 * h) * u[..., None] * B
            lhs = jnp.eye(self.order, dtype=x.dtype) - h * A
            flat = rhs.reshape(-1, self.order).T
            new = jax.scipy.linalg.solve_triangular(lhs, flat, lower=True).T.reshape(x.shape)
        else:
            Ad, Bd = (jnp.asarray(m, x.dtype) for m in _discrete(self))
            new = x @ Ad.T + u[..., None] * Bd
        return Memory(new, memory.step + 1)

    def encode(self, u_frames: jax.Array, axis: int = 0, memory: Memory | None = None,
               dtype=None) -> Memory:
        """The memory after consuming the frames stacked along ``axis`` (from ``memory``, default
        empty).

        Equal to ``K`` calls of :meth:`update` up to round-off. LagT/LegT: one
        contraction with the precomputed kernels ``A_d^{K-1-j} B_d`` (float64,
        cached per ``K``), O(K N) per entry plus ``A_d^K x_0`` if ``memory`` is
        given. LegS: a ``lax.scan`` of updates, O(K N²) per entry.
        """
        u = jnp.moveaxis(jnp.asarray(u_frames), axis, 0)
        empty = memory is None
        if empty:
            dtype = dtype or (u.dtype if jnp.issubdtype(u.dtype, jnp.floating) else jnp.float32)
            memory = self.init(u.shape[1:], dtype)
        x = memory.coefficients
        n_frames = u.shape[0]
        if self.measure == "legs":
            def body(mem, frame):
                return self.update(mem, frame), None
            memory, _ = jax.lax.scan(body, memory, u.astype(x.dtype))
            return memory
        power, kernels = (jnp.asarray(m, x.dtype) for m in _kernels(self, n_frames))
        # From an empty memory A_d^K x_0 = 0 is left out: under jit XLA would
        # otherwise constant-fold the zeros @ power product (tens of seconds at N = 256).
        return Memory(_convolve(None if empty else x, power, u.astype(x.dtype), kernels),
                      memory.step + n_frames)

    def reconstruct(self, memory: Memory, s: jax.Array) -> jax.Array:
        """The history the memory represents at relative positions ``s ∈ [0, 1]`` (1 = most recent).

        LegT: ``u(t - θ(1-s))``; LegS: ``u(s t)``; both ``≈ Σ_n x_n λ_n P_n(2s - 1)``.
        Returns shape ``coefficients.shape[:-1] + s.shape``. LagT has no finite
        window: use :meth:`reconstruct_lag`.
        """
        if self.measure == "lagt":
            raise NotImplementedError("LagT memories span the whole, exponentially weighted "
                                      "history and have no window to place s in [0, 1]: use "
                                      "reconstruct_lag")
        x = memory.coefficients
        basis = _scaled_legendre(2.0 * jnp.asarray(s, x.dtype) - 1.0, self.order)
        return jnp.tensordot(x, basis, axes=([-1], [-1]))

    def reconstruct_lag(self, memory: Memory, lag: jax.Array) -> jax.Array:
        """The represented history ``u(t - lag)``, ``lag >= 0`` in time units, ``t = step·dt``.

        LagT: ``b^{-1} e^{a·lag} Σ_n x_n L_n(lag)``; LegT: :meth:`reconstruct` at
        ``s = 1 - lag/θ``; LegS: at ``s = 1 - lag/t``. Shape as :meth:`reconstruct`.
        """
        x = memory.coefficients
        lag = jnp.asarray(lag, x.dtype)
        if self.measure == "lagt":
            basis = _laguerre(lag, self.order) * (jnp.exp(self.a * lag) / self.b)[..., None]
            return jnp.tensordot(x, basis, axes=([-1], [-1]))
        window = self.theta if self.measure == "legt" else memory.step.astype(x.dtype) * self.dt
        return self.reconstruct(memory, 1.0 - lag / window)

    def memory_frames(self, tolerance: float = 0.01, max_frames: int = 1_000_000) -> int | None:
        r"""Frames of history the memory needs before its statistics stop depending on its start.

        The memory after ``K`` frames started from zero is
        :math:`x_K = \sum_{j<K} \mathbf k_j\,u_{K-1-j}` with the kernel
        :math:`\mathbf k_j = A_d^j B_d` (``j`` frames ago).  For an input with
        short correlation the variance of order ``n`` is about
        :math:`\sum_j k_{j,n}^2 \operatorname{var} u`, so a memory encoded from
        zero over ``H`` frames has, order by order, all but the tail fraction
        :math:`\sum_{j\ge H} k_{j,n}^2 / \sum_j k_{j,n}^2` of the variance
        the memory carried along a long rollout has.  Returns the smallest ``H``
        whose tail fraction is at most ``tolerance`` for every order (0.01: each
        order's RMS within 0.5 %).  Measured (dt = 1 frame): LagT N = 8: 34,
        N = 32: 131, N = 256 (TSM's published order): 1027; LegT N = 8, θ = 16:
        18 (θ plus the closure's leak).

        LegS returns ``None``: it weighs the whole history uniformly and never
        forgets, so no finite history makes it stationary.

        Method (fast at any order: O(N³ log H) time, O(N² log H) memory, no
        frame-by-frame loop): the squared kernels sum to the diagonal of the
        Gram matrix :math:`P = \sum_j \mathbf k_j \mathbf k_j^\top`, built by
        doubling, :math:`P_{2m} = P_m + A_d^m P_m A_d^{m\top}` with the powers
        :math:`A_d^{2^k}` by repeated squaring, until a doubling adds less than
        1e-14 of every order's sum (or ``max_frames`` is reached: then
        :class:`~neuralpde.config.ConfigError`).  The tail after ``H`` frames
        is :math:`\operatorname{diag}(A_d^H P A_d^{H\top})`, non-increasing
        in ``H``, so the smallest settled ``H`` is found by bisection on its
        binary digits (from the largest power down) with the same stored
        powers.  It returns the values of the frame-by-frame sum it replaced
        (LagT/LegT, N = 1 ... 40, 48, 64, 96, 128, 256, several θ and dt,
        checked equal; ``tests/test_hippo.py`` pins N = 8, 32 and the mini
        default) and takes about 3 s at LegT N = 512, θ = 16 (13,954 frames)
        and 6 s at LagT N = 1024 on 2 CPU cores, where the frame-by-frame
        sum took minutes.

        Raises :class:`~neuralpde.config.ConfigError` for a tolerance outside (0, 1).
        """
        require(isinstance(tolerance, numbers.Real) and 0 < tolerance < 1, "tolerance",
                tolerance, "a number in (0, 1)")
        if self.measure == "legs":
            return None
        return _memory_frames(self, float(tolerance), int(max_frames))

    def fixed_point(self, c: jax.Array) -> jax.Array:
        """The memory ``-A^{-1} B c`` that a constant input ``c`` settles to, shape
        ``c.shape + (N,)``.

        Exact for the discretised updates too (bilinear keeps fixed points).
        LegT and LegS: ``c e_0`` (a constant window); LagT with ``a = -1/2``:
        ``2 b c (-1)^n``. LegS approaches it algebraically, LagT/LegT geometrically.
        """
        A, B = self.continuous
        direction = -np.linalg.solve(A, B)
        c = jnp.asarray(c)
        dtype = c.dtype if jnp.issubdtype(c.dtype, jnp.floating) else jnp.float32
        return c.astype(dtype)[..., None] * jnp.asarray(direction, dtype)


@jax.jit
def _convolve(x, power, u, kernels):
    """``x_K = A_d^K x_0 + Σ_j (A_d^{K-1-j} B_d) u_j`` (frames on axis 0 of ``u``;
    ``x_0 = None``: 0)."""
    inputs = jnp.tensordot(u, kernels, axes=([0], [0]))
    return inputs if x is None else x @ power.T + inputs


@functools.cache
def _continuous(hippo: HiPPO) -> tuple[np.ndarray, np.ndarray]:
    if hippo.measure == "lagt":
        return lagt(hippo.order, hippo.a, hippo.b)
    if hippo.measure == "legt":
        return legt(hippo.order, hippo.theta)
    return legs(hippo.order)


@functools.cache
def _discrete(hippo: HiPPO) -> tuple[np.ndarray, np.ndarray]:
    return bilinear(*_continuous(hippo), hippo.dt)


@functools.lru_cache(maxsize=64)
def _memory_frames(hippo: HiPPO, tolerance: float, max_frames: int) -> int:
    """:meth:`HiPPO.memory_frames` by doubling and bisection (O(N³ log H), docstring there)."""
    Ad, Bd = (np.asarray(m, np.float64) for m in _discrete(hippo))
    # doubling: powers[k] = A_d^(2^k); gram = Σ_{j<2^(k+1)} k_j k_jᵀ after level k
    powers, gram = [Ad], np.outer(Bd, Bd)
    while True:
        power = powers[-1]
        increment = power @ gram @ power.T              # the kernels of frames 2^k ... 2^(k+1) - 1
        gram = gram + increment
        if len(powers) > 3 and np.all(np.diag(increment) < 1e-14 * np.diag(gram - increment)):
            break
        if 2 ** len(powers) >= max_frames:
            raise ConfigError(f"the {hippo.measure} memory's kernel has not decayed after "
                              f"{max_frames} frames")
        powers.append(power @ power)
    total = np.diag(gram)

    def settled(power: np.ndarray) -> bool:  # tail(H) = diag(A^H P A^Hᵀ) <= tolerance · total
        return bool(np.all(np.einsum("ij,ij->i", power @ gram, power) <= tolerance * total))

    unsettled, power = 0, np.eye(hippo.order)           # the largest H whose tail is too large
    for k in range(len(powers) - 1, -1, -1):
        candidate = power @ powers[k]
        if not settled(candidate):
            unsettled, power = unsettled + 2 ** k, candidate
    return unsettled + 1


@functools.lru_cache(maxsize=64)
def _kernels(hippo: HiPPO, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A_d^K, [A_d^{K-1-j} B_d]_j)`` in float64 for the time-invariant measures."""
    Ad, Bd = _discrete(hippo)
    kernels = np.empty((n_frames, hippo.order))
    vector = Bd
    for j in range(n_frames - 1, -1, -1):
        kernels[j] = vector
        vector = Ad @ vector
    return np.linalg.matrix_power(Ad, n_frames), kernels


def make_hippo(measure: str, order: int, dt: float = 1.0, theta: float | None = None,
               a: float = -0.5, b: float = 1.0) -> HiPPO:
    """A validated :class:`HiPPO` memory.

    Args:
      measure: ``'lagt'`` (TSM's), ``'legt'`` or ``'legs'``.
      order: ``N``, integer >= 1.
      dt: step between frames (> 0; default one frame).
      theta: LegT window length (> 0, same unit as ``dt``); required for
        ``'legt'``, must be ``None`` otherwise.
      a: LagT parameter (``a > -1``; published ``-1/2``).
      b: LagT parameter (``b != 0``; published ``1``).

    Raises :class:`~neuralpde.config.ConfigError` naming the bad value.
    """
    require(isinstance(measure, str) and measure in MEASURES, "measure", measure,
            f"one of {list(MEASURES)}")
    _require_order(order)
    _require_finite("dt", dt, "a finite number > 0", positive=True)
    if measure == "legt":
        _require_finite("theta", theta, "a finite number > 0 (the LegT window)", positive=True)
    else:
        require(theta is None, "theta", theta,
                f"None for measure {measure!r} (only 'legt' has a window)")
    if measure == "lagt":
        lagt(order, a, b)  # validates a and b
    return HiPPO(measure, int(order), float(dt), None if theta is None else float(theta),
                 float(a), float(b))
