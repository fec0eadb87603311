"""Rollouts: any solver → a trajectory of frames on the comparison grid.

``rollout`` is jit-compiled, vmapped over samples and sharded over the local
devices.  It records frame 0 (the initial state), then advances
``steps_per_frame`` solver steps per frame and records the velocity
downsampled (staggered face averaging) to ``output_size``.  After every
solver step it checks that the state is finite; a sample whose state becomes
NaN or inf is marked as diverged at that step (its later frames hold what its
state holds, non-finite values), and the rollout stops early once every
sample has diverged (the frames not computed are NaN).  Nothing raises: the
evaluation completes and reports the divergence.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import ConfigError
from neuralpde.numerics.time_stepping import repeated, trajectory
from neuralpde.physics import dns
from neuralpde.sharding import (
    batch_mesh,
    batch_sharding,
    gather_samples,
    padded_batch,
    process_samples,
    replicated,
    shard_batch,
)
from neuralpde.solvers.base import Solver, init_input_shape

NOT_DIVERGED = -1


@dataclasses.dataclass(frozen=True)
class Rollout:
    """Frames ``(samples, frames, 2, m, m)`` and per-sample divergence.

    ``diverged_step[i]`` is the first solver step after which sample ``i`` was
    not finite (``-1`` if never); ``diverged_time`` is that step times ``dt``.
    """

    frames: np.ndarray
    diverged_step: np.ndarray
    dt: float
    steps_per_frame: int

    @property
    def diverged_time(self) -> list:
        return [None if s == NOT_DIVERGED else float(s * self.dt) for s in self.diverged_step]


def steps_per_frame(solver: Solver, frame_dt: float) -> int:
    """Solver steps between two stored frames, ``frame_dt / solver.dt``, an integer >= 1.

    Raises :class:`ConfigError` when the solver's step does not divide the
    frame spacing (e.g. a TSM bundle longer than the spacing, or a
    staggered ``s_time`` that does not fit it).
    """
    steps = frame_dt / solver.dt
    if abs(steps - round(steps)) > 1e-6 * steps or round(steps) < 1:
        raise ConfigError(f"solver {solver.name!r} has dt={solver.dt:g}, which does not divide the "
                          f"store's frame spacing {frame_dt:g}: accepted a dt with frame_dt/dt an "
                          "integer >= 1 (for TSM a bundle, for staggered solvers s_time, that fits "
                          "the spacing)")
    return round(steps)


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


@dataclasses.dataclass(frozen=True)
class _Opaque:
    """A solver that is not a pytree, carried through jit as static (hashable) data."""

    solver: object


jax.tree_util.register_dataclass(_Opaque, data_fields=[], meta_fields=["solver"])


def as_jit_argument(solver):
    """``solver`` in a form ``jax.jit`` accepts as an argument.

    A solver registered as a pytree (its arrays, e.g. network parameters, are
    leaves) is passed as it is, so its parameters are traced inputs rather
    than constants baked into the compiled code, and one compilation serves
    every parameter value.  Any other (hashable) solver is wrapped as static.
    """
    leaves = jax.tree.leaves(solver)
    return _Opaque(solver) if len(leaves) == 1 and leaves[0] is solver else solver


def _unwrap(solver):
    return solver.solver if isinstance(solver, _Opaque) else solver


@functools.partial(jax.jit, static_argnames=("output_size", "domain_size"))
def _initial(solver, uv, output_size, domain_size):
    solver = _unwrap(solver)
    state = jax.vmap(solver.init)(uv)
    observe = lambda s: dns.downsample_velocity(solver.velocity(s), output_size, domain_size)
    return state, jax.vmap(observe)(state)


@functools.partial(jax.jit,
                   static_argnames=("length", "steps_per_frame", "output_size", "domain_size"))
def _block(solver, carry, length, steps_per_frame, output_size, domain_size):
    """``length`` frames: ``steps_per_frame`` checked steps each, then observe."""
    solver = _unwrap(solver)
    batched_step = jax.vmap(solver.step)
    batched_finite = jax.vmap(_all_finite)
    observe = lambda s: dns.downsample_velocity(solver.velocity(s), output_size, domain_size)

    def checked_step(inner):
        state, count, diverged = inner
        state = batched_step(state)
        count = count + 1
        bad = (diverged == NOT_DIVERGED) & ~batched_finite(state)
        return state, count, jnp.where(bad, count, diverged)

    advance = trajectory(repeated(checked_step, steps_per_frame), length,
                         lambda carry: jax.vmap(observe)(carry[0]))
    carry, frames = advance(carry)
    return carry, jnp.swapaxes(frames, 0, 1)


def rollout(
    solver: Solver,
    uv0: np.ndarray,
    n_frames: int,
    steps_per_frame: int,
    output_size: int,
    domain_size: float,
    devices=None,
    block_frames: int = 32,
) -> Rollout:
    """Roll ``solver`` out from ``uv0`` for ``n_frames`` frames.

    ``uv0``: ``(samples, 2, size, size)``, or ``(samples, K, 2, size, size)``
    (the prefixes) for a solver with ``history_frames = K``.  The samples are
    sharded over ``devices`` (default: this process's devices).  In a
    multi-process job every process rolls out its block of the samples
    (:func:`neuralpde.sharding.process_samples`) and every process returns
    all of them (:func:`~neuralpde.sharding.gather_samples`); the solver's
    parameters must then be this process's copies
    (:func:`~neuralpde.sharding.local_copy`).

    Raises:
        ValueError: ``uv0`` of another shape than the solver takes, or
            ``n_frames``, ``steps_per_frame`` or ``block_frames`` not an
            integer >= 1.
    """
    for label, value in (("n_frames", n_frames), ("steps_per_frame", steps_per_frame),
                         ("block_frames", block_frames)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"invalid {label}={value!r}: accepted an integer >= 1")
    expected = init_input_shape(solver)
    if uv0.shape[1:] != expected:
        raise ValueError(f"initial states have shape {uv0.shape}: solver {solver.name!r} expects "
                         f"(samples, {', '.join(map(str, expected))})")
    if jax.process_count() > 1:
        n = uv0.shape[0]
        mine = _rollout(solver, uv0[process_samples(n)], n_frames, steps_per_frame, output_size,
                        domain_size, devices, block_frames)
        return dataclasses.replace(mine, frames=gather_samples(mine.frames, n),
                                   diverged_step=gather_samples(mine.diverged_step, n))
    return _rollout(solver, uv0, n_frames, steps_per_frame, output_size, domain_size, devices,
                    block_frames)


def _rollout(solver, uv0, n_frames, steps_per_frame, output_size, domain_size, devices,
             block_frames) -> Rollout:
    """:func:`rollout` of this process's samples on its devices."""
    mesh = batch_mesh(devices)
    sharding = batch_sharding(mesh)
    n = uv0.shape[0]
    padded = padded_batch(n, mesh.size)
    uv = np.concatenate([uv0, np.repeat(uv0[-1:], padded - n, axis=0)]) if padded > n else uv0
    # the solver's arrays (parameters) replicated over the mesh: a run restored from its
    # checkpoint holds them on one device, and jit refuses to mix them with sharded states
    placed = replicated(mesh)
    arg = jax.tree.map(lambda x: jax.device_put(x, placed) if isinstance(x, jax.Array) else x,
                       as_jit_argument(solver))
    sizes = {"output_size": output_size, "domain_size": float(domain_size)}
    state, first = _initial(arg, shard_batch(jnp.asarray(uv, jnp.float32), sharding), **sizes)
    carry = (state, jnp.int32(0),
             shard_batch(jnp.full((padded,), NOT_DIVERGED, jnp.int32), sharding))
    frames = [np.asarray(first)[:, None]]
    done = 1
    while done < n_frames:
        length = min(block_frames, n_frames - done)
        carry, new = _block(arg, carry, length=length, steps_per_frame=steps_per_frame, **sizes)
        frames.append(np.asarray(new))
        done += length
        if bool(jnp.all(carry[2] != NOT_DIVERGED)) and done < n_frames:
            nan = np.full((padded, n_frames - done) + frames[0].shape[2:], np.nan, np.float32)
            frames.append(nan)
            break
    trajectory = np.concatenate(frames, axis=1)[:n]
    return Rollout(frames=trajectory, diverged_step=np.asarray(carry[2])[:n], dt=solver.dt,
                   steps_per_frame=steps_per_frame)


@functools.partial(jax.jit, static_argnames=("steps",))
def _run_steps(solver, uv, steps):
    solver = _unwrap(solver)
    return solver.velocity(repeated(solver.step, steps)(solver.init(uv)))


def measure_latency(solver: Solver, uv0: np.ndarray, duration: float = 1.0,
                    repeats: int = 3) -> float:
    """Wall-clock seconds per simulated time unit, batch 1, compile excluded.

    Runs ``round(duration/dt)`` steps from ``uv0`` (what ``solver.init`` takes:
    ``(2, size, size)`` or a prefix ``(K, 2, size, size)``) once to
    compile and warm up, then ``repeats`` more times, and returns the median.
    """
    steps = max(1, round(duration / solver.dt))
    arg, uv = as_jit_argument(solver), jnp.asarray(uv0, jnp.float32)
    jax.block_until_ready(_run_steps(arg, uv, steps=steps))
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(_run_steps(arg, uv, steps=steps))
        timings.append(time.perf_counter() - start)
    return float(np.median(timings)) / (steps * solver.dt)


def device_name() -> str:
    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    return f"{device.platform}: {kind} x{jax.device_count()}"
