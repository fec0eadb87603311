"""Acceptance tests for the WENO5 / van Leer face schemes and their 2-D coupling.

Interpretation under test: inputs are cell averages, outputs face point values
(finite-volume WENO5; see neuralpde/numerics/weno.py).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralpde.numerics import advection_1d as a1
from neuralpde.numerics.van_leer import van_leer_face_values
from neuralpde.numerics.weno import (
    mp_alpha_for_courant,
    weno5_face_values,
    weno5_left,
    weno5_right,
    weno5_upwind,
)
from neuralpde.physics.convection import (
    SSP_RK3_TABLEAU,
    advect_weno,
    make_weno_step,
    ssp_rk3,
    weno_convection,
)
from neuralpde.physics.jaxcfd import cfd

SCHEMES = ("js", "z")


# --------------------------------------------------------------------------
# 1-D face values
# --------------------------------------------------------------------------

def _sine_averages_and_faces(n, phase=0.0):
    """Exact cell averages of sin(2 pi x + phase) on [0, 1] and the exact
    values at the right faces x_{i+1/2} (float64 NumPy)."""
    h = 1.0 / n
    xl = np.arange(n) * h
    xr = xl + h
    avg = (np.cos(2 * np.pi * xl + phase) - np.cos(2 * np.pi * xr + phase)) / (2 * np.pi * h)
    return avg, np.sin(2 * np.pi * xr + phase)


def test_smooth_convergence_order():
    """Face-value L-inf error falls at order >= 4.5 (Z) / >= 4 (JS), 32 -> 128,
    for both one-sided reconstructions; Z's error is not larger than JS's.
    Float64, because the N=128 error (~3e-8) is below float32 round-off."""
    ns = (32, 64, 128)
    with jax.enable_x64(True):
        data = {n: _sine_averages_and_faces(n) for n in ns}

        @jax.jit
        def faces(avgs):
            return {(scheme, side, n): fn(avgs[n], 0, scheme)
                    for scheme in SCHEMES
                    for side, fn in (("left", weno5_left), ("right", weno5_right))
                    for n in ns}

        out = faces({n: jnp.asarray(data[n][0]) for n in ns})
    assert all(face.dtype == np.float64 for face in out.values())
    err = {(scheme, side): [np.abs(np.asarray(out[scheme, side, n]) - data[n][1]).max()
                            for n in ns]
           for scheme in SCHEMES for side in ("left", "right")}
    for (scheme, side), e in err.items():
        order = math.log2(e[0] / e[-1]) / 2
        need = 4.5 if scheme == "z" else 4.0
        assert order >= need, (scheme, side, order, e)
        # the error must actually fall at each refinement, not just overall
        assert e[0] > e[1] > e[2], (scheme, side, e)
    for side in ("left", "right"):
        for ez, ejs in zip(err["z", side], err["js", side]):
            assert ez <= ejs, (side, err)


def test_mp_bound_keeps_smooth_convergence_order():
    """With the monotonicity-preserving bound on, the smooth-data order stays
    >= 4 (JS) / >= 4.5 (Z), 32 -> 128, both sides, for alpha = 4 and 1.5 and
    with the extrema of the sine on a face (phase 0) or inside a cell (0.3).

    Measured: the bound changes no face value of these data at all (MP5
    widens its interval by u_MD / u_LC so that smooth extrema pass), so the
    errors equal the unbounded ones (JS 3.4e-5 -> 3.3e-8, order 5.00; Z
    4.8e-6 -> 4.8e-9, order 4.99); the test asserts that too."""
    ns = (32, 128)
    phases = (0.0, 0.3)
    alphas = (4.0, 1.5)
    # batch: (side, phase, cell); side 0 = left-biased, 1 = right-biased
    upwind_positive = jnp.asarray([True, False])[:, None, None]
    with jax.enable_x64(True):
        data = {n: [_sine_averages_and_faces(n, ph) for ph in phases] for n in ns}

        @jax.jit
        def faces(avgs):
            out = {}
            for n, c in avgs.items():
                c = jnp.broadcast_to(c, (2,) + c.shape)
                for scheme in SCHEMES:
                    out[n, scheme, "off"] = weno5_face_values(c, -1, upwind_positive, scheme)
                    for a in alphas:
                        out[n, scheme, f"{a}"] = weno5_face_values(
                            c, -1, upwind_positive, scheme, monotone=True, mp_alpha=a)
            return out

        out = faces({n: jnp.asarray(np.stack([d[0] for d in data[n]])) for n in ns})
    exact = {n: np.stack([d[1] for d in data[n]]) for n in ns}
    for scheme in SCHEMES:
        for a in alphas:
            # error per (side, phase), max over cells
            err = [np.abs(np.asarray(out[n, scheme, f"{a}"]) - exact[n]).max(axis=-1)
                   for n in ns]
            order = np.log2(err[0] / err[1]) / 2
            need = 4.5 if scheme == "z" else 4.0
            assert order.min() >= need, (scheme, a, order, err)
            for n in ns:
                np.testing.assert_array_equal(np.asarray(out[n, scheme, f"{a}"]),
                                              np.asarray(out[n, scheme, "off"]))


def _minmod(*xs):
    if all(x > 0 for x in xs):
        return min(xs)
    if all(x < 0 for x in xs):
        return max(xs)
    return 0.0


def _reference_mp_bound(face, cells, alpha, mp_eps=0.0):
    """Scalar transcription of Suresh & Huynh's MP bound for the face value
    at the right face of the middle of ``cells`` (5 cells, upwind first)."""
    um2, um1, u0, up1, up2 = cells
    u_mp = u0 + _minmod(up1 - u0, alpha * (u0 - um1))
    if (face - u0) * (face - u_mp) <= mp_eps:
        return face
    dm, d0, dp = um2 - 2 * um1 + u0, um1 - 2 * u0 + up1, u0 - 2 * up1 + up2
    dm4_p = _minmod(4 * d0 - dp, 4 * dp - d0, d0, dp)
    dm4_m = _minmod(4 * d0 - dm, 4 * dm - d0, d0, dm)
    u_ul = u0 + alpha * (u0 - um1)
    u_av = 0.5 * (u0 + up1)
    u_md = u_av - 0.5 * dm4_p
    u_lc = u0 + 0.5 * (u0 - um1) + 4.0 / 3.0 * dm4_m
    u_min = max(min(u0, up1, u_md), min(u0, u_ul, u_lc))
    u_max = min(max(u0, up1, u_md), max(u0, u_ul, u_lc))
    return sorted([face, u_min, u_max])[1]  # the median of the three


def test_mp_bound_matches_scalar_reference():
    """The vectorised bound equals a scalar, branch-by-branch transcription of
    the published formulas, for both one-sided values (the right-biased one
    on the mirror stencil) and both schemes, on rough random data and on a
    step; and it does limit something there."""
    rng = np.random.default_rng(1)
    n = 24
    rough = rng.normal(size=n)
    step = np.where(np.arange(n) < n // 2, 0.0, 1.0) + 1e-3 * rng.normal(size=n)
    limited = 0
    with jax.enable_x64(True):
        for c in (rough, step):
            for scheme in SCHEMES:
                for alpha in (4.0, 1.5):
                    for fn, offsets in ((weno5_left, (-2, -1, 0, 1, 2)),
                                        (weno5_right, (3, 2, 1, 0, -1))):
                        raw = np.asarray(fn(jnp.asarray(c), 0, scheme))
                        got = np.asarray(fn(jnp.asarray(c), 0, scheme, monotone=True,
                                            mp_alpha=alpha))
                        for i in range(n):
                            cells = [c[(i + k) % n] for k in offsets]
                            want = _reference_mp_bound(raw[i], cells, alpha)
                            np.testing.assert_allclose(got[i], want, rtol=1e-12,
                                                       atol=1e-14)
                        limited += int((got != raw).sum())
    assert limited > 20, limited


def _reference_face_value(cells, scheme, eps, p):
    """Independent scalar reference: WENO5 value at the right face of the
    middle cell of ``cells`` (5 cell averages, upwind first, h = 1, cell j
    centred at x = j - 2), built from the quadratic polynomials with those
    cell averages and Jiang-Shu indicators by exact integration."""
    def quad(js):  # coefficients of p(x) = a0 + a1 x + a2 x^2
        rows = [[((j + .5) ** (m + 1) - (j - .5) ** (m + 1)) / (m + 1)
                 for m in range(3)] for j in js]
        return np.linalg.solve(np.array(rows), np.array([cells[j + 2] for j in js]))

    q, beta = [], []
    for js_ in ((-2, -1, 0), (-1, 0, 1), (0, 1, 2)):
        a0, a1, a2 = quad(js_)
        q.append(a0 + a1 * 0.5 + a2 * 0.25)
        # int_{-1/2}^{1/2} (p')^2 + (p'')^2 dx, with p' = a1 + 2 a2 x, p'' = 2 a2
        beta.append(a1 ** 2 + (4 * a2 ** 2) / 12 + 4 * a2 ** 2)
    d = (0.1, 0.6, 0.3)
    if scheme == "js":
        alpha = [dk / (eps + bk) ** 2 for dk, bk in zip(d, beta)]
    else:
        tau = abs(beta[0] - beta[2])
        alpha = [dk * (1 + (tau / (bk + eps)) ** p) for dk, bk in zip(d, beta)]
    return sum(a * qk for a, qk in zip(alpha, q)) / sum(alpha)


def test_matches_independent_reference():
    rng = np.random.default_rng(0)
    n = 8
    c = rng.normal(size=n) * np.array([1, 1, 1e-3, 1e-3, 1e-3, 1, 0.1, 0.1])
    with jax.enable_x64(True):
        for scheme, p in (("js", 2), ("z", 1), ("z", 2)):
            left = np.asarray(weno5_left(jnp.asarray(c), 0, scheme, p=p))
            right = np.asarray(weno5_right(jnp.asarray(c), 0, scheme, p=p))
            for i in range(n):
                lst = [c[(i + k) % n] for k in (-2, -1, 0, 1, 2)]
                rst = [c[(i + k) % n] for k in (3, 2, 1, 0, -1)]
                np.testing.assert_allclose(
                    left[i], _reference_face_value(lst, scheme, 1e-6, p), rtol=1e-9)
                np.testing.assert_allclose(
                    right[i], _reference_face_value(rst, scheme, 1e-6, p), rtol=1e-9)


def test_upwind_side_switches_with_velocity_sign():
    n = 16
    c = jnp.where(jnp.arange(n) < n // 2, 0.0, 1.0).astype(jnp.float32)
    i = n // 2 - 1  # face between cell i (value 0) and cell i+1 (value 1)
    vel = jnp.where(jnp.arange(n) % 3 == 0, 1.0, -1.0)  # mixed signs

    @jax.jit
    def faces(c):
        out = {}
        for scheme in SCHEMES:
            out[scheme] = (
                weno5_upwind(c, 0, jnp.ones(n), scheme=scheme),
                weno5_upwind(c, 0, -jnp.ones(n), scheme=scheme),
                weno5_upwind(c, 0, vel, scheme=scheme),
                weno5_face_values(c, 0, vel >= 0, scheme=scheme),
                jnp.where(vel >= 0, weno5_left(c, 0, scheme), weno5_right(c, 0, scheme)))
        out["van_leer"] = (van_leer_face_values(c, 0, 1.0), van_leer_face_values(c, 0, -1.0))
        return out

    out = faces(c)
    for scheme in SCHEMES:
        pos, neg, mixed, mixed2, want = (np.asarray(a) for a in out[scheme])
        assert abs(pos[i] - 0.0) < 1e-6, (scheme, pos[i])
        assert abs(neg[i] - 1.0) < 1e-6, (scheme, neg[i])
        # a velocity field of mixed sign selects face by face
        np.testing.assert_allclose(mixed, want, atol=1e-7)
        np.testing.assert_allclose(mixed2, want, atol=1e-7)
    pos, neg = out["van_leer"]
    assert abs(float(pos[i]) - 0.0) < 1e-6
    assert abs(float(neg[i]) - 1.0) < 1e-6


def test_face_values_along_other_axis_of_2d_array():
    avg, exact = _sine_averages_and_faces(32)
    c2 = jnp.asarray(np.stack([avg, 2 * avg, -avg], axis=1), dtype=jnp.float32)
    f, ft = jax.jit(lambda c: (weno5_left(c, axis=0, scheme="z"),
                               weno5_left(c.T, axis=-1, scheme="z")))(c2)
    assert f.shape == c2.shape
    np.testing.assert_allclose(np.asarray(f[:, 1]), 2 * exact, atol=1e-4)
    np.testing.assert_allclose(np.asarray(ft), np.asarray(f.T))


def test_mp_bound_is_mirror_symmetric():
    """Reversing the velocity mirrors the result: face values of a profile
    with velocity -1 are the mirror image of those of the mirrored profile
    with velocity +1 (random data, on which the bound is active), and so is
    one period of advection (an asymmetric profile, N=64, CFL 0.4)."""
    n = 64
    x = a1.cell_centers(n)
    c0 = jnp.asarray(np.where((x > 0.25) & (x < 0.75), 1.0, 0.0)
                     + np.where((x > 0.1) & (x < 0.2), 0.5, 0.0)
                     + 0.3 * np.sin(6 * np.pi * x) * (x > 0.75), dtype=jnp.float32)
    mirror = lambda f: jnp.flip(f)  # noqa: E731  cell i <-> cell n-1-i
    # face i+1/2 <-> face (n-2-i)+1/2 of the mirrored array
    mirror_faces = lambda f: jnp.roll(jnp.flip(f), -1)  # noqa: E731
    rough = jnp.asarray(np.random.default_rng(2).normal(size=n), dtype=jnp.float32)

    @jax.jit
    def faces(c):
        return {scheme: (weno5_upwind(c, 0, -1.0, scheme=scheme, monotone=True),
                         weno5_upwind(mirror(c), 0, 1.0, scheme=scheme, monotone=True),
                         weno5_upwind(c, 0, -1.0, scheme=scheme))
                for scheme in SCHEMES}

    for neg, pos, raw in faces(rough).values():
        np.testing.assert_allclose(np.asarray(neg), np.asarray(mirror_faces(pos)),
                                   rtol=0, atol=1e-6)
        # the bound is active on these data
        assert int((jnp.abs(neg - raw) > 1e-3).sum()) > 5
    # one period (the same compiled loop serves both signs; WENO5-Z only, as
    # both schemes share the mirrored code path checked above)
    steps = int(math.ceil(n / 0.4))
    neg = a1.advect_1d(c0, -1.0, 1.0 / n, 1.0 / steps, steps, "weno5-z", monotone=True)
    pos = a1.advect_1d(mirror(c0), 1.0, 1.0 / n, 1.0 / steps, steps, "weno5-z",
                       monotone=True)
    np.testing.assert_allclose(np.asarray(neg), np.asarray(mirror(pos)),
                               rtol=0, atol=1e-6)
    assert float(jnp.abs(neg - c0).max()) > 0.1  # it moved and smeared


def test_gradients_are_finite():
    n = 16
    smooth = jnp.sin(2 * jnp.pi * jnp.arange(n) / n)
    step = jnp.where(jnp.arange(n) < n // 2, 0.0, 1.0)
    flat = jnp.ones(n)  # all smoothness indicators exactly 0
    vel = jnp.where(jnp.arange(n) < 5, 1.0, -1.0)

    @jax.jit
    @jax.vmap
    def all_grads(c):
        gs = [jax.grad(lambda x, s=scheme, p=p: jnp.sum(
            weno5_upwind(x, 0, vel, scheme=s, p=p) ** 2))(c)
            for scheme, p in (("js", 2), ("z", 2))]
        gs.append(jax.grad(lambda x: jnp.sum(van_leer_face_values(x, 0, vel) ** 2))(c))
        return jnp.stack(gs)

    g = all_grads(jnp.stack([smooth, step, flat]))
    assert bool(jnp.all(jnp.isfinite(g))), g
    # on smooth data the gradient is not silently cut
    assert float(jnp.abs(g[0]).max(axis=1).min()) > 0.1

    # with the MP bound (min/max/minmod/where: differentiable almost
    # everywhere), on data where it is active and on the same three profiles
    # (profiles as columns of one array: the sum separates, no vmap needed)
    rough = jnp.asarray(np.random.default_rng(3).normal(size=n), dtype=jnp.float32)
    g_mp = jax.jit(jax.grad(lambda x: jnp.sum(
        weno5_upwind(x, 0, vel[:, None], scheme="js", monotone=True) ** 2)))(
        jnp.stack([smooth, step, flat, rough], axis=1))
    assert bool(jnp.all(jnp.isfinite(g_mp))), g_mp
    assert float(jnp.abs(g_mp[:, 0]).max()) > 0.1 and float(jnp.abs(g_mp[:, 3]).max()) > 0.1


def test_invalid_arguments_are_named():
    c = jnp.zeros(8)
    for call in (lambda: weno5_left(c, 0, "zz"),
                 lambda: weno5_face_values(c, 0, True, scheme="zz"),
                 lambda: weno_convection("zz")):
        with pytest.raises(ValueError, match=r"'zz'.*'js'.*'z'"):
            call()
    with pytest.raises(ValueError, match=r"'upwind'.*'van_leer'.*'weno5-js'.*'weno5-z'"):
        a1.advect_1d(c, 1.0, 0.1, 0.01, 1, "upwind")
    with pytest.raises(ValueError, match="axis=3"):
        weno5_left(c, 3)
    with pytest.raises(ValueError, match="eps"):
        weno5_left(c, 0, eps=0.0)
    with pytest.raises(ValueError, match="mp_alpha"):
        weno5_left(c, 0, monotone=True, mp_alpha=0.0)
    with pytest.raises(ValueError, match="mp_eps"):
        weno_convection("js", monotone=True, mp_eps=-1.0)
    with pytest.raises(ValueError, match="Courant"):  # C = 1.5: no valid alpha
        a1.advect_1d(c, 1.0, 0.1, 0.15, 1, "weno5-js", monotone=True)
    assert mp_alpha_for_courant(0.4) == pytest.approx(1.5)
    assert mp_alpha_for_courant(0.1) == 4.0


# --------------------------------------------------------------------------
# 1-D advection: square wave once around the domain, SSP-RK3 at CFL 0.4
# --------------------------------------------------------------------------

def _weno_square_overshoot(n, scheme, eps, dtype=jnp.float32, cfl=0.4, **mp):
    c0 = a1.square_wave(n, dtype=dtype)
    dx = 1.0 / n
    steps = int(math.ceil(n / cfl))
    dt = 1.0 / steps

    def rhs(c):
        f = weno5_upwind(c, 0, 1.0, scheme=scheme, eps=eps, **mp)
        return -(f - jnp.roll(f, 1)) / dx

    c = jax.jit(lambda c: jax.lax.fori_loop(
        0, steps, lambda _, c: a1.ssp_rk3_step(rhs, c, dt), c))(c0)
    return a1.profile_errors(c, c0, dx)["overshoot"]


@pytest.fixture(scope="module")
def comparison():
    return a1.compare_schemes(n=128, cfl=0.4, periods=1)


def test_square_wave_van_leer_creates_no_new_extrema(comparison):
    """TVD: no new extrema beyond 1e-6 (relative to the jump of 1)."""
    assert comparison.dt * comparison.n <= 0.4 + 1e-12
    assert comparison.errors["square"]["van_leer"]["overshoot"] <= 1e-6


def test_square_wave_weno_overshoot_is_eno_level(comparison):
    """WENO is essentially non-oscillatory, not TVD.

    HONEST NOTE: at the protocol's eps = 1e-6 the 1e-6 "no new extrema"
    criterion is NOT met.  Measured (float32, N=128, CFL 0.4, one period):
    WENO5-JS 3.5e-4, WENO5-Z 1.7e-4 (float64 gives the same: 3.5e-4,
    1.6e-4; N=64: 2.8e-4, 1.7e-4).  The overshoot comes from eps: with
    eps = 1e-12 in float64 it drops below 1e-6 (next test).  This test bounds
    it at 1e-3 and checks that the nonlinear weights do their job: the same
    reconstruction with its weights frozen at the ideal ones (eps huge, i.e.
    the linear 5th-order upwind scheme) overshoots by ~8e-2.

    The acceptance criterion is met with the optional monotonicity-preserving
    bound (``monotone=True`` on the face-value functions, on
    ``advection_1d.advect_1d`` / ``compare_schemes`` and on
    ``weno_convection``): see test_square_wave_weno_mp_bound_creates_no_new_extrema.
    """
    e = comparison.errors["square"]
    for name in ("weno5-js", "weno5-z"):
        assert e[name]["overshoot"] <= 1e-3, (name, e[name])
    linear = _weno_square_overshoot(128, "js", eps=1e6)
    assert linear > 1e-2, linear
    for name in ("weno5-js", "weno5-z"):
        assert e[name]["overshoot"] < linear / 50


def test_square_wave_weno_small_eps_creates_no_new_extrema():
    """With eps = 1e-12 (float64) both WENO schemes keep new extrema below
    1e-6 (measured N=64: JS 3.0e-7, Z 1.0e-7).  In float32 this does not hold
    (round-off in the indicators ~ eps; measured 1.3e-6 / 3.1e-6)."""
    with jax.enable_x64(True):
        for scheme in SCHEMES:
            os_ = _weno_square_overshoot(64, scheme, eps=1e-12, dtype=jnp.float64)
            assert os_ <= 1e-6, (scheme, os_)


@pytest.fixture(scope="module")
def comparison_mp():
    return a1.compare_schemes(n=128, cfl=0.4, periods=1,
                              schemes=("weno5-js", "weno5-z"), monotone=True)


def test_square_wave_weno_mp_bound_creates_no_new_extrema(comparison, comparison_mp):
    """With the Suresh-Huynh MP bound (monotone=True) the square wave advected
    once around the domain (N=128, CFL 0.4, SSP-RK3, eps = 1e-6, float32 --
    the same setup as above) creates no new extrema beyond 1e-6 of the jump.
    The demo picks mp_alpha = 1/CFL - 1 = 1.5 (the bound's CFL condition
    C <= 1/(1+alpha)).  Measured: JS 1.3e-20, Z 0 (float64: 0, 0).  With the
    paper's alpha = 4, whose condition needs CFL <= 0.2, it is NOT met at
    CFL 0.4 (measured 1.2e-5 / 1.2e-5 float32, 1.2e-6 / 1.0e-6 float64) but
    is at CFL 0.2 (N=64 below; measured 0).  Accuracy is kept: the L1 errors
    of both waves stay within 1 % of the unbounded scheme's."""
    assert comparison_mp.monotone and comparison_mp.dt * comparison_mp.n <= 0.4 + 1e-12
    for name in ("weno5-js", "weno5-z"):
        assert comparison_mp.profiles["square"][name].dtype == np.float32
        e, e0 = comparison_mp.errors, comparison.errors
        assert e["square"][name]["overshoot"] <= 1e-6, (name, e["square"][name])
        for prof in ("square", "smooth"):
            assert e[prof][name]["l1"] <= 1.01 * e0[prof][name]["l1"], (name, prof)
    for scheme in SCHEMES:
        os_ = _weno_square_overshoot(64, scheme, eps=1e-6, cfl=0.2, monotone=True,
                                     mp_alpha=4.0)
        assert os_ <= 1e-6, (scheme, os_)


