"""Constrained stencils, the periodic tower and the learned-interpolation solver."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neuralpde.config import ConfigError
from neuralpde.models.learned_interpolation import (
    TARGETS,
    LearnedInterpolation,
    num_free_parameters,
    target_stencils,
)
from neuralpde.models.stencils import (
    apply_stencil,
    constrained_basis,
    monomial_exponents,
    polynomial_constraint,
    stencil_offsets,
)
from neuralpde.models.tower import ConvTower
from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.learned import LearnedSolver

FLOAT32_EPS = float(np.finfo(np.float32).eps)


def tiny_model(order=1, seed=0):
    return LearnedInterpolation(order=order, hidden=8, depth=2, rngs=nnx.Rngs(seed))


def random_velocity(size=16, seed=0, scale=1.0):
    return scale * jax.random.normal(jax.random.key(seed), (2, size, size), jnp.float32)


def test_stencil_geometry_is_the_four_nearest_source_points_per_axis():
    staggered_x = stencil_offsets((1.0, 0.5), (1.5, 0.5))  # u onto its x-face
    assert sorted(set(staggered_x.positions[:, 0])) == [-1.5, -0.5, 0.5, 1.5]
    assert sorted(set(staggered_x.positions[:, 1])) == [-1.0, 0.0, 1.0, 2.0]
    # index shift + source offset - target offset == relative position
    np.testing.assert_array_equal(staggered_x.shifts + np.array([1.0, 0.5]) - np.array([1.5, 0.5]),
                                  staggered_x.positions)
    assert staggered_x.positions.shape == (16, 2)
    assert len({tuple(p) for p in staggered_x.positions}) == 16


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_constrained_basis_satisfies_the_constraint_for_any_free_parameters(order):
    geometry = stencil_offsets((0.5, 1.0), (1.0, 1.0))
    a, b = polynomial_constraint(geometry, order=order)
    c0, nullspace = constrained_basis(geometry, order=order)
    assert a.shape == (len(monomial_exponents(2, order)), 16)
    assert nullspace.shape == (16, 16 - a.shape[0])
    theta = np.random.default_rng(order).normal(size=(nullspace.shape[1], 5)) * 10
    np.testing.assert_allclose(a @ (c0[:, None] + nullspace @ theta), b[:, None] * np.ones(5),
                               atol=1e-10)
    np.testing.assert_allclose(a @ nullspace, 0.0, atol=1e-12)


def test_order_beyond_the_stencil_is_rejected():
    with pytest.raises(ValueError, match="order 4"):
        constrained_basis(stencil_offsets((1.0, 0.5), (1.5, 0.5)), order=4)
    with pytest.raises(ConfigError, match="order"):
        LearnedInterpolation(order=4, hidden=4, depth=0, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("order", [1, 2])
def test_learned_stencils_are_exact_for_polynomials_up_to_the_order(order):
    """Random weights and inputs: Σ_j c_j p(x_j) = p(x_t) in every cell, for every target."""
    model = tiny_model(order, seed=order)
    coefficients = model(random_velocity(scale=10.0, seed=order))
    assert set(coefficients) == {t.name for t in TARGETS}
    spread = []
    for stencil in target_stencils(order):
        c = np.asarray(coefficients[stencil.target.name], np.float64)  # (N, N, 16)
        assert c.shape == (16, 16, 16)
        spread.append(np.std(c, axis=(0, 1)).max())
        a, b = polynomial_constraint(stencil.geometry, order=order)
        scale = np.abs(c)[..., None, :] * np.abs(a)  # (N, N, M, 16)
        error = np.abs(np.einsum("mk,xyk->xym", a, c) - b)
        assert np.all(error <= 16 * FLOAT32_EPS * (1 + scale.sum(-1))), stencil.target.name
        # one degree higher is NOT reproduced: the test sees the difference
        a_high, b_high = polynomial_constraint(stencil.geometry, order=order + 1)
        assert np.abs(np.einsum("mk,xyk->xym", a_high, c) - b_high).max() > 1e-2
    assert min(spread) > 1e-3  # coefficients really vary from cell to cell


def test_apply_stencil_is_a_sum_of_periodic_rolls():
    geometry = stencil_offsets((0.5, 1.0), (1.0, 1.0))
    rng = np.random.default_rng(0)
    field = rng.normal(size=(3, 8, 8))
    coefficients = rng.normal(size=(3, 8, 8, 16))
    expected = sum(coefficients[..., j] * np.roll(field, tuple(-geometry.shifts[j]), axis=(-2, -1))
                   for j in range(16))
    out = apply_stencil(jnp.asarray(field, jnp.float32), jnp.asarray(coefficients, jnp.float32),
                        geometry)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_apply_stencil_reproduces_a_linear_field_away_from_the_wrap():
    model = tiny_model(1)
    size = 16
    coefficients = model(random_velocity(size, scale=10.0))
    index = np.arange(size, dtype=np.float64)
    for stencil in target_stencils(1):
        sx, sy = stencil.target.source_offset
        tx, ty = stencil.target.target_offset

        def linear(x, y):
            return 0.3 + 1.7 * x - 0.9 * y

        field = linear((index + sx)[:, None], (index + sy)[None, :])
        expected = linear((index + tx)[:, None], (index + ty)[None, :])
        out = apply_stencil(jnp.asarray(field, jnp.float32), coefficients[stencil.target.name],
                            stencil.geometry)
        inner = (slice(2, -2), slice(2, -2))
        np.testing.assert_allclose(np.asarray(out)[inner], expected[inner], rtol=1e-4, atol=1e-4)
        # across the periodic wrap the (non-periodic) field is not linear: exact only inside
        assert np.abs(np.asarray(out) - expected).max() > 1e-1


def test_tower_is_equivariant_to_periodic_shifts():
    tower = ConvTower(2, 5, hidden=8, depth=2, rngs=nnx.Rngs(1))
    x = jax.random.normal(jax.random.key(2), (16, 16, 2))
    y = tower(x)
    assert y.shape == (16, 16, 5)
    shifted = tower(jnp.roll(x, (3, 5), axis=(0, 1)))
    np.testing.assert_allclose(shifted, jnp.roll(y, (3, 5), axis=(0, 1)), atol=1e-5)
    assert float(jnp.abs(y - jnp.roll(y, (3, 5), axis=(0, 1))).max()) > 1e-3


def test_gradients_through_a_four_step_unroll_are_finite_and_non_zero():
    flow = KolmogorovFlow()
    size = 16
    model = tiny_model()
    solver = LearnedSolver.from_model(flow, size, model)
    assert (solver.kind, solver.name, solver.size) == ("learned", "li-16", 16)
    uv0 = dns.random_initial_velocity(jax.random.key(3), flow, size)
    target = uv0  # any fixed target; avoids compiling a reference solver here

    @jax.jit
    def loss(params):
        s = solver.with_params(params)
        uv = s.init(uv0)
        for _ in range(4):
            uv = s.step(uv)
        return jnp.mean((s.velocity(uv) - target) ** 2)

    value, grads = jax.value_and_grad(loss)(solver.params)
    assert np.isfinite(float(value))
    leaves = jax.tree.leaves(grads)
    assert len(leaves) == 6  # 3 convolutions x (kernel, bias)
    for leaf in leaves:
        assert bool(jnp.all(jnp.isfinite(leaf)))
        assert float(jnp.abs(leaf).max()) > 0


def test_zero_free_parameters_run_stays_finite_and_divergence_free():
    flow = KolmogorovFlow()
    size = 16
    model = tiny_model()
    _, params = nnx.split(model)
    zero = jax.tree.map(jnp.zeros_like, params)
    solver = LearnedSolver.from_model(flow, size, model).with_params(zero)
    uv = dns.random_initial_velocity(jax.random.key(4), flow, size)
    uv0 = uv
    step = jax.jit(solver.step)
    for _ in range(20):
        uv = step(uv)
    assert bool(jnp.all(jnp.isfinite(uv)))
    assert float(jnp.abs(uv - uv0).max()) > 1e-2  # it did evolve
    assert float(jnp.abs(uv).max()) < 3 * flow.max_velocity
    dx = flow.domain_size / size
    assert (float(jnp.abs(dns.divergence(uv)).max())
            < 100 * FLOAT32_EPS * float(jnp.abs(uv).max()) / dx)


def test_output_channels_match_the_nullspace_sizes():
    assert num_free_parameters(1) == 8 * 13
    assert num_free_parameters(2) == 8 * 10
    model = tiny_model()
    assert model.tower.out_channels == 104
