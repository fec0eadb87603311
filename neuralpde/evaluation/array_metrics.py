"""Metrics on arrays (protocol §2): pure ``jax.numpy`` functions of the frames.

Every function takes arrays of shape ``(..., x, y)`` (axis -2 is x, axis -1 is
y, any leading batch dims such as sample and time), is jit-able and batches
over the leading dims: :func:`vorticity_correlation`, :func:`relative_l2_error`,
:func:`energy_spectrum` (with :func:`corner_shell`) and
:func:`high_correlation_duration` (on correlation curves ``(..., T)``);
:func:`vorticity`, :func:`kinetic_energy` and :func:`enstrophy` are
:mod:`neuralpde.physics.diagnostics`' own, re-exported here.  The metrics of
trajectory *datasets* (xarray in, xarray out, fed to these functions in chunks
of frames) are :mod:`neuralpde.evaluation.metrics`.

Grid conventions (fixed by the project): velocity on a staggered (MAC)
periodic grid of N×N cells on [0, L]², step dx = L/N.  ``u`` sits at offset
(1, 0.5) — x = (i+1)dx, y = (j+0.5)dx — and ``v`` at offset (0.5, 1).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.physics.diagnostics import enstrophy, kinetic_energy, vorticity

__all__ = [
    "vorticity",
    "vorticity_correlation",
    "kinetic_energy",
    "enstrophy",
    "relative_l2_error",
    "energy_spectrum",
    "corner_shell",
    "high_correlation_duration",
]

ArrayLike = jax.Array | np.ndarray

def vorticity_correlation(a: ArrayLike, b: ArrayLike) -> jax.Array:
    r"""Cosine similarity of two fields over the last two axes.

    .. math::

        \rho = \frac{\sum_{ij} a_{ij} b_{ij}}
                    {\sqrt{\sum_{ij} a_{ij}^2}\,\sqrt{\sum_{ij} b_{ij}^2}}

    No mean is subtracted (protocol §2).  Computed per leading index.

    Args:
      a: array ``(..., x, y)``, typically the predicted vorticity.
      b: array ``(..., x, y)``, typically the reference vorticity on the same grid.

    Returns:
      ρ in [-1, 1], shape ``(...)``.  NaN where either field has a non-finite
        value (a diverged rollout) or a zero norm; never raises.
    """
    a = jnp.asarray(a)
    b = jnp.asarray(b)
    axes = (-2, -1)
    num = jnp.sum(a * b, axis=axes)
    den = jnp.sqrt(jnp.sum(a * a, axis=axes)) * jnp.sqrt(jnp.sum(b * b, axis=axes))
    finite = jnp.all(jnp.isfinite(a), axis=axes) & jnp.all(jnp.isfinite(b), axis=axes)
    return jnp.where(finite, num / den, jnp.nan)


def relative_l2_error(up: ArrayLike, vp: ArrayLike, ur: ArrayLike, vr: ArrayLike) -> jax.Array:
    r"""Relative L2 error of a predicted velocity against a reference, per frame.

    .. math:: e = \frac{\| (u_p, v_p) - (u_r, v_r) \|_2}{\| (u_r, v_r) \|_2}

    over the grid and both components (NaN for a non-finite prediction).

    Args:
      up: predicted u, array ``(..., x, y)``.
      vp: predicted v, array ``(..., x, y)``.
      ur: reference u, array ``(..., x, y)``.
      vr: reference v, array ``(..., x, y)``.

    Returns:
      The relative error, shape ``(...)``.
    """
    up, vp, ur, vr = (jnp.asarray(a) for a in (up, vp, ur, vr))
    error = jnp.sum((up - ur) ** 2 + (vp - vr) ** 2, axis=(-2, -1))
    return jnp.sqrt(error / jnp.sum(ur * ur + vr * vr, axis=(-2, -1)))


def _shell_index(n: int) -> np.ndarray:
    """Integer shell round(|k|) of every mode of an n×n FFT (numpy, static)."""
    k = np.fft.fftfreq(n, d=1.0 / n)  # integer wavenumbers in units of 2π/L
    kmag = np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)
    # |k|² is an integer, so |k| is never exactly m + 1/2: no rounding ties.
    return np.rint(kmag).astype(np.int32)


def corner_shell(n: int) -> int:
    """Largest shell round(|k|) reached by any mode of an n×n grid.

    ``energy_spectrum(..., max_shell=corner_shell(n))`` keeps every mode
    (the corners |k| > n/2 included), so that Σ_k E(k) equals the kinetic
    energy exactly (Parseval).  For even n this is round(n/√2).
    """
    return int(_shell_index(n).max())


def energy_spectrum(
    u: ArrayLike,
    v: ArrayLike,
    domain_size: float = 2 * math.pi,
    max_shell: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    r"""Isotropic, shell-summed kinetic-energy spectrum.

    With :math:`\hat u_{\mathbf k} = \sum_{\mathbf x} u(\mathbf x)
    e^{-i \mathbf k\cdot\mathbf x}` the unnormalised 2-D DFT on the N×N grid
    and :math:`\mathbf k` in units of 2π/L,

    .. math::

        E(k) = \sum_{\mathbf k:\ \operatorname{round}(|\mathbf k|) = k}
               \frac{|\hat u_{\mathbf k}|^2 + |\hat v_{\mathbf k}|^2}{2 N^4},
        \qquad k = 0, 1, \dots, K,

    so that, by Parseval, :math:`\sum_{k \ge 0} E(k) =
    \tfrac12\langle u^2 + v^2\rangle` = :func:`kinetic_energy` when all shells
    are kept.  ``E`` is energy *per shell* (a sum, not a density); divide by
    the shell width 2π/L for a spectral density.

    The staggered offsets only change the phase of each Fourier coefficient,
    not its modulus, so ``u`` and ``v`` are transformed on their own points.

    Shell range: ``K = max_shell``, default ``N // 2``.  Shells ``k > K`` —
    by default the corner modes with N/2 < |k| ≤ N/√2, which are not resolved
    isotropically — are **dropped**, so then Σ E ≤ kinetic energy.  Pass
    ``max_shell=corner_shell(N)`` to keep every mode (exact Parseval).

    Args:
      u: velocity component u, array ``(..., N, N)`` (any staggered offset).
      v: velocity component v, array ``(..., N, N)`` (any staggered offset).
      domain_size: side L of the periodic square domain (default 2π).
      max_shell: last shell K returned (static under ``jit``).

    Returns:
      wavenumbers: ``(K+1,)``, the physical wavenumbers 2π k / L, k = 0..K.
      E: ``(..., K+1)``, the energy in each shell.
    """
    u = jnp.asarray(u)
    v = jnp.asarray(v)
    n = u.shape[-1]
    if u.shape[-2] != n or v.shape[-2:] != u.shape[-2:]:
        raise ValueError(f"energy_spectrum needs square N×N fields, got u {u.shape}, v {v.shape}")
    k_max = n // 2 if max_shell is None else int(max_shell)
    shells = _shell_index(n)
    ids = np.where(shells <= k_max, shells, k_max + 1).ravel()  # k_max+1: dropped bin

    u_hat = jnp.fft.fft2(u, axes=(-2, -1))
    v_hat = jnp.fft.fft2(v, axes=(-2, -1))
    power = (jnp.abs(u_hat) ** 2 + jnp.abs(v_hat) ** 2) * (0.5 / float(n) ** 4)
    flat = power.reshape(power.shape[:-2] + (n * n,))
    summed = jax.ops.segment_sum(jnp.moveaxis(flat, -1, 0), jnp.asarray(ids),
                                 num_segments=k_max + 2)
    spectrum = jnp.moveaxis(summed, 0, -1)[..., : k_max + 1]
    wavenumbers = jnp.arange(k_max + 1, dtype=power.dtype) * (2 * jnp.pi / domain_size)
    return wavenumbers, spectrum


def high_correlation_duration(
    correlation: ArrayLike,
    times: ArrayLike,
    threshold: float = 0.8,
    horizon: float = 20.0,
    rtol: float = 1e-6,
) -> ArrayLike:
    r"""How long a correlation curve stays at or above ``threshold``.

    Definition (exact to one frame).  With :math:`t_0` = ``times[0]``, only
    the frames with :math:`t_n - t_0 \le` ``horizon`` (plus a tolerance of
    ``rtol * max(horizon, 1)``) are considered.  Let :math:`n^*` be the first
    considered frame whose correlation is below ``threshold`` or non-finite
    (NaN: a diverged rollout).  Then

    .. math::

        T = t_{\max(n^* - 1,\, 0)} - t_0,

    the time of the last frame *before* the first failure; if no considered
    frame fails, :math:`T = t_{\text{last considered}} - t_0`.  A correlation
    exactly equal to the threshold counts as high.  If the very first frame
    fails, T = 0.  The true crossing lies in :math:`[T, T + \Delta t)`.

    Args:
      correlation: array ``(..., T)``, correlation curves; vectorised over
        leading dims.
      times: array ``(T,)``, frame times, strictly increasing.
      threshold: correlation threshold (0.8).
      horizon: measurement window (20 time units).
      rtol: relative tolerance on the horizon (frame times like 356 × 0.0561
        rarely land exactly on it).

    Returns:
      Duration in time units, shape ``(...)``.  numpy in → numpy float64 out;
        if either input is a ``jax.Array`` the computation is pure jnp (jit-able).
    """
    use_jax = isinstance(correlation, jax.Array) or isinstance(times, jax.Array)
    xp = jnp if use_jax else np
    corr = xp.asarray(correlation)
    t = xp.asarray(times)
    if t.ndim != 1 or corr.ndim < 1 or corr.shape[-1] != t.shape[0] or t.shape[0] == 0:
        raise ValueError(
            f"need times of shape (T,) with T > 0 matching correlation (..., T); "
            f"got correlation {corr.shape}, times {t.shape}"
        )
    if not use_jax and t.shape[0] > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("times must be strictly increasing")
    elapsed = t - t[0]
    tol = rtol * xp.maximum(xp.abs(horizon), 1.0)
    considered = elapsed <= horizon + tol  # a prefix, since times increase
    n_considered = xp.maximum(xp.sum(considered), 1)  # frame 0 always counts
    fails = ~(corr >= threshold) & considered  # NaN >= x is False -> fails
    first_fail = xp.where(xp.any(fails, axis=-1), xp.argmax(fails, axis=-1), n_considered)
    last_good = xp.maximum(first_fail - 1, 0)
    return elapsed[last_good]