def test_demo_comparison_and_plot(comparison):
    e = comparison.errors
    assert set(e) == {"smooth", "square"}
    for prof in e:
        assert set(e[prof]) == set(a1.SCHEMES)
    # on the smooth wave WENO is far more accurate than van Leer
    for name in ("weno5-js", "weno5-z"):
        assert e["smooth"][name]["l1"] < 0.01 * e["smooth"]["van_leer"]["l1"]
        assert e["square"][name]["l1"] < e["square"]["van_leer"]["l1"]
    assert "weno5-z" in comparison.format_table()

    from matplotlib.figure import Figure

    fig = a1.plot_comparison(comparison)
    assert isinstance(fig, Figure)
    labelled = [ax for ax in fig.axes if ax.get_xlabel() and ax.get_ylabel()]
    assert len(labelled) == 2


# --------------------------------------------------------------------------
# 2-D coupling to jax-cfd
# --------------------------------------------------------------------------

def _periodic_grid(n):
    return cfd.grids.Grid((n, n), domain=((0, 2 * np.pi), (0, 2 * np.pi)))


def _taylor_green(grid):
    bc = cfd.boundaries.periodic_boundary_conditions(2)
    u = grid.eval_on_mesh(lambda x, y: jnp.sin(x) * jnp.cos(y), grid.cell_faces[0])
    v = grid.eval_on_mesh(lambda x, y: -jnp.cos(x) * jnp.sin(y), grid.cell_faces[1])
    return (cfd.grids.GridVariable(u, bc), cfd.grids.GridVariable(v, bc))


