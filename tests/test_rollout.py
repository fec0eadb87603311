"""Unit tests of :mod:`neuralpde.solvers.rollout`: a rollout is the solver stepped by hand.

Covers :func:`~neuralpde.solvers.rollout.rollout` through its public behaviour only:
frame 0 is the initial state, frame k is ``k * steps_per_frame`` steps of the solver
(checked exactly on a toy solver whose steps are known in closed form, and against a
hand-stepped finite-volume DNS), the downsampling of each frame to ``output_size``
(staggered face averaging, computed here in numpy), shapes and dtypes, independence
of ``block_frames``, a solver with a history prefix, per-sample divergence steps and
times, and the error for initial states of the wrong shape.  Also
:func:`~neuralpde.solvers.rollout.steps_per_frame` (and its error when the solver's
step does not divide the frame spacing), :func:`as_jit_argument` and
:func:`device_name`.  One CPU device; the multi-device and multi-process rollouts are
tested in test_evaluation.py and test_distributed.py.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_preset
from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.solvers.base import SolverDefaults
from neuralpde.solvers.classical import FiniteVolumeSolver
from neuralpde.solvers.rollout import (
    NOT_DIVERGED,
    Rollout,
    as_jit_argument,
    device_name,
    rollout,
    steps_per_frame,
)

DOMAIN = 2 * np.pi


@dataclasses.dataclass(frozen=True)
class Halving(SolverDefaults):
    """A toy solver: each step halves the velocity (exact in float32)."""

    size: int = 8
    dt: float = 0.25
    name: str = "halving"
    kind: str = "toy"

    def init(self, uv):
        return uv

    def step(self, state):
        return state * 0.5

    def velocity(self, state):
        return state


@dataclasses.dataclass(frozen=True)
class TimesTen(SolverDefaults):
    """A toy solver with a step counter in its state: each step multiplies by 10, so a
    sample of magnitude 10^e overflows float32 (max ~3.4e38) at step 39 - e."""

    size: int = 4
    dt: float = 0.1
    name: str = "times-ten"
    kind: str = "toy"

    def init(self, uv):
        return {"uv": uv, "steps": jnp.int32(0)}

    def step(self, state):
        return {"uv": state["uv"] * 10.0, "steps": state["steps"] + 1}

    def velocity(self, state):
        return state["uv"]


@dataclasses.dataclass(frozen=True)
class LastOfHistory(SolverDefaults):
    """A toy solver with a memory of K frames: it starts from the last one and adds 1."""

    history_frames: int = 3
    size: int = 4
    dt: float = 0.5
    name: str = "history"
    kind: str = "toy"

    def init(self, uv):
        return uv[-1]

    def step(self, state):
        return state + 1.0

    def velocity(self, state):
        return state


def face_average(uv, factor):
    """Staggered face averaging in numpy: coarse u on a coarse x-face is the mean of the fine
    u on the ``factor`` fine faces it covers (likewise v on y-faces)."""
    u, v = uv[..., 0, :, :], uv[..., 1, :, :]
    n = u.shape[-1] // factor
    faces = np.arange(n) * factor + factor - 1  # the fine faces on the coarse ones
    u = u[..., faces, :].reshape(u.shape[:-2] + (n, n, factor)).mean(-1)
    v = v[..., faces].reshape(v.shape[:-2] + (n, factor, n)).mean(-2)
    return np.stack([u, v], axis=-3)


def random_states(samples, size, seed=0):
    return np.random.default_rng(seed).standard_normal((samples, 2, size, size)).astype(np.float32)


def test_frames_are_the_initial_state_then_every_kth_step():
    uv0 = random_states(3, 8)
    result = rollout(Halving(), uv0, n_frames=4, steps_per_frame=3, output_size=8,
                     domain_size=DOMAIN)
    assert isinstance(result, Rollout)
    assert result.frames.shape == (3, 4, 2, 8, 8) and result.frames.dtype == np.float32
    np.testing.assert_array_equal(result.frames[:, 0], uv0)
    for k in range(4):
        np.testing.assert_array_equal(result.frames[:, k], uv0 * np.float32(0.5) ** (3 * k))
    assert result.diverged_step.tolist() == [NOT_DIVERGED] * 3
    assert result.diverged_time == [None] * 3
    assert result.dt == 0.25 and result.steps_per_frame == 3


def test_one_frame_is_only_the_initial_state():
    uv0 = random_states(2, 8, seed=1)
    result = rollout(Halving(), uv0, n_frames=1, steps_per_frame=5, output_size=8,
                     domain_size=DOMAIN)
    assert result.frames.shape == (2, 1, 2, 8, 8)
    np.testing.assert_array_equal(result.frames[:, 0], uv0)


def test_frames_are_face_averaged_to_the_output_grid():
    uv0 = random_states(2, 8, seed=2)
    result = rollout(Halving(), uv0, n_frames=3, steps_per_frame=1, output_size=4,
                     domain_size=DOMAIN)
    assert result.frames.shape == (2, 3, 2, 4, 4)
    for k in range(3):
        np.testing.assert_allclose(result.frames[:, k], face_average(uv0 * 0.5 ** k, 2),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("block_frames", [1, 2, 32])
def test_block_frames_does_not_change_the_frames(block_frames):
    uv0 = random_states(2, 8, seed=3)
    result = rollout(Halving(), uv0, n_frames=5, steps_per_frame=2, output_size=8,
                     domain_size=DOMAIN, block_frames=block_frames)
    expected = uv0[:, None] * (np.float32(0.5) ** (2 * np.arange(5)))[None, :, None, None, None]
    np.testing.assert_array_equal(result.frames, expected)


def test_a_dns_rollout_reproduces_stepping_the_solver_by_hand():
    flow = tiny_preset().flow
    solver = FiniteVolumeSolver(flow=flow, size=8)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    uv0 = np.stack([np.asarray(dns.random_initial_velocity(k, flow, 8)) for k in keys])
    result = rollout(solver, uv0, n_frames=3, steps_per_frame=2, output_size=8,
                     domain_size=flow.domain_size)
    step = jax.jit(solver.step)
    for i in range(2):
        state, frames = solver.init(jnp.asarray(uv0[i])), [uv0[i]]
        for _ in range(2):
            for _ in range(2):
                state = step(state)
            frames.append(np.asarray(solver.velocity(state)))
        np.testing.assert_allclose(result.frames[i], np.stack(frames), rtol=1e-5, atol=1e-5)
    assert not np.allclose(result.frames[:, 2], result.frames[:, 0])  # the flow did move
    assert result.diverged_step.tolist() == [NOT_DIVERGED] * 2


def test_a_solver_with_a_history_starts_from_its_prefix():
    solver = LastOfHistory()
    prefixes = np.random.default_rng(4).standard_normal((2, 3, 2, 4, 4)).astype(np.float32)
    result = rollout(solver, prefixes, n_frames=3, steps_per_frame=2, output_size=4,
                     domain_size=DOMAIN)
    assert result.frames.shape == (2, 3, 2, 4, 4)
    for k in range(3):
        np.testing.assert_allclose(result.frames[:, k], prefixes[:, -1] + 2 * k, rtol=1e-6)


def test_each_sample_is_marked_diverged_at_its_own_step():
    # magnitudes 1e30, 1e35, 1: float32 overflows at steps 9 and 4; the third never does
    uv0 = np.stack([np.full((2, 4, 4), scale, np.float32) for scale in (1e30, 1e35, 1.0)])
    solver = TimesTen()
    result = rollout(solver, uv0, n_frames=5, steps_per_frame=3, output_size=4,
                     domain_size=DOMAIN, block_frames=2)
    assert result.diverged_step.tolist() == [9, 4, NOT_DIVERGED]
    assert result.diverged_time == [pytest.approx(0.9), pytest.approx(0.4), None]
    assert result.frames.shape == (3, 5, 2, 4, 4)  # a finite sample: the rollout goes on
    finite = np.isfinite(result.frames).all(axis=(2, 3, 4))
    assert finite.tolist() == [[True, True, True, False, False],  # step 9 is frame 3
                               [True, True, False, False, False],  # step 4 is in frame 2
                               [True] * 5]
    np.testing.assert_allclose(result.frames[2, :, 0, 0, 0], 10.0 ** (3 * np.arange(5)),
                               rtol=1e-6)


def test_initial_states_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"solver 'halving' expects \(samples, 2, 8, 8\)"):
        rollout(Halving(), random_states(2, 16), 2, 1, 8, DOMAIN)
    with pytest.raises(ValueError, match=r"solver 'history' expects \(samples, 3, 2, 4, 4\)"):
        rollout(LastOfHistory(), random_states(2, 4), 2, 1, 4, DOMAIN)


def test_steps_per_frame_is_the_frame_spacing_over_the_step():
    assert steps_per_frame(Halving(dt=0.25), 1.0) == 4
    assert steps_per_frame(Halving(dt=0.1), 0.3) == 3  # 0.3 / 0.1 is not exactly 3 in floats
    assert steps_per_frame(Halving(dt=0.5), 0.5) == 1
    for dt in (0.3, 2.0):  # does not divide; longer than the spacing
        with pytest.raises(ConfigError, match=f"solver 'halving' has dt={dt:g}, which does not "
                                              "divide the store's frame spacing 1"):
            steps_per_frame(Halving(dt=dt), 1.0)


def test_as_jit_argument_keeps_pytrees_and_wraps_other_solvers():
    params = {"w": jnp.ones(3)}
    assert as_jit_argument(params) is params  # a pytree's arrays stay traced inputs
    assert jax.tree.leaves(Halving()) == [Halving()]  # not a pytree: one opaque leaf
    wrapped = as_jit_argument(Halving())
    assert jax.tree.leaves(wrapped) == []  # carried as static data
    assert wrapped == as_jit_argument(Halving()) and hash(wrapped) == hash(
        as_jit_argument(Halving()))  # equal solvers share one compilation
    assert wrapped != as_jit_argument(Halving(dt=0.5))


def test_device_name_names_the_platform_and_device_count():
    assert device_name().startswith(f"{jax.devices()[0].platform}: ")
    assert device_name().endswith(f" x{jax.device_count()}")


@pytest.mark.parametrize("option", ["n_frames", "steps_per_frame", "block_frames"])
@pytest.mark.parametrize("value", [0, -3, 1.5])
def test_counts_below_one_are_refused_naming_the_option(option, value):
    """block_frames=0 used to loop forever, n_frames=0 to return one frame silently."""
    args = {"n_frames": 3, "steps_per_frame": 1, "block_frames": 2, option: value}
    with pytest.raises(ValueError, match=f"invalid {option}="):
        rollout(Halving(), np.ones((1, 2, 8, 8), np.float32), output_size=8,
                domain_size=DOMAIN, **args)
