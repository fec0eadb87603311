"""1-D periodic linear advection demo: van Leer vs WENO5-JS vs WENO5-Z.

Solves ``u_t + a u_x = 0`` on the periodic unit interval with a flux-form
finite-volume scheme (the same form jax-cfd uses in 2-D)::

    du_i/dt = -(F_{i+1/2} - F_{i-1/2}) / dx,    F_{i+1/2} = a * u_{i+1/2}

where the face value ``u_{i+1/2}`` comes from one of the face schemes in
:data:`SCHEMES` (upwinded by the sign of ``a``), and SSP-RK3 (Shu--Osher) in
time.  The state holds cell averages.

``monotone=True`` (on :func:`flux_divergence_rhs`, :func:`advect_1d`,
:func:`compare_schemes`) adds the Suresh--Huynh monotonicity-preserving bound
to the WENO face values (see :mod:`neuralpde.numerics.weno`; van Leer is
unaffected).  By default :func:`advect_1d` then picks
``mp_alpha = min(4, 1/C - 1)`` from the run's Courant number ``C`` (the
largest ``alpha`` that satisfies the bound's CFL condition
``C <= 1/(1 + alpha)``), e.g. 1.5 at CFL 0.4.

Typical notebook use::

    from neuralpde.numerics import advection_1d as a1
    result = a1.compare_schemes(n=128, cfl=0.4, periods=1)
    print(result.format_table())
    a1.plot_comparison(result)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.numerics.time_stepping import repeated
from neuralpde.numerics.van_leer import van_leer_face_values
from neuralpde.numerics.weno import check_params, mp_alpha_for_courant, weno5_upwind

Array = jnp.ndarray

#: Face schemes accepted by :func:`advect_1d`, in display order.
SCHEMES = ("van_leer", "weno5-js", "weno5-z")

#: Initial profiles used by :func:`compare_schemes`.
PROFILES = ("smooth", "square")


def _face_fn(scheme: str, monotone: bool = False, mp_alpha: float = 4.0,
             mp_eps: float = 0.0) -> Callable[[Array, Array], Array]:
    mp = dict(monotone=monotone, mp_alpha=mp_alpha, mp_eps=mp_eps)
    if scheme == "van_leer":
        return lambda c, a: van_leer_face_values(c, 0, a)
    if scheme == "weno5-js":
        return lambda c, a: weno5_upwind(c, 0, a, scheme="js", **mp)
    if scheme == "weno5-z":
        return lambda c, a: weno5_upwind(c, 0, a, scheme="z", **mp)
    raise ValueError(
        f"unknown face scheme {scheme!r}; accepted: "
        + ", ".join(repr(s) for s in SCHEMES))


def flux_divergence_rhs(c: Array, velocity, dx: float, scheme: str, *,
                        monotone: bool = False, mp_alpha: float = 4.0,
                        mp_eps: float = 0.0) -> Array:
    """Semi-discrete right-hand side ``-(F_{i+1/2} - F_{i-1/2}) / dx``.

    ``velocity`` is a scalar or an array of face velocities (entry ``i`` at
    face ``i+1/2``).  ``monotone``, ``mp_alpha``, ``mp_eps``: the optional
    monotonicity-preserving bound of the WENO face values
    (:func:`neuralpde.numerics.weno.weno5_face_values`); ignored by van Leer.
    """
    face = _face_fn(scheme, monotone, mp_alpha, mp_eps)
    a = jnp.asarray(velocity, dtype=c.dtype)
    flux = a * face(c, a)
    return -(flux - jnp.roll(flux, 1)) / dx


def ssp_rk3_step(rhs: Callable[[Array], Array], c: Array, dt) -> Array:
    """One SSP-RK3 (Shu--Osher) step of ``dc/dt = rhs(c)``."""
    c1 = c + dt * rhs(c)
    c2 = 0.75 * c + 0.25 * (c1 + dt * rhs(c1))
    return c / 3.0 + (2.0 / 3.0) * (c2 + dt * rhs(c2))


@functools.partial(jax.jit, static_argnames=(
    "steps", "scheme", "monotone", "mp_alpha", "mp_eps"))
def _advect_jit(c0, velocity, dx, dt, steps, scheme, monotone, mp_alpha, mp_eps):
    rhs = lambda c: flux_divergence_rhs(  # noqa: E731
        c, velocity, dx, scheme, monotone=monotone, mp_alpha=mp_alpha,
        mp_eps=mp_eps)
    return repeated(lambda c: ssp_rk3_step(rhs, c, dt), steps)(c0)


def advect_1d(c0: Array, velocity, dx: float, dt: float, steps: int,
              scheme: str, *, monotone: bool = False,
              mp_alpha: float | None = None, mp_eps: float = 0.0) -> Array:
    """Advance cell averages ``c0`` by ``steps`` SSP-RK3 steps of size ``dt``.

    Args:
      c0: 1-D array of cell averages on a periodic grid.
      velocity: the advection speed ``a`` (scalar, either sign) or an array of
        face velocities shaped like ``c0``.
      dx: cell width (> 0).
      dt: time step (> 0); the Courant number is ``|a| dt / dx``.
      steps: number of time steps (>= 0).
      scheme: one of :data:`SCHEMES`.
      monotone: add the Suresh--Huynh monotonicity-preserving bound to the
        WENO face values (ignored by van Leer).
      mp_alpha: its ``alpha``; None (default) takes
        ``mp_alpha_for_courant(C) = min(4, 1/C - 1)`` with the run's Courant
        number ``C = max|velocity| dt / dx`` (must then be < 1), the largest
        ``alpha`` that satisfies the bound's CFL condition
        ``C <= 1 / (1 + alpha)``.
      mp_eps: the threshold of the bound's "no limiting needed" test.

    Returns:
      The cell averages after ``steps * dt``.
    """
    _face_fn(scheme)  # validates the name
    c0 = jnp.asarray(c0)
    if c0.ndim != 1:
        raise ValueError(f"c0 must be 1-D, got shape {c0.shape}")
    if not jnp.issubdtype(c0.dtype, jnp.floating):
        c0 = c0.astype(jnp.float32)
    if not dx > 0:
        raise ValueError(f"dx must be > 0, got {dx!r}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if mp_alpha is None:
        if monotone:
            try:
                speed = float(np.max(np.abs(np.asarray(velocity))))
            except jax.errors.TracerArrayConversionError:
                raise ValueError(
                    "advect_1d needs a concrete velocity to choose mp_alpha from "
                    "the Courant number; pass mp_alpha explicitly") from None
            mp_alpha = mp_alpha_for_courant(speed * dt / dx)
        else:
            mp_alpha = 4.0
    check_params(1e-6, 2, mp_alpha, mp_eps)
    return _advect_jit(c0, velocity, dx, dt, int(steps), scheme, bool(monotone),
                       float(mp_alpha), float(mp_eps))


def _check_n(n: int) -> None:
    if int(n) != n or n < 8:
        raise ValueError(f"n must be an integer >= 8, got {n!r}")


def cell_edges(n: int) -> np.ndarray:
    """The ``n + 1`` cell edges of the uniform grid on [0, 1]."""
    _check_n(n)
    return np.linspace(0.0, 1.0, n + 1)


def cell_centers(n: int) -> np.ndarray:
    """The ``n`` cell centres of the uniform grid on [0, 1]."""
    e = cell_edges(n)
    return 0.5 * (e[:-1] + e[1:])


def smooth_wave(n: int, dtype=jnp.float32) -> Array:
    """Exact cell averages of ``sin(2 pi x)`` on ``n`` cells of [0, 1]."""
    e = cell_edges(n)
    h = 1.0 / n
    avg = (np.cos(2 * np.pi * e[:-1]) - np.cos(2 * np.pi * e[1:])) / (2 * np.pi * h)
    return jnp.asarray(avg, dtype=dtype)


def square_wave(n: int, dtype=jnp.float32) -> Array:
    """Exact cell averages of the indicator of [1/4, 3/4) on ``n`` cells.

    For ``n`` divisible by 4 the jumps sit on cell faces and the averages are
    exactly 0 and 1.
    """
    e = cell_edges(n)
    h = 1.0 / n
    overlap = np.clip(np.minimum(e[1:], 0.75) - np.maximum(e[:-1], 0.25), 0, None)
    return jnp.asarray(overlap / h, dtype=dtype)


def profile_errors(c: Array, exact: Array, dx: float) -> dict[str, float]:
    """L1 (``sum |e| dx``), L-infinity and overshoot of ``c`` against ``exact``.

    The overshoot is the largest excursion outside ``[min(exact), max(exact)]``
    (0 when the solution creates no new extrema).  For a smooth profile it
    also picks up tiny phase/amplitude errors near the extrema (cell averages
    next to a peak can rise by O(error)); it is meant for discontinuous data.
    """
    c = np.asarray(c, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    err = np.abs(c - exact)
    overshoot = max(c.max() - exact.max(), exact.min() - c.min(), 0.0)
    return {"l1": float(err.sum() * dx), "linf": float(err.max()),
            "overshoot": float(overshoot)}


@dataclasses.dataclass(frozen=True)
class ComparisonResult:
    """What :func:`compare_schemes` measured.

    Attributes:
      n, cfl, periods: the run's parameters; ``dt`` and ``steps`` the time
        step (Courant number ``dt / dx <= cfl``) and step count actually used.
      x: cell centres.
      profiles: ``profiles[profile][name]`` for ``profile`` in
        :data:`PROFILES` and ``name`` in ``('exact',) + SCHEMES`` (NumPy arrays;
        after whole periods the exact solution is the initial profile).
      errors: ``errors[profile][scheme]`` = ``{'l1', 'linf', 'overshoot'}``.
      monotone: whether the WENO face values had the monotonicity-preserving
        bound.
    """

    n: int
    cfl: float
    periods: int
    dt: float
    steps: int
    x: np.ndarray
    profiles: dict[str, dict[str, np.ndarray]]
    errors: dict[str, dict[str, dict[str, float]]]
    monotone: bool = False

    def format_table(self) -> str:
        """The error table as plain text."""
        lines = [f"{'profile':<8} {'scheme':<10} {'L1':>10} {'Linf':>10} "
                 f"{'overshoot':>10}"]
        for prof, per_scheme in self.errors.items():
            for scheme, e in per_scheme.items():
                lines.append(f"{prof:<8} {scheme:<10} {e['l1']:>10.3e} "
                             f"{e['linf']:>10.3e} {e['overshoot']:>10.3e}")
        return "\n".join(lines)


def compare_schemes(n: int = 128, cfl: float = 0.4, periods: int = 1,
                    schemes=SCHEMES, *, monotone: bool = False,
                    mp_alpha: float | None = None,
                    mp_eps: float = 0.0) -> ComparisonResult:
    """Advect the smooth and the square wave ``periods`` times around [0, 1].

    Velocity 1, ``dt = periods / steps`` with ``steps = ceil(periods n / cfl)``
    so that the run ends exactly after whole periods (where the exact solution
    equals the initial profile) with a Courant number ``<= cfl``.
    ``monotone``, ``mp_alpha``, ``mp_eps`` are passed to :func:`advect_1d`
    (the WENO schemes' optional monotonicity-preserving bound).
    """
    _check_n(n)
    if not 0 < cfl <= 1:
        raise ValueError(f"cfl must be in (0, 1], got {cfl!r}")
    if int(periods) != periods or periods < 1:
        raise ValueError(f"periods must be an integer >= 1, got {periods!r}")
    for s in schemes:
        _face_fn(s)
    dx = 1.0 / n
    steps = int(math.ceil(periods * n / cfl - 1e-9))
    dt = periods / steps
    initial = {"smooth": smooth_wave(n), "square": square_wave(n)}
    profiles: dict[str, dict[str, np.ndarray]] = {}
    errors: dict[str, dict[str, dict[str, float]]] = {}
    for prof, c0 in initial.items():
        profiles[prof] = {"exact": np.asarray(c0)}
        errors[prof] = {}
        for s in schemes:
            c = advect_1d(c0, 1.0, dx, dt, steps, s, monotone=monotone,
                          mp_alpha=mp_alpha, mp_eps=mp_eps)
            profiles[prof][s] = np.asarray(c)
            errors[prof][s] = profile_errors(c, c0, dx)
    return ComparisonResult(n=int(n), cfl=float(cfl), periods=int(periods),
                            dt=float(dt), steps=steps, x=cell_centers(n),
                            profiles=profiles, errors=errors,
                            monotone=bool(monotone))


def plot_comparison(result: ComparisonResult):
    """Profiles of both waves after advection, and the error table.

    Returns a :class:`matplotlib.figure.Figure` (built without pyplot, so it
    holds no global state; Jupyter's inline backend displays it).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 1.3])
    styles = {"exact": dict(color="k", lw=1.2, ls="--")}
    for col, prof in enumerate(result.profiles):
        ax = fig.add_subplot(grid[0, col])
        for name, c in result.profiles[prof].items():
            ax.plot(result.x, c, label=name, **styles.get(name, dict(lw=1.2)))
        mp = ", WENO + MP bound" if result.monotone else ""
        ax.set_title(f"{prof} wave after {result.periods} period(s), "
                     f"n={result.n}, CFL={result.cfl:g}{mp}")
        ax.set_xlabel("x")
        ax.set_ylabel("u (cell average)")
        ax.legend(fontsize=8)
    tax = fig.add_subplot(grid[1, :])
    tax.axis("off")
    rows = [[prof, s, f"{e['l1']:.2e}", f"{e['linf']:.2e}", f"{e['overshoot']:.2e}"]
            for prof, per in result.errors.items() for s, e in per.items()]
    table = tax.table(cellText=rows,
                      colLabels=["profile", "scheme", "L1 error", "L∞ error",
                                 "max overshoot"],
                      loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    return fig


__all__ = [
    "SCHEMES",
    "PROFILES",
    "advect_1d",
    "flux_divergence_rhs",
    "ssp_rk3_step",
    "smooth_wave",
    "square_wave",
    "cell_centers",
    "cell_edges",
    "profile_errors",
    "ComparisonResult",
    "compare_schemes",
    "plot_comparison",
]