def test_2d_convection_taylor_green_matches_van_leer_and_exact():
    """For Taylor-Green, -(u.grad)u = (-sin(2x)/2, -sin(2y)/2).  At 32^2
    (measured): WENO error 4.8e-3, van Leer 3.1e-2, |WENO - van Leer| 2.9e-2."""
    grid = _periodic_grid(32)
    dt = cfd.equations.stable_time_step(7, 0.5, 1e-3, grid)

    @jax.jit
    def evaluate():  # one compilation for everything below
        v = _taylor_green(grid)
        exact = tuple(
            grid.eval_on_mesh(lambda x, y, j=j: -0.5 * jnp.sin(2 * (x, y)[j]),
                              grid.cell_faces[j]).data for j in (0, 1))
        van_leer = tuple(cfd.advection.advect_van_leer_using_limiters(u, v, dt)
                         for u in v)
        weno = {scheme: weno_convection(scheme)(v) for scheme in SCHEMES}
        weno_mp = weno_convection("z", monotone=True)(v)
        # gradient through the 2-D operator
        grad = jax.grad(lambda d: jnp.sum(advect_weno(
            cfd.grids.GridVariable(cfd.grids.GridArray(d, v[0].offset, grid), v[0].bc),
            v, "z").data ** 2))(v[0].data)
        return exact, van_leer, weno, weno_mp, grad

    exact, van_leer, weno, weno_mp, grad = evaluate()
    for scheme in SCHEMES:
        out = weno[scheme]
        assert len(out) == 2
        for a, b, ex in zip(out, van_leer, exact):
            assert isinstance(a, cfd.grids.GridArray)
            assert a.offset == b.offset and a.grid == b.grid
            assert float(jnp.abs(a.data - ex).max()) < 1e-2
            assert float(jnp.abs(a.data - b.data).max()) < 0.1 * 0.5
    # the MP bound is an option of the 2-D convection; smooth flow: unchanged
    # up to round-off (measured 0)
    for a, m in zip(weno["z"], weno_mp):
        assert m.offset == a.offset and m.grid == a.grid
        assert float(jnp.abs(m.data - a.data).max()) < 1e-5
    assert bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.abs(grad).max()) > 0


