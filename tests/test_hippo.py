"""HiPPO memories (LagT, LegT, LegS): operators, discretisation, encoding, reconstruction."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralpde.config import ConfigError
from neuralpde.models.hippo import HiPPO, Memory, bilinear, lagt, legs, legt, make_hippo

MEASURES = {"lagt": {}, "legt": {"theta": 20.0}, "legs": {}}


def signal(t, period):
    """A smooth two-tone test signal."""
    return np.sin(2 * np.pi * t / period) + 0.5 * np.cos(6 * np.pi * t / period + 0.3)


def test_operators_match_the_published_formulas():
    A, B = lagt(3)  # TSM: -(L - I/2), ones
    np.testing.assert_array_equal(A, [[-0.5, 0, 0], [-1, -0.5, 0], [-1, -1, -0.5]])
    np.testing.assert_array_equal(B, [1, 1, 1])
    A, B = lagt(2, a=0.25, b=3.0)
    np.testing.assert_array_equal(A, [[-1.25, 0], [-1, -1.25]])
    np.testing.assert_array_equal(B, [3, 3])

    r3, r5 = np.sqrt(3), np.sqrt(5)
    A, B = legt(3, theta=2.0)
    np.testing.assert_allclose(A, -0.5 * np.array([[1, -r3, r5], [r3, 3, -r3 * r5],
                                                   [r5, r3 * r5, 5]]), rtol=1e-15)
    np.testing.assert_allclose(B, 0.5 * np.array([1, r3, r5]), rtol=1e-15)
    A, B = legs(3)
    np.testing.assert_allclose(A, [[-1, 0, 0], [-r3, -2, 0], [-r5, -r3 * r5, -3]], rtol=1e-15)
    np.testing.assert_allclose(B, [1, r3, r5], rtol=1e-15)


def test_bilinear_discretisation():
    Ad, Bd = bilinear(np.array([[-2.0]]), np.array([3.0]), dt=0.1)
    np.testing.assert_allclose(Ad, [[0.9 / 1.1]], rtol=1e-15)
    np.testing.assert_allclose(Bd, [0.3 / 1.1], rtol=1e-15)
    # LegS: step k is the bilinear step of A/(k+1), B/(k+1) with dt = 1, whatever dt.
    hippo = make_hippo("legs", 4, dt=0.3)
    A, B = legs(4)
    for k in (0, 5):
        expected = bilinear(A / (k + 1), B / (k + 1), 1.0)
        for got, want in zip(hippo.discrete(k), expected):
            np.testing.assert_allclose(got, want, rtol=1e-14)
    assert not np.allclose(hippo.discrete(0)[0], hippo.discrete(5)[0])


@pytest.mark.parametrize("measure", list(MEASURES))
def test_the_discretisation_keeps_the_continuous_fixed_point(measure):
    hippo = make_hippo(measure, 6, dt=0.7, **MEASURES[measure])
    star = np.asarray(hippo.fixed_point(np.float32(1.0)), np.float64)
    A, B = hippo.continuous
    np.testing.assert_allclose(A @ star + B, 0, atol=1e-5)
    for step in (0, 3):
        Ad, Bd = hippo.discrete(step)
        np.testing.assert_allclose(Ad @ star + Bd, star, atol=1e-5)


def test_analytic_fixed_points():
    np.testing.assert_allclose(make_hippo("lagt", 5, b=2.0).fixed_point(jnp.float32(1.5)),
                               3.0 * np.array([2, -2, 2, -2, 2]), rtol=1e-6)
    for measure in ("legt", "legs"):
        point = make_hippo(measure, 5, **MEASURES[measure]).fixed_point(jnp.ones((2, 3)))
        assert point.shape == (2, 3, 5)
        np.testing.assert_allclose(point, np.broadcast_to([1, 0, 0, 0, 0], (2, 3, 5)), atol=1e-6)


@pytest.mark.parametrize("measure", list(MEASURES))
def test_constant_input_drives_the_memory_to_the_fixed_point(measure):
    with jax.enable_x64(True):
        hippo = make_hippo(measure, 8, **MEASURES[measure])
        c = jnp.array([1.5, -0.25])
        star = hippo.fixed_point(c)
        errors = {}
        for steps in (100, 400):
            memory = hippo.encode(jnp.broadcast_to(c, (steps, 2)))
            errors[steps] = float(jnp.max(jnp.abs(memory.coefficients - star)))
    if measure == "legs":  # algebraic: the error of the first steps decays like 1/k
        assert errors[400] < 0.3 * errors[100] and errors[400] < 0.01
    else:  # geometric
        assert errors[400] < 1e-12 and errors[100] < 1e-6


def reconstruction_error(measure, order):
    """RMS error of the reconstructed history of a two-tone signal over 1000 frames."""
    frames = 1000
    u = signal(np.arange(frames), period=400.0)
    if measure == "lagt":  # a 20-unit period, finely stepped; b != 1 to check the 1/b
        dt, period = 0.05, 20.0
        hippo = make_hippo("lagt", order, dt=dt, b=2.0)
        memory = hippo.encode(jnp.asarray(signal(dt * np.arange(400), period)))
        lag = np.linspace(0.0, period / 2, 101)
        truth = signal(dt * (400 - 0.5) - lag, period)  # frame j sits at (j + 1/2) dt
        return float(np.sqrt(np.mean(
            (np.asarray(hippo.reconstruct_lag(memory, lag)) - truth) ** 2)))
    window = 600.0 if measure == "legt" else frames
    hippo = make_hippo(measure, order, theta=600.0 if measure == "legt" else None)
    memory = hippo.encode(jnp.asarray(u))
    s = np.linspace(0.0, 1.0, 201)
    truth = signal(frames - window * (1 - s) - 0.5, period=400.0)
    return float(np.sqrt(np.mean((np.asarray(hippo.reconstruct(memory, s)) - truth) ** 2)))


# Measured (float64): legt 3.5e-1, 7.7e-2, 1.1e-3; legs 4.6e-1, 3.0e-1, 1.8e-2;
# lagt 1.7e-1, 8.0e-2, 1.1e-2.
@pytest.mark.parametrize("measure,last", [("legt", 3e-3), ("legs", 4e-2), ("lagt", 3e-2)])
def test_memory_reconstructs_the_history_better_with_higher_order(measure, last):
    with jax.enable_x64(True):
        errors = [reconstruction_error(measure, order) for order in (8, 16, 32)]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 10 and errors[2] < last, errors


def test_reconstruction_bases():
    """Unit coefficient n reconstructs λ_n P_n(2s - 1) (LegT/LegS) and e^{a·lag} L_n(lag)/b
    (LagT)."""
    from numpy.polynomial import laguerre, legendre
    with jax.enable_x64(True):
        s, lag, eye = np.linspace(0, 1, 7), np.linspace(0, 12, 7), jnp.eye(5)
        scaled = legendre.legvander(2 * s - 1, 4) * np.sqrt(2 * np.arange(5) + 1)
        for measure in ("legt", "legs"):
            hippo = make_hippo(measure, 5, **MEASURES[measure])
            np.testing.assert_allclose(hippo.reconstruct(Memory(eye, jnp.int32(40)), s), scaled.T,
                                       atol=1e-12)
        legs_lag = make_hippo("legs", 5, dt=0.5).reconstruct_lag(Memory(eye, jnp.int32(40)),
                                                                 20 * (1 - s))
        np.testing.assert_allclose(legs_lag, scaled.T, atol=1e-12)  # t = 40 steps * 0.5
        hippo = make_hippo("lagt", 5, a=-0.3, b=2.0)
        expected = laguerre.lagvander(lag, 4) * (np.exp(-0.3 * lag) / 2.0)[:, None]
        np.testing.assert_allclose(hippo.reconstruct_lag(Memory(eye, jnp.int32(0)), lag),
                                   expected.T, atol=1e-10)


def test_reconstruct_needs_a_window():
    hippo = make_hippo("lagt", 4)
    with pytest.raises(NotImplementedError, match="reconstruct_lag"):
        hippo.reconstruct(hippo.init(), jnp.linspace(0, 1, 3))


def reference_updates(hippo, memory0, frames):
    """K online updates in float64 numpy with the per-step (A_d, B_d)."""
    x = np.asarray(memory0.coefficients, np.float64)
    start = int(memory0.step)
    for k, frame in enumerate(frames):
        Ad, Bd = hippo.discrete(start + k)
        x = x @ Ad.T + np.asarray(frame)[..., None] * Bd
    return x


@pytest.mark.parametrize("measure", list(MEASURES))
def test_encoding_equals_online_updates(measure):
    with jax.enable_x64(True):
        hippo = make_hippo(measure, 6, dt=0.5, **MEASURES[measure])
        u = jnp.asarray(np.random.default_rng(0).standard_normal((30, 2, 5, 5)))
        online, update = hippo.init((2, 5, 5), jnp.float64), jax.jit(hippo.update)
        for frame in u:
            online = update(online, frame)
        encoded = hippo.encode(u)
        assert encoded.coefficients.shape == (2, 5, 5, 6) and int(encoded.step) == 30
        scale = float(jnp.max(jnp.abs(online.coefficients)))
        np.testing.assert_allclose(encoded.coefficients, online.coefficients, rtol=0,
                                   atol=1e-12 * scale)
        np.testing.assert_allclose(online.coefficients,
                                   reference_updates(hippo, hippo.init((2, 5, 5)), u),
                                   atol=1e-12 * scale)
        # Frames along another axis, and continuing from a memory (LegS: from its step).
        first = hippo.encode(jnp.moveaxis(u[:12], 0, -1), axis=-1)
        assert int(first.step) == 12
        both = hippo.encode(u[12:], memory=first)
        np.testing.assert_allclose(both.coefficients, online.coefficients, rtol=0,
                                   atol=1e-12 * scale)
        assert int(both.step) == 30


@pytest.mark.parametrize("measure", list(MEASURES))
def test_update_jits_and_vmaps(measure):
    hippo = make_hippo(measure, 5, **MEASURES[measure])
    u = jnp.asarray(np.random.default_rng(2).standard_normal((7, 4, 3)), jnp.float32)
    eager = hippo.init((4, 3))
    for frame in u[:3]:
        eager = hippo.update(eager, frame)
    for frame in u[3:]:
        eager = Memory(*(np.asarray(a) for a in eager))  # numpy reference for the rest
        Ad, Bd = hippo.discrete(int(eager.step))
        eager = Memory(eager.coefficients @ Ad.T + np.asarray(frame)[..., None] * Bd,
                       eager.step + 1)

    update = jax.jit(hippo.update)
    jitted = hippo.init((4, 3))
    for frame in u:
        jitted = update(jitted, frame)
    assert isinstance(jitted, Memory) and int(jitted.step) == 7
    np.testing.assert_allclose(jitted.coefficients, eager.coefficients, rtol=1e-6, atol=1e-6)

    # vmap over the leading axis, each batch element carrying its own step counter.
    mapped = Memory(jnp.zeros((4, 3, 5), jnp.float32), jnp.zeros((4,), jnp.int32))
    vupdate = jax.jit(jax.vmap(hippo.update))
    for frame in u:
        mapped = vupdate(mapped, frame)
    np.testing.assert_allclose(mapped.coefficients, eager.coefficients, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(mapped.step, 7)

    encode = jax.jit(hippo.encode, static_argnames="axis")
    encoded = encode(u)
    assert encoded.coefficients.dtype == jnp.float32
    np.testing.assert_allclose(encoded.coefficients, eager.coefficients, rtol=1e-5, atol=1e-5)
    if measure != "lagt":
        values = jax.jit(hippo.reconstruct)(eager, jnp.linspace(0, 1, 9))
        assert values.shape == (4, 3, 9) and bool(jnp.all(jnp.isfinite(values)))


def test_hippo_is_hashable_and_usable_as_a_static_argument():
    hippo = make_hippo("legt", 4, theta=10)
    assert (hippo == make_hippo("legt", 4, theta=10.0)
            and hash(hippo) == hash(make_hippo("legt", 4, theta=10.0)))
    step = jax.jit(lambda h, m, u: h.update(m, u), static_argnums=0)
    memory = step(hippo, hippo.init((2,)), jnp.ones(2))
    np.testing.assert_allclose(memory.coefficients[0], hippo.discrete()[1], rtol=1e-6)


@pytest.mark.parametrize("call,bad", [
    (lambda: make_hippo("legx", 4), "'legx'"),
    (lambda: make_hippo("lagt", 0), "order=0"),
    (lambda: make_hippo("lagt", 2.5), "order=2.5"),
    (lambda: make_hippo("lagt", True), "order=True"),
    (lambda: make_hippo("legt", 4), "theta=None"),
    (lambda: make_hippo("legt", 4, theta=-1.0), "theta=-1.0"),
    (lambda: make_hippo("legs", 4, theta=5.0), "theta=5.0"),
    (lambda: make_hippo("lagt", 4, dt=0.0), "dt=0.0"),
    (lambda: make_hippo("lagt", 4, dt=float("nan")), "dt=nan"),
    (lambda: make_hippo("lagt", 4, a=-1.0), "a=-1.0"),
    (lambda: make_hippo("lagt", 4, b=0.0), "b=0.0"),
    (lambda: legt(3, theta=0), "theta=0"),
    (lambda: legs(-2), "order=-2"),
])
def test_invalid_arguments_are_named(call, bad):
    with pytest.raises(ConfigError) as error:
        call()
    assert bad in str(error.value) and "accepted" in str(error.value)


def test_unknown_measure_lists_the_accepted_names():
    with pytest.raises(ConfigError, match="lagt.*legt.*legs"):
        make_hippo("fourier", 4)
    assert isinstance(make_hippo("lagt", np.int64(3)), HiPPO)


def test_needed_history_keeps_its_values_and_is_fast_at_high_orders():
    """memory_frames by doubling and bisection returns what the frame-by-frame sum returned
    (values measured with it) and takes a fraction of a second where that took seconds."""
    import time

    assert make_hippo("legt", 8, theta=16.0).memory_frames() == 18   # mini and quickstart default
    assert make_hippo("legt", 8, theta=32.0).memory_frames() == 35
    assert make_hippo("legt", 32, theta=16.0).memory_frames() == 60
    assert make_hippo("legt", 32, theta=32.0).memory_frames() == 53
    assert make_hippo("lagt", 8).memory_frames() == 34
    assert make_hippo("lagt", 32).memory_frames() == 131
    assert make_hippo("lagt", 256).memory_frames() == 1027          # the published order
    assert make_hippo("lagt", 32, dt=0.5).memory_frames() == 262
    assert make_hippo("legs", 8).memory_frames() is None
    assert make_hippo("legs", 32).memory_frames() is None
    start = time.perf_counter()
    assert make_hippo("legt", 256, theta=16.0).memory_frames() == 3419
    assert time.perf_counter() - start < 5.0
    # LegT N = 512: 13,954 frames, about 2 s; the frame-by-frame sum took minutes
    script = ("from neuralpde.models.hippo import make_hippo; "
              "print(make_hippo('legt', 512, theta=16.0).memory_frames())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=40)
    assert done.stdout.strip() == "13954", done.stderr[-2000:]
