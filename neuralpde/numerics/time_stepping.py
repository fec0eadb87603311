"""Time stepping: the one place that turns a step function into a loop.

Every time loop of the package is built from these three pieces (the pattern
of jax-cfd's ``funcutils.repeated`` / ``funcutils.trajectory``, written
here): DNS generation (:mod:`neuralpde.store.generate`), solver rollouts
(:mod:`neuralpde.solvers.rollout`), the unrolled training loss
(:mod:`neuralpde.training.losses`) and the staggered state pool
(:mod:`neuralpde.training.staggered`).

* :func:`repeated` — ``state -> state`` after ``steps`` steps.
* :func:`scan_outputs` — ``state -> (state, outputs)`` for a step that also
  returns an output (e.g. a bundled solver's intermediate velocities).
* :func:`trajectory` — ``state -> (state, frames)``: advance and observe,
  ``length`` times, optionally recording the input first.

The functions are pure and jit-compatible; the state may be any pytree and
the outputs are stacked along a new leading (time) axis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

State = Any
Step = Callable[[State], State]


def _check_count(label: str, value, least: int) -> None:
    """``value`` must be an integer (not a bool) >= ``least``; ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise ValueError(f"{label}={value!r}: accepted an integer >= {least}")


def repeated(step: Step, steps: int) -> Step:
    """``step`` applied ``steps`` times, ``x -> step(step(...step(x)))``.

    A ``lax.fori_loop`` with static bounds (one compiled body whatever
    ``steps``).

    Args:
        step: ``state -> state``, jit-compatible.
        steps: how many times, an integer >= 0 (0: the identity).

    Returns:
        ``state -> state``.

    Raises:
        ValueError: ``steps`` is not an integer >= 0.
    """
    _check_count("steps", steps, 0)
    if steps == 0:
        return lambda x: x
    return lambda x: jax.lax.fori_loop(0, steps, lambda _, y: step(y), x)


def scan_outputs(step: Callable[[State], tuple[State, Any]], length: int,
                 checkpoint: bool = False, unroll: int = 1,
                 python_loop: bool = False) -> Callable[[State], tuple[State, Any]]:
    """``length`` calls of a step that returns ``(new state, output)``; outputs stacked.

    Args:
        step: ``state -> (state, output)``; ``output`` any pytree of arrays.
        length: number of calls, >= 0 (>= 1 with ``python_loop``).
        checkpoint: rematerialise each call in the backward pass
            (``jax.checkpoint``; Griewank & Walther's checkpointing of a
            time-stepping loop): only the states between calls are kept.
        unroll: ``lax.scan``'s unroll (calls per loop iteration).
        python_loop: unroll the calls in Python instead of a ``lax.scan``
            (``checkpoint`` and ``unroll`` then unused).  On XLA:CPU the
            backward pass of a Python-unrolled loop over convolutional networks
            was an order of magnitude faster than a rolled scan
            (benchmarks/loss_unroll.py).

    Returns:
        ``state -> (final state, outputs)``, each output leaf with a leading
        axis of ``length``.

    Raises:
        ValueError: ``length`` out of range.
    """
    _check_count("length", length, int(python_loop))
    if python_loop:
        def run_python(state):
            outputs = []
            for _ in range(length):
                state, out = step(state)
                outputs.append(out)
            return state, jax.tree.map(lambda *xs: jnp.stack(xs), *outputs)
        return run_python
    body = jax.checkpoint(lambda s, _: step(s)) if checkpoint else (lambda s, _: step(s))
    return lambda state: jax.lax.scan(body, state, None, length=length, unroll=unroll)


def trajectory(step: Step, length: int, observe: Callable[[State], Any] | None = None,
               start_with_input: bool = False) -> Callable[[State], tuple[State, Any]]:
    """``length`` frames of ``observe(state)``, advancing ``step`` once per frame.

    With ``start_with_input`` the frames are ``observe(x), observe(step(x)),
    ...`` (record, then advance: the last state returned is one step past the
    last frame); without it ``observe(step(x)), observe(step(step(x))), ...``
    (advance, then record: the last frame observes the state returned).

    Args:
        step: ``state -> state`` (for several solver steps per frame, pass
            :func:`repeated` of it).
        length: number of frames, >= 0.
        observe: ``state -> frame`` (default: the state itself).
        start_with_input: record before advancing (see above).

    Returns:
        ``state -> (final state, frames)``, each frame leaf with a leading
        axis of ``length``.

    Raises:
        ValueError: ``length`` < 0.
    """
    _check_count("length", length, 0)
    observe = (lambda s: s) if observe is None else observe

    def record_then_advance(state):
        return step(state), observe(state)

    def advance_then_record(state):
        state = step(state)
        return state, observe(state)

    return scan_outputs(record_then_advance if start_with_input else advance_then_record,
                        length)


__all__ = ["repeated", "scan_outputs", "trajectory"]