def test_2d_advection_matches_1d_upwinded_flux_form():
    """Orientation and upwinding of the 2-D coupling: a discontinuous scalar
    carried by a constant velocity of either sign along either axis gives the
    1-D flux-form right-hand side row by row -- with and without the MP
    bound (whose mirroring for negative velocity is thus checked in 2-D)."""
    grid = cfd.grids.Grid((16, 8), domain=((0, 2.0), (0, 1.0)))
    bc = cfd.boundaries.periodic_boundary_conditions(2)
    x, y = grid.mesh(grid.cell_center)
    data = jnp.where((x > 0.5) & (x < 1.3), 1.0, 0.0) + jnp.where(y < 0.4, 0.5, 0.0)
    # small noise makes the MP bound active (on clean 0/1 steps WENO barely
    # overshoots at the face level)
    data = data + 0.1 * jnp.asarray(np.random.default_rng(4).normal(size=grid.shape))
    c = cfd.grids.GridVariable(cfd.grids.GridArray(data, grid.cell_center, grid), bc)

    def const(value, offset):
        return cfd.grids.GridVariable(
            cfd.grids.GridArray(jnp.full(grid.shape, value), offset, grid), bc)

    @jax.jit
    def got_and_want():
        out = []
        for monotone in (False, True):
            for axis in (0, 1):
                for a in (1.0, -1.0):
                    vel = tuple(const(a if j == axis else 0.0, grid.cell_faces[j])
                                for j in (0, 1))
                    got = advect_weno(c, vel, "js", monotone=monotone).data
                    want = jnp.moveaxis(jax.vmap(  # rows along `axis`
                        lambda row: a1.flux_divergence_rhs(
                            row, a, grid.step[axis], "weno5-js", monotone=monotone),
                    )(jnp.moveaxis(data, axis, -1)), -1, axis)
                    out.append((got, want))
        assert len(out) == 8
        return out, [jnp.abs(out[k][0] - out[k + 4][0]).max() for k in range(4)]

    pairs, mp_changes = got_and_want()
    for got, want in pairs:
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-5)
        assert float(jnp.abs(want).max()) > 1.0  # the case is not trivial
    # the bound changes this case, for either sign along either axis
    assert min(float(d) for d in mp_changes) > 1e-3, mp_changes


