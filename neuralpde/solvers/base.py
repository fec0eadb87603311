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
from typing import Any, ClassVar, Protocol

import jax

State = Any


class Solver(Protocol):
    """What every runner of solvers uses (rollout, latency, scoring, training).

    Required: ``name``, ``kind``, ``size`` (cells per side), ``dt`` (time
    units per :meth:`step`), :meth:`init`, :meth:`step`, :meth:`velocity`.
    The capabilities below have defaults in :class:`SolverDefaults`, which
    every solver of the package inherits; a solver written elsewhere inherits
    it too, or declares them itself.
    """

    name: str
    kind: str
    size: int
    dt: float
    #: Frames ``init`` takes (0: one state ``(2, n, n)``; K: a prefix ``(K, 2, n, n)``).
    history_frames: int
    #: Model steps per ``step`` (a TSM bundle; else 1).
    substeps: int
    #: The grid of the states ``init`` takes.
    input_size: int
    #: The grid of ``velocity(state)``.
    observed_size: int
    #: Model-grid frames ``(..., 2, N, N)`` -> what the solver simulates, or None
    #: (compared on the model grid).
    reference_view: Callable[[jax.Array], jax.Array] | None
    #: What ``reference_view`` gives, in words (tables).
    view_name: str

    def init(self, uv: jax.Array) -> State:
        """The state of one sample from ``uv`` (``init_input_shape``)."""

    def step(self, state: State) -> State:
        """One step of ``dt``; pure and jit-able."""

    def velocity(self, state: State) -> jax.Array:
        """The staggered velocity ``(2, observed_size, observed_size)`` of a state."""

    def bundle_step(self, state: State) -> tuple[State, jax.Array]:
        """One ``step`` and the velocities of its model steps ``(substeps, 2, n, n)``."""


class TrainableSolver(Solver, Protocol):
    """A solver with parameters training updates (LI, TSM, staggered sub-solvers)."""

    params: Any

    def with_params(self, params: Any) -> TrainableSolver:
        """The same solver with other parameters (same pytree structure)."""


class SolverDefaults:
    """The defaults of :class:`Solver`'s capabilities; solver classes inherit them.

    One state per ``init`` (``history_frames = 0``), one model step per
    ``step`` (``substeps = 1``), ``input_size = observed_size = size``,
    compared on the model grid (``reference_view = None``).
    """

    history_frames: ClassVar[int] = 0
    substeps: ClassVar[int] = 1
    reference_view: ClassVar[Callable | None] = None
    view_name: ClassVar[str] = "reference view"

    @property
    def input_size(self) -> int:
        """The grid ``init`` takes: ``size``."""
        return self.size

    @property
    def observed_size(self) -> int:
        """The grid of ``velocity``: ``size``."""
        return self.size

    def bundle_step(self, state):
        """``(step(state), velocity(step(state))[None])``."""
        state = self.step(state)
        return state, self.velocity(state)[None]


def history_frames(solver: Solver) -> int:
    """Frames ``solver.init`` consumes: 0 for a single state ``(2, n, n)``, else K."""
    return int(solver.history_frames)


def input_size(solver: Solver) -> int:
    """The grid of the states ``solver.init`` takes: ``solver.input_size`` (another grid
    than ``size`` where a solver starts from a stored state on another grid than it runs
    on: the pseudo-spectral solver takes the finest stored one, filtered to its grid)."""
    return int(solver.input_size)


def observed_size(solver: Solver) -> int:
    """The grid of ``solver.velocity(state)``: ``solver.observed_size`` (the model grid for
    the pseudo-spectral solver, else ``solver.size``)."""
    return int(solver.observed_size)


def init_input_shape(solver) -> tuple:
    """The shape ``solver.init`` takes: ``(2, m, m)`` or ``(K, 2, m, m)``,
    m = :func:`input_size`."""
    k = history_frames(solver)
    m = input_size(solver)
    return ((k,) if k else ()) + (2, m, m)


def substeps(solver: Solver) -> int:
    """Model steps per ``solver.step`` (1 unless the solver bundles steps)."""
    return int(solver.substeps)


def step_with_velocities(solver: Solver, state):
    """``(state, velocities (substeps, 2, n, n))`` after one ``solver.step``."""
    return solver.bundle_step(state)


def reference_view(solver: Solver) -> Callable[[jax.Array], jax.Array] | None:
    """The solver's ``reference_view`` (model-grid frames -> what it simulates), or None.

    None: the solver is compared on the model grid with its velocity
    face-averaged to it (every solver but a lone staggered sub-solver).
    """
    return solver.reference_view
