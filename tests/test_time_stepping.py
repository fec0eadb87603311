"""Unit tests of :mod:`neuralpde.numerics.time_stepping`, the package's one time loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralpde.numerics.time_stepping import repeated, scan_outputs, trajectory


def double(x):
    return 2.0 * x


def test_repeated_applies_the_step_the_given_number_of_times():
    assert float(jax.jit(repeated(double, 5))(jnp.float32(1.0))) == 32.0
    assert float(repeated(double, 0)(jnp.float32(3.0))) == 3.0
    with pytest.raises(ValueError, match="steps=-1"):
        repeated(double, -1)


def test_trajectory_records_before_or_after_each_step():
    final, frames = trajectory(double, 3, start_with_input=True)(jnp.float32(1.0))
    np.testing.assert_array_equal(frames, [1.0, 2.0, 4.0])
    assert float(final) == 8.0  # one step past the last frame
    final, frames = trajectory(double, 3)(jnp.float32(1.0))
    np.testing.assert_array_equal(frames, [2.0, 4.0, 8.0])
    assert float(final) == 8.0  # the last frame observes the state returned


def test_trajectory_observes_pytree_states():
    step = lambda s: {"x": s["x"] + 1.0, "n": s["n"] + 1}
    final, frames = trajectory(step, 4, observe=lambda s: s["x"] * 10.0)(
        {"x": jnp.float32(0.0), "n": jnp.int32(0)})
    np.testing.assert_array_equal(frames, [10.0, 20.0, 30.0, 40.0])
    assert int(final["n"]) == 4


@pytest.mark.parametrize("options", [dict(), dict(checkpoint=True), dict(unroll=2),
                                     dict(python_loop=True)])
def test_every_loop_form_gives_the_same_outputs_and_gradient(options):
    step = lambda s: (jnp.sin(s) * 1.5, jnp.stack([s, s ** 2]))
    loss = lambda s: jnp.sum(scan_outputs(step, 4, **options)(s)[1])
    reference = lambda s: jnp.sum(scan_outputs(step, 4)(s)[1])
    x = jnp.float32(0.3)
    _, outputs = scan_outputs(step, 4, **options)(x)
    assert outputs.shape == (4, 2)
    np.testing.assert_allclose(jax.grad(loss)(x), jax.grad(reference)(x), rtol=1e-6)


def test_lengths_out_of_range_are_refused():
    with pytest.raises(ValueError, match="length=0"):
        scan_outputs(lambda s: (s, s), 0, python_loop=True)
    with pytest.raises(ValueError, match="length=-1"):
        trajectory(double, -1)
    final, frames = trajectory(double, 0)(jnp.ones(2))  # an empty trajectory
    assert frames.shape == (0, 2) and float(final[0]) == 1.0


@pytest.mark.parametrize("bad", [2.5, True, None, "3"])
def test_counts_that_are_not_integers_are_refused(bad):
    with pytest.raises(ValueError, match="accepted an integer"):
        repeated(double, bad)
    with pytest.raises(ValueError, match="accepted an integer"):
        trajectory(double, bad)