def test_ssp_rk3_tableau_is_shu_osher():
    """jax-cfd's navier_stokes_rk with our tableau equals the Shu-Osher form
    (identity projection, a nonlinear ODE)."""
    assert SSP_RK3_TABLEAU.b == [1 / 6, 1 / 6, 2 / 3]
    f = lambda u: (-u[0] ** 2 + jnp.sin(u[1]), u[0] * u[1])  # noqa: E731
    ode = cfd.time_stepping.ExplicitNavierStokesODE(f, lambda u: u)
    h = 0.1
    u0 = (jnp.asarray(0.7), jnp.asarray(-0.3))
    got = ssp_rk3(ode, h)(u0)
    add = lambda a, b, s=1.0: tuple(x + s * y for x, y in zip(a, b))  # noqa: E731
    scale = lambda a, s: tuple(s * x for x in a)  # noqa: E731
    u1 = add(u0, f(u0), h)
    u2 = add(scale(u0, 0.75), scale(add(u1, f(u1), h), 0.25))
    want = add(scale(u0, 1 / 3), scale(add(u2, f(u2), h), 2 / 3))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


@pytest.fixture(scope="module")
def kolmogorov_setup():
    grid = _periodic_grid(32)
    forcing = cfd.forcings.simple_turbulence_forcing(
        grid, constant_magnitude=1, constant_wavenumber=4,
        linear_coefficient=-0.1, forcing_type="kolmogorov")
    dt = cfd.equations.stable_time_step(7, 0.5, 1e-3, grid)
    v0 = jax.jit(lambda key: cfd.initial_conditions.filtered_velocity_field(
        key, grid, 7, 4))(jax.random.PRNGKey(0))
    ref_step = cfd.equations.semi_implicit_navier_stokes(
        1.0, 1e-3, dt, grid, forcing=forcing)
    steps = 5
    ref = jax.jit(lambda v: jax.lax.fori_loop(0, steps, lambda _, v: ref_step(v), v))(v0)
    return grid, forcing, dt, v0, ref, steps


