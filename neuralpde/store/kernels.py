"""The jit-compiled pieces of one split's DNS generation (:class:`SplitKernels`).

Initial conditions, the coarse warm-up grid and its refinement to the
reference grid (:func:`refine_velocity`), the reference steps (finite volume
or pseudo-spectral), the recorded history and frames, and the t = 0
diagnostics, each compiled once per shape and shared by repeated generations
of one problem (:func:`split_kernels`).  The loops are
:mod:`neuralpde.numerics.time_stepping`'s.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from neuralpde.numerics.time_stepping import repeated, trajectory
from neuralpde.physics import dns, spectral
from neuralpde.physics.diagnostics import enstrophy, kinetic_energy, vorticity
from neuralpde.store.plan import SplitPlan
from neuralpde.store.presets import Preset


def refine_velocity(uv: jax.Array, size: int, domain_size: float) -> jax.Array:
    """A face-averaged MAC velocity ``(2, M, M)`` interpolated to ``(2, N, N)``, N ≥ M.

    Band-limited (spectral) interpolation of the face averages: the field whose
    face averages on the M² grid are ``uv`` and which holds no mode with
    ``|k| ≥ M/2`` (:mod:`neuralpde.physics.spectral`), averaged over the
    faces of the N² grid.  Face averages of a divergence-free field are
    discretely divergence-free on every MAC grid, so the result is, too
    (up to round-off); face averaging it back to M² returns ``uv`` up to its
    Nyquist modes.  ``N = M`` returns ``uv`` itself.
    """
    if uv.shape[-1] == size:
        return uv
    state = spectral.staggered_to_spectral(uv, size, domain_size)
    return spectral.spectral_to_staggered(state, size, domain_size)


class SplitKernels:
    """The jit-compiled pieces of one split's generation (cached per shape).

    Batched states: the finite-volume reference and the coarse warm-up hold
    ``(B, 2, N, N)`` face values; the pseudo-spectral reference
    ``(omega_hat (B, N, N//2+1), mean (B, 2))``.

    Attributes:
      reference_step: one unbatched step of the reference solver on the fine grid.
      warmup_step: one unbatched finite-volume step on the coarse warm-up grid
        (None without one).
    """

    def __init__(self, preset: Preset, plan: SplitPlan, sharding):
        self.preset, self.plan, self.sharding = preset, plan, sharding
        flow, fine = preset.flow, preset.fine_size
        dt = plan.dt_model / plan.inner_steps
        self.is_spectral = preset.reference_solver == "spectral"
        self.reference_step = (spectral.spectral_step(flow, fine, dt) if self.is_spectral
                               else dns.finite_volume_step(flow, fine, dt))
        self.warmup_step = (dns.finite_volume_step(flow, preset.warmup_size,
                                                   plan.dt_model / plan.warmup_inner_steps)
                            if preset.warmup_size else None)

    def state_struct(self, batch: int):
        """The ``jax.ShapeDtypeStruct`` pytree of a batch of reference states."""
        fine = self.preset.fine_size
        if self.is_spectral:
            return (jax.ShapeDtypeStruct((batch, fine, fine // 2 + 1), jnp.complex64),
                    jax.ShapeDtypeStruct((batch, 2), jnp.float32))
        return jax.ShapeDtypeStruct((batch, 2, fine, fine), jnp.float32)

    def _to_reference(self, uv):
        """Batched FV face values (any grid) → the reference state on the fine grid."""
        fine, domain = self.preset.fine_size, self.preset.flow.domain_size
        if self.is_spectral:
            return jax.vmap(lambda x: spectral.staggered_to_spectral(x, fine, domain))(uv)
        return jax.vmap(lambda x: refine_velocity(x, fine, domain))(uv)

    @functools.cached_property
    def initial(self):
        """``(base_key, indices) -> state``: the initial states, on the coarse warm-up grid
        when there is one (FV face values), else the reference's."""
        flow = self.preset.flow
        start = self.preset.warmup_size or self.preset.fine_size

        def init(base_key, indices):
            keys = jax.vmap(lambda i: jax.random.fold_in(base_key, i))(indices)
            uv = jax.vmap(lambda k: dns.random_initial_velocity(k, flow, start))(keys)
            return uv if self.preset.warmup_size else self._to_reference(uv)

        return jax.jit(init, out_shardings=self.sharding)

    @functools.cached_property
    def refine(self):
        """``coarse FV state -> reference state`` (:func:`refine_velocity` or the spectral
        transform)."""
        return jax.jit(self._to_reference, out_shardings=self.sharding)

    def observe(self, state, size: int):
        """Batched face averages ``(B, 2, size, size)`` of a reference state."""
        domain = self.preset.flow.domain_size
        if self.is_spectral:
            return jax.vmap(lambda s: spectral.spectral_to_staggered(s, size, domain))(state)
        return jax.vmap(lambda uv: dns.downsample_velocity(uv, size, domain))(state)

    @functools.cached_property
    def diagnostics(self):
        """``state -> (energy (B,), enstrophy (B,))`` on the fine grid: ½⟨u² + v²⟩, ½⟨ω²⟩."""
        fine = self.preset.fine_size
        dx = self.preset.flow.domain_size / fine

        def measure(state):
            uv = self.observe(state, fine)
            u, v = uv[:, 0], uv[:, 1]
            return kinetic_energy(u, v), enstrophy(vorticity(u, v, dx))

        return jax.jit(measure)

    @functools.lru_cache(maxsize=4)
    def advance(self, model_steps: int):
        """``state -> state`` after ``model_steps`` model steps of the reference (jit, per
        count)."""
        run = repeated(self.reference_step, model_steps * self.plan.inner_steps)
        return jax.jit(jax.vmap(run), out_shardings=self.sharding)

    @functools.lru_cache(maxsize=4)
    def advance_warmup(self, model_steps: int):
        """``state -> state`` after ``model_steps`` model steps on the coarse warm-up grid."""
        run = repeated(self.warmup_step, model_steps * self.plan.warmup_inner_steps)
        return jax.jit(jax.vmap(run), out_shardings=self.sharding)

    @functools.cached_property
    def initial_frames(self):
        sizes = self.preset.initial_sizes
        return jax.jit(lambda state: [self.observe(state, m) for m in sizes])

    @functools.cached_property
    def history(self):
        """``state -> (frames (B, H, 2, n, n), state)``: H frames one model step apart.

        Records the state, advances one model step, H − 1 times, then records
        the final state, which is returned (the first frame of the trajectory).
        """
        model_size = self.preset.model_size
        record = trajectory(jax.vmap(repeated(self.reference_step, self.plan.inner_steps)),
                            self.plan.history - 1, lambda s: self.observe(s, model_size),
                            start_with_input=True)

        def run(state):
            state, frames = record(state)
            last = self.observe(state, model_size)[:, None]
            return jnp.concatenate([jnp.swapaxes(frames, 0, 1), last], axis=1), state

        return jax.jit(run, out_shardings=(self.sharding, self.sharding))

    @functools.lru_cache(maxsize=4)
    def frames(self, n_frames: int):
        """``state -> (frames (B, n_frames, 2, n, n), state)``: record, then advance."""
        interval = repeated(self.reference_step, self.plan.save_every * self.plan.inner_steps)
        model_size = self.preset.model_size
        record = trajectory(jax.vmap(interval), n_frames, lambda s: self.observe(s, model_size),
                            start_with_input=True)

        def run(state):
            state, frames = record(state)
            return jnp.swapaxes(frames, 0, 1), state

        return jax.jit(run, out_shardings=(self.sharding, self.sharding))


@functools.lru_cache(maxsize=8)
def split_kernels(preset: Preset, plan: SplitPlan, sharding) -> SplitKernels:
    """Kernels shared by repeated generations of the same problem (no recompilation)."""
    return SplitKernels(preset, plan, sharding)


__all__ = ["refine_velocity", "SplitKernels", "split_kernels"]
