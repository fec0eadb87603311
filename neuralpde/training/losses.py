r"""Training losses: the unrolled window loss (LI, TSM) and the physics-constrained loss.

Window loss (:func:`window_loss`)
---------------------------------
Loss of one window (frames :math:`\mathbf u_{-K+1} .. \mathbf u_M` of the
train store, one model step apart), with :math:`S_\theta` the learned model
step started from the prefix (LI: K = 1, the state :math:`\mathbf u_0`; TSM:
the K frames its memory encodes):

.. math::

    L(\theta) = \frac{1}{M}\sum_{m=1}^{M}
      \overline{(S_\theta^m(\mathbf u_{-K+1..0}) - \mathbf u_m)^2}

(mean over u, v and the grid; ``relative_mse`` divides by
:math:`\overline{\mathbf u_m^2}`); gradients flow through all M solver steps
(Kochkov et al., PNAS 2021; Sun, Yang & Yoo, ICML 2023).

Physics-constrained loss (:func:`sequence_loss`)
------------------------------------------------
The discrete incompressible Navier–Stokes residual on the fine MAC grid, for
the staggered sub-solvers (NeuralStagger, Huang et al., ICML 2023, train with
a residual and no simulation data).  For two consecutive fine frames
:math:`\mathbf u^n, \mathbf u^{n+1}` (one fine step :math:`\Delta t` apart) the
momentum residual of the time scheme (:data:`TIME_SCHEMES`) is

.. math::

    \text{forward Euler (default):}\quad
    \mathbf R = \frac{\mathbf u^{n+1} - \mathbf u^n}{\Delta t} - \mathbf F(\mathbf u^n),
    \qquad
    \text{Crank–Nicolson:}\quad
    \mathbf R = \frac{\mathbf u^{n+1} - \mathbf u^n}{\Delta t}
      - \tfrac12\big[\mathbf F(\mathbf u^{n+1}) + \mathbf F(\mathbf u^n)\big],

    \mathbf F(\mathbf u) = -\nabla\cdot(\mathbf u\mathbf u) + \nu\nabla^2\mathbf u
      + \mathbf f(\mathbf u),

with exactly the DNS's discrete operators (:func:`neuralpde.physics.operators.tendency`).
Forward Euler is the time scheme of the DNS the sub-solvers are compared with
(jax-cfd's ``semi_implicit_navier_stokes`` with its default stepper:
:math:`\mathbf u^{n+1} = \mathcal P[\mathbf u^n + \Delta t\,\mathbf F(\mathbf u^n)]`),
so the DNS's own step is the residual's unique zero: for a DNS pair
:math:`\mathcal P\mathbf R = (\mathcal P\mathbf u^n - \mathbf u^n)/\Delta t`,
round-off.  Crank–Nicolson (the residual of the first version, kept for
comparison) leaves :math:`\tfrac12\mathcal P[\mathbf F(\mathbf u^n) -
\mathbf F(\mathbf u^{n+1})] = O(\Delta t)` on a DNS pair: a few per cent of the
tendency per step on the mini grid, so it aims at another scheme than the data.

Pressure is **removed by projection**: the Navier–Stokes equations hold with
some pressure iff :math:`\mathbf R = -\nabla p` for some :math:`p`, i.e. iff the
divergence-free part :math:`\mathcal P\mathbf R` vanishes, where
:math:`\mathcal P = I - G(DG)^{-1}D` is the discrete Leray projection of the
DNS (MAC divergence :math:`D`, its adjoint gradient :math:`G`, the Poisson
problem solved exactly by fast diagonalisation: ``cfd.pressure.projection``).
No pressure network is needed and no pressure boundary/gauge choice enters.
The projection cannot see the gradient part of :math:`\mathbf u^{n+1}`, so
incompressibility is imposed separately by the divergence term.

Loss of a predicted sequence :math:`\mathbf u^{n+1..n+s_T}` from :math:`\mathbf u^n`:

.. math::

    L = \frac{1}{s_T}\sum_{m=n}^{n+s_T-1}
        \Big[\overline{(\mathcal P\mathbf R^{m})^2}
        + \lambda\,\overline{\big(\tfrac{\delta x}{\Delta t}\,D\mathbf u^{m+1}\big)^2}\Big]

(overlines: means over components and cells).  The divergence is scaled by
:math:`\delta x/\Delta t` so that both terms have the units of
:math:`\mathbf R` (velocity per time): for :math:`\mathbf u^{m+1} =
\mathbf u^m + \Delta t\,\mathbf g` with a divergence-free :math:`\mathbf u^m`,
:math:`\tfrac{\delta x}{\Delta t}D\mathbf u^{m+1} = \delta x\,D\mathbf g`, which
is of the size of the divergent part of :math:`\mathbf g` at the grid scale;
:math:`\lambda = 1` weighs a divergent error about as much as a
divergence-free one.

Convection: ``'van_leer'`` (default) is the DNS's van Leer–limited flux
(``advect_van_leer_using_limiters`` with the same :math:`\Delta t`), so with
forward Euler the residual is the DNS's own discretisation.  ``'central'`` is
jax-cfd's second-order central flux (``advect_linear``): smooth in
:math:`\mathbf u` (better gradients), but a DNS pair then also leaves the
van Leer–central flux difference in :math:`\mathbf R`.

All functions are pure and jit-able; fields are ``(..., 2, N, N)`` float32
arrays in the layout of :mod:`neuralpde.physics.dns`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from neuralpde.config import ConfigError
from neuralpde.numerics.time_stepping import scan_outputs
from neuralpde.physics import dns
from neuralpde.physics.flows import FlowSpec
from neuralpde.physics.operators import TIME_SCHEMES, check_time_scheme, project, tendency
from neuralpde.solvers.base import history_frames, step_with_velocities, substeps

Array = jax.Array


def window_loss(solver, window: jax.Array, kind: str = "mse", remat: bool = False,
                scan_unroll: int | None = None) -> jax.Array:
    """Mean squared velocity error of ``M`` unrolled model steps against the window's last M frames.

    ``window``: ``(K + M, 2, n, n)``, the prefix (``max(history_frames, 1)``
    frames) and the M targets; a solver that bundles B steps per call is
    unrolled M / B calls.  ``kind``: ``'mse'`` or ``'relative_mse'``.

    ``remat``: rematerialise each solver call in the backward pass
    (``jax.checkpoint``, Griewank & Walther's checkpointing of a time-stepping
    loop): the backward pass keeps only the state between calls and recomputes
    each call's activations, so the activation memory of the update falls from
    O(M × tower activations) to O(M × state + one call's activations), for
    about one more forward pass of compute.  The loss and its gradient are
    unchanged (to float round-off).

    ``scan_unroll``: the calls run in a ``lax.scan`` unrolled this many calls
    per iteration (rematerialised or not); by default the calls are unrolled
    in Python without ``remat`` and rolled (1) with it.  The planner
    (:mod:`neuralpde.planning`) compiles rolled loops: the memory of a plain
    scan equals that of the Python loop (every call's activations are kept),
    and it compiles in seconds where the unrolled loop takes minutes.
    """
    k = max(history_frames(solver), 1)
    targets = window[k:]
    n_calls, remainder = divmod(targets.shape[0], substeps(solver))
    if remainder:
        raise ConfigError(f"unroll {targets.shape[0]} is not a multiple of solver "
                          f"{solver.name!r}'s {substeps(solver)} steps per call")

    state = solver.init(window[:k] if history_frames(solver) else window[0])
    # Unrolled in Python by default.  On XLA:CPU the backward pass of a rolled scan over
    # the conv layers was an order of magnitude slower (one-off profile), and even a
    # fully unrolled ``lax.scan`` of ONE call (a TSM window of one bundle, the
    # quickstart preset) is ~10x slower than this loop; with more calls the two are
    # alike (benchmarks/loss_unroll.py, benchmarks/results/loss_unroll_cpu.txt).
    # With remat, a rolled scan of rematerialised calls: its backward loop recomputes one
    # call at a time, so only the states between calls stay alive (in an unrolled loop
    # XLA's scheduler may recompute every call early and keep them all).
    unroll = scan_unroll or 1
    calls = scan_outputs(lambda s: step_with_velocities(solver, s), n_calls, checkpoint=remat,
                         unroll=unroll, python_loop=not (remat or scan_unroll is not None))
    _, predicted = calls(state)
    predicted = predicted.reshape(targets.shape)
    squared = jnp.mean((predicted - targets) ** 2, axis=(1, 2, 3))
    if kind == "relative_mse":
        squared = squared / jnp.mean(targets ** 2, axis=(1, 2, 3))
    return jnp.mean(squared)


def _residuals(frames: Array, flow: FlowSpec, dt: float, convection: str,
               time_scheme: str) -> Array:
    """Unprojected residuals :math:`\\mathbf R` of every consecutive pair of ``frames``
    ``(T, 2, N, N)``."""
    check_time_scheme(time_scheme)
    source = frames if time_scheme == "crank_nicolson" else frames[:-1]
    # F of every frame that enters, in one traced call
    f = jax.vmap(lambda u: tendency(u, flow, dt, convection))(source)
    explicit = 0.5 * (f[1:] + f[:-1]) if time_scheme == "crank_nicolson" else f
    return (frames[1:] - frames[:-1]) / dt - explicit


def residual(uv0: Array, uv1: Array, flow: FlowSpec, dt: float, convection: str = "van_leer",
             time_scheme: str = "forward_euler") -> Array:
    r"""Unprojected residual :math:`\mathbf R` of one step ``uv0 -> uv1`` (``(2, N, N)`` each).

    Units: velocity per time unit.  Raises :class:`ConfigError` for an
    unknown ``convection`` or ``time_scheme``.
    """
    return _residuals(jnp.stack([uv0, uv1]), flow, dt, convection, time_scheme)[0]


def projected_residual(uv0: Array, uv1: Array, flow: FlowSpec, dt: float,
                       convection: str = "van_leer", time_scheme: str = "forward_euler") -> Array:
    r""":math:`\mathcal P\mathbf R`: the residual with the pressure gradient removed,
    ``(2, N, N)``."""
    return project(residual(uv0, uv1, flow, dt, convection, time_scheme), flow.domain_size)


def scaled_divergence(uv: Array, dt: float, domain_size: float = 2 * math.pi) -> Array:
    r""":math:`\tfrac{\delta x}{\Delta t} D\mathbf u` at cell centres (units of the residual)."""
    dx = domain_size / uv.shape[-1]
    return dns.divergence(uv, domain_size) * (dx / dt)


def sequence_loss(uv0: Array, frames: Array, flow: FlowSpec, dt: float,
                  convection: str = "van_leer", div_weight: float = 1.0,
                  time_scheme: str = "forward_euler") -> tuple[Array, dict[str, Array]]:
    r"""Physics loss :math:`L` of predicted ``frames`` ``(s_T, 2, N, N)`` after ``uv0``
    ``(2, N, N)``.

    Returns ``(L, {'residual': mean (PR)^2, 'divergence': mean (dx/dt Du)^2})``,
    both averaged over the ``s_T`` fine steps.
    """
    frames_all = jnp.concatenate([uv0[None], frames], axis=0)         # u^n .. u^{n+s_T}
    r = _residuals(frames_all, flow, dt, convection, time_scheme)
    projected = jax.vmap(lambda x: project(x, flow.domain_size))(r)
    res = jnp.mean(projected ** 2)
    div = jnp.mean(jax.vmap(lambda u: scaled_divergence(u, dt, flow.domain_size))(frames) ** 2)
    return res + div_weight * div, {"residual": res, "divergence": div}


def trajectory_residual(frames: Array, flow: FlowSpec, dt: float, convection: str = "van_leer",
                        time_scheme: str = "forward_euler") -> Array:
    """Mean squared projected residual of every consecutive pair of ``frames`` ``(T, 2, N, N)``.

    Returns ``(T-1,)``.
    """
    r = _residuals(frames, flow, dt, convection, time_scheme)
    return jax.vmap(lambda x: jnp.mean(project(x, flow.domain_size) ** 2))(r)


def stagger_batch_loss(solver, config, uv0: Array, targets) -> tuple[Array, tuple]:
    """Mean loss of a staggered solver over a batch of start states ``uv0`` ``(B, 2, N, N)``.

    ``config``: a :class:`~neuralpde.training.config.StaggerTrainConfig`
    (``loss``, ``convection``, ``time_scheme``, ``div_weight``, ``physics_weight``);
    ``targets``: ``(B, s_T, 2, N, N)`` store frames, or None (physics only).
    Returns ``(loss, (terms, frames))``: the residual, divergence and
    supervised terms, and the predicted frames ``(B, s_T, 2, N, N)``.
    """
    frames = jax.vmap(solver.frames)(uv0)
    zero = jnp.float32(0.0)
    residual = divergence = supervised = zero
    physics = None
    if config.loss in ("physics", "both"):
        physics, aux = jax.vmap(lambda u, f: sequence_loss(
            u, f, solver.flow, solver.fine_dt, config.convection, config.div_weight,
            config.time_scheme))(uv0, frames)
        residual, divergence = jnp.mean(aux["residual"]), jnp.mean(aux["divergence"])
    if config.loss in ("supervised", "both"):
        supervised = jnp.mean((frames - targets) ** 2)
    if config.loss == "physics":
        loss = jnp.mean(physics)
    elif config.loss == "supervised":
        loss = supervised
    else:
        loss = supervised + config.physics_weight * jnp.mean(physics)
    return loss, ({"residual": residual, "divergence": divergence, "supervised": supervised},
                  frames)


__all__ = ["window_loss", "stagger_batch_loss", "TIME_SCHEMES", "check_time_scheme", "residual",
           "projected_residual", "scaled_divergence", "sequence_loss", "trajectory_residual"]