def test_kolmogorov_ssp_rk3_steps_finite_and_divergence_free(kolmogorov_setup):
    """Full WENO5-JS + SSP-RK3 model step on 32^2 Kolmogorov flow.

    (WENO5-Z takes the same code path with other weights, covered by the
    Taylor-Green test; one scheme here keeps the file within its time budget --
    each compiled RK3 step costs ~3 s of CPU.)"""
    scheme = "js"
    grid, forcing, dt, v0, ref, steps = kolmogorov_setup
    step = make_weno_step(grid, dt, 1e-3, 1.0, forcing, scheme)
    v = jax.jit(lambda v: jax.lax.fori_loop(0, steps, lambda _, v: step(v), v))(v0)
    for u, u0 in zip(v, v0):
        assert u.offset == u0.offset
        assert bool(jnp.all(jnp.isfinite(u.data)))
    umax = max(float(jnp.abs(u.data).max()) for u in v)
    div = float(jnp.abs(cfd.finite_differences.divergence(v).data).max())
    assert div <= 1e-4 * umax / grid.step[0], (div, umax)
    # it moved, and stays close to the jax-cfd reference (van Leer, Euler)
    moved = max(float(jnp.abs(u.data - u0.data).max()) for u, u0 in zip(v, v0))
    diff = max(float(jnp.abs(u.data - r.data).max()) for u, r in zip(v, ref))
    assert moved > 0.05 * umax
    assert diff < 0.5 * moved, (diff, moved)
