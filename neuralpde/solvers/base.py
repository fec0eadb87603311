"""The one solver interface and the helpers every runner of solvers uses.

A *solver* advances a state by one step of ``dt`` on an ``size``² grid::

    state = solver.init(uv)        # uv: (2, size, size) staggered velocity, one sample
    state = solver.step(state)     # one step, pure and jit-able
    uv = solver.velocity(state)    # back to (2, size, size)

The state is any pytree: the velocity itself for classical schemes, velocity
plus temporal memory for learned ones.  A solver with a memory (TSM) sets
``history_frames = K``: its ``init`` then takes the last K frames ``(K, 2,
size, size)``, oldest first, ending with the initial state (see
:func:`init_input_shape`).  A solver whose step is several model steps (TSM's
temporal bundle) sets ``substeps`` and offers ``bundle_step(state) -> (state,
velocities (substeps, 2, size, size))``; :func:`step_with_velocities` gives
the same for any solver.  Everything that runs solvers
(:mod:`neuralpde.solvers.rollout`, latency, training, scoring) only uses
these three methods and the ``name``, ``kind``, ``size`` and ``dt``
attributes, so it never knows which kind of solver it runs.  A solver that
starts from, or reports its velocity on, another grid than ``size`` (the
pseudo-spectral solver) sets ``input_size`` / ``observed_size``
(:func:`input_size`, :func:`observed_size`).  ``vmap`` over
samples is applied outside.

Where a solver is compared.  By default a solver's velocity is downsampled
(staggered face averaging) to the store's model grid and compared with the
stored reference there.  A solver that simulates something else — one
staggered sub-solver alone, whose state is a point-sampled sub-field on
(N/s)² — defines ``reference_view(uv)``: the map from model-grid frames
``(..., 2, N, N)`` to what it simulates; it then starts from the view of the
reference initial state and is compared with the view of every reference
frame, on its own grid (:func:`reference_view`).

The solvers: :mod:`~neuralpde.solvers.classical` (``dns[-N]``,
``weno5-js[-N]``, ``weno5-z[-N]``), :mod:`~neuralpde.solvers.learned` (LI, TSM),
:mod:`~neuralpde.solvers.staggered` (staggered sub-solvers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax

State = Any


class Solver(Protocol):
    name: str
    kind: str
    size: int
    dt: float

    def init(self, uv: jax.Array) -> State: ...

    def step(self, state: State) -> State: ...

    def velocity(self, state: State) -> jax.Array: ...


def history_frames(solver) -> int:
    """Frames ``solver.init`` consumes: 0 for a single state ``(2, n, n)``, else K."""
    return int(getattr(solver, "history_frames", 0))


def input_size(solver) -> int:
    """The grid of the states ``solver.init`` takes: ``solver.input_size`` where a solver
    starts from a stored state on another grid than it runs on (the pseudo-spectral
    solver: the finest stored one, filtered to its grid), else ``solver.size``."""
    return int(getattr(solver, "input_size", solver.size))


def observed_size(solver) -> int:
    """The grid of ``solver.velocity(state)``: ``solver.observed_size`` where a solver
    gives its velocity on another grid than it runs on (the pseudo-spectral solver: the
    model grid), else ``solver.size``."""
    return int(getattr(solver, "observed_size", solver.size))


def init_input_shape(solver) -> tuple:
    """The shape ``solver.init`` takes: ``(2, m, m)`` or ``(K, 2, m, m)``,
    m = :func:`input_size`."""
    k = history_frames(solver)
    m = input_size(solver)
    return ((k,) if k else ()) + (2, m, m)


def substeps(solver) -> int:
    """Model steps per ``solver.step`` (1 unless the solver bundles steps)."""
    return int(getattr(solver, "substeps", 1))


def step_with_velocities(solver, state):
    """``(state, velocities (substeps, 2, n, n))`` after one ``solver.step``."""
    if hasattr(solver, "bundle_step"):
        return solver.bundle_step(state)
    state = solver.step(state)
    return state, solver.velocity(state)[None]


def reference_view(solver) -> Callable[[jax.Array], jax.Array] | None:
    """The solver's ``reference_view`` (model-grid frames -> what it simulates), or None.

    None: the solver is compared on the model grid with its velocity
    face-averaged to it (every solver but a lone staggered sub-solver).
    """
    return getattr(solver, "reference_view", None)


