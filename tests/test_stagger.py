"""Staggered coarse sub-solvers (issue #7): decomposition, physics loss, training, solvers, tower.

Tiny grids (16² fine) and few steps; the module-scoped fixtures compute the
DNS pair and the one training run once.
"""

import argparse
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neuralpde.config import ConfigError, UserInputError, with_fields
from neuralpde.models.config import StaggerModelConfig
from neuralpde.numerics.time_stepping import repeated
from neuralpde.physics import decompose as dc
from neuralpde.physics import dns
from neuralpde.physics import operators as ops
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.staggered import StaggeredSolver, build_stagger_model
from neuralpde.training import losses as pl
from neuralpde.training.config import get_train_preset

FLOW = KolmogorovFlow()
N = 16


# ---------------------------------------------------------------- decomposition
def test_split_merge_is_identity_for_every_divisor():
    n = 12  # divisors 1, 2, 3, 4, 6, 12
    x = np.random.default_rng(0).normal(size=(3, 2, n, n)).astype(np.float32)
    last = np.moveaxis(x, 1, -1)
    for s in [s for s in range(1, n + 1) if n % s == 0]:
        sub = np.asarray(dc.split_space(x, s))
        assert sub.shape == (3, s * s, 2, n // s, n // s)
        np.testing.assert_array_equal(dc.merge_space(sub, s), x)
        depth = np.asarray(dc.space_to_depth(last, s))
        np.testing.assert_array_equal(dc.depth_to_space(depth, s), last)
        for a, b in [(0, 0), (s - 1, 0), (s // 2, s - 1)]:
            np.testing.assert_array_equal(sub[:, a * s + b], x[:, :, a::s, b::s])
            np.testing.assert_array_equal(depth[..., (a * s + b) * 2 + 1], x[:, 1, a::s, b::s])
    frames = np.arange(24.0).reshape(12, 2)
    for s_time in (1, 2, 3, 4, 6, 12):
        parts = np.asarray(dc.split_time(frames, s_time))
        np.testing.assert_array_equal(parts[1 % s_time], frames[1 % s_time::s_time])
        np.testing.assert_array_equal(dc.merge_time(parts), frames)


def test_bad_factors_raise_naming_the_value():
    x = jnp.zeros((2, 12, 12))
    with pytest.raises(ConfigError, match=r"s=5.*divisor of the grid size 12"):
        dc.split_space(x, 5)
    with pytest.raises(ConfigError, match=r"s_time=5"):
        dc.split_time(jnp.zeros((12, 3)), 5)
    with pytest.raises(ConfigError, match=r"weights='grouped'"):
        StaggerModelConfig(weights="grouped")
    with pytest.raises(ConfigError, match=r"s=3"):
        StaggeredSolver.from_model(FLOW, N,
                                   build_stagger_model(StaggerModelConfig(s=3, hidden=4, depth=0)))


def test_subfield_offsets_are_the_physical_positions():
    """Sub-field (a, b) of a smooth field equals the field at the stated coarse offsets."""
    n, s = 16, 4
    fine_dx = 2 * math.pi / n
    coarse_dx = s * fine_dx
    f = lambda x, y: np.sin(x + 0.3) * np.cos(2 * y)
    i = np.arange(n)
    fields = []
    for ox, oy in dc.MAC_OFFSETS:
        fields.append(f((i[:, None] + ox) * fine_dx, (i[None, :] + oy) * fine_dx))
    uv = np.stack(fields).astype(np.float32)
    big_i = np.arange(n // s)
    for a, b in [(0, 0), (3, 1), (1, 2)]:
        sub = dc.subfield(uv, s, a, b)
        offsets = dc.velocity_subfield_offsets(s, a, b)
        assert offsets[0] == ((a + 1) / s, (b + 0.5) / s)
        for c, (ox, oy) in enumerate(offsets):
            expected = f((big_i[:, None] + ox) * coarse_dx, (big_i[None, :] + oy) * coarse_dx)
            np.testing.assert_allclose(sub[c], expected, atol=1e-5)


def test_relative_view_and_its_fourier_reconstruction():
    n, s = 16, 2
    k = 2 * math.pi / n
    i = np.arange(n)
    smooth = np.stack([np.sin(k * i[:, None] + 2 * k * i[None, :]),
                       np.cos(3 * k * i[:, None]) * np.sin(k * i[None, :])]).astype(np.float32)
    uv = smooth  # numpy in, numpy out (the jnp path is exercised by the solvers below)
    for a, b in [(0, 0), (1, 0), (1, 1)]:
        view = dc.relative_view(uv, s, a, b)
        np.testing.assert_array_equal(view[0], dc.subfield(uv, s, a, b))
        # band-limited field: the lone sub-solver's interpolated view is exact
        rebuilt = dc.interpolated_view(view[0], s, a, b, relative=True)
        np.testing.assert_allclose(rebuilt, view, atol=1e-5)
        absolute = dc.interpolated_view(view[0], s, a, b, relative=False)
        np.testing.assert_allclose(absolute, dc.split_space(uv, s), atol=1e-5)


# ---------------------------------------------------------------- physics loss
@pytest.fixture(scope="module")
def dns_pair():
    """Two consecutive DNS frames on 16² after 20 steps from a random field."""
    dt = dns.model_time_step(FLOW, N)
    step = dns.finite_volume_step(FLOW, N, dt)

    @jax.jit
    def run(key):
        uv = repeated(step, 20)(dns.random_initial_velocity(key, FLOW, N))
        return uv, step(uv)

    return (dt, *run(jax.random.PRNGKey(3)))


def test_physics_residual_of_the_dns_own_step_is_round_off(dns_pair):
    """Forward Euler (the default) is the DNS's scheme: its own step pair is the residual's zero."""
    dt, u0, u1 = dns_pair
    noise = np.random.default_rng(1).normal(size=u1.shape).astype(np.float32)

    @jax.jit
    def measure(u0, u1, noise):
        perturbed_u1 = u1 + 0.05 * jnp.std(u1) * noise                 # a 5 % perturbation
        # pairs (u0, u1), (u0, perturbed u1), (u0, u0): one traced residual, vmapped
        pr = jax.vmap(lambda a, b: pl.projected_residual(a, b, FLOW, dt))(
            jnp.stack([u0, u0, u0]), jnp.stack([u1, perturbed_u1, u0]))
        div = jax.vmap(lambda u: jnp.mean(pl.scaled_divergence(u, dt) ** 2))
        return {"ms": jnp.mean(pr ** 2, axis=(1, 2, 3)), "pr": pr[0],
                "div": div(jnp.stack([u1, perturbed_u1])),
                "loss": pl.sequence_loss(u0, u1[None], FLOW, dt),
                "trajectory": pl.trajectory_residual(jnp.stack([u0, u1]), FLOW, dt)}

    m = jax.tree.map(np.asarray, measure(u0, u1, noise))
    on_dns, perturbed, persistence = (float(x) for x in m["ms"])  # persistence = mean (P F(u0))^2
    # P R = (P u0 - u0)/dt on a DNS pair: u0 is itself a projection's output, so
    # this is float32 round-off of |u| ~ 1 divided by dt ~ 0.05: |P R| ~ 1e-7/dt ~ 1e-6
    # per cell, against |P F| ~ 1.  Bound: 1e-4 of the tendency's size, pointwise.
    scale = math.sqrt(persistence)
    assert float(np.max(np.abs(m["pr"]))) < 1e-4 * scale, (np.max(np.abs(m["pr"])), scale)
    assert perturbed > 1e6 * on_dns
    # the divergence term vanishes on the DNS and not on the noise
    assert float(m["div"][0]) < 1e-8 < 1e-2 < float(m["div"][1])
    loss, parts = m["loss"]
    assert abs(float(parts["residual"]) - on_dns) < 1e-9 and float(loss) < 1e-8
    assert abs(float(m["trajectory"][0]) - on_dns) < 1e-9


def test_crank_nicolson_residual_leaves_the_schemes_difference(dns_pair):
    """The former residual: O(dt) on the DNS's pair, P[F(u0) - F(u1)]/2."""
    dt, u0, u1 = dns_pair

    @jax.jit
    def measure(u0, u1):
        pr = pl.projected_residual(u0, u1, FLOW, dt, time_scheme="crank_nicolson")
        f = jax.vmap(lambda u: ops.tendency(u, FLOW, dt))(jnp.stack([u0, u1]))
        return pr, 0.5 * ops.project(f[0] - f[1]), ops.project(f[0])

    pr, expected, pf = (np.asarray(x) for x in measure(u0, u1))
    np.testing.assert_allclose(pr, expected, atol=1e-4)
    assert float(np.max(np.abs(expected))) > 0.05  # ... which is not trivially zero
    # measured at 16^2: mean square 4.6e-3 against 2.6 for the tendency itself
    assert 1e-4 * np.mean(pf ** 2) < np.mean(pr ** 2) < 5e-3 * np.mean(pf ** 2)
    with pytest.raises(ConfigError, match="invalid time_scheme='euler'"):
        pl.projected_residual(u0, u1, FLOW, dt, time_scheme="euler")


def _divergence(uv):
    """MAC divergence in numpy (backward differences of the face values)."""
    dx = 2 * math.pi / uv.shape[-1]
    return ((uv[0] - np.roll(uv[0], 1, 0)) + (uv[1] - np.roll(uv[1], 1, 1))) / dx


def test_reconstruction_keeps_divergence_and_projection_option(dns_pair):
    u1 = np.asarray(dns_pair[2])
    assert np.max(np.abs(_divergence(u1))) < 1e-4
    for s in (2, 4):
        rebuilt = np.asarray(dc.merge_space(dc.split_space(u1, s), s))
        np.testing.assert_array_equal(_divergence(rebuilt), _divergence(u1))
    config = StaggerModelConfig(s=2, hidden=8, depth=1, project=True, embedding="onehot")
    solver = StaggeredSolver.from_model(FLOW, N, build_stagger_model(config))
    out = np.asarray(jax.jit(lambda sv, u: sv.step(u))(solver, u1))
    assert np.max(np.abs(out - u1)) > 1e-3                     # the untrained model moved the field
    dx = 2 * math.pi / N
    assert np.max(np.abs(_divergence(out))) * dx < 1e-5 * np.max(np.abs(out))


# ---------------------------------------------------------------- training
TRAIN = with_fields(
    get_train_preset("mini", "stagger"), s=2, s_time=1, hidden=32, depth=3, size=N, pool_size=4,
    batch_size=4, steps=200, spinup_time=0.0, warmup_time=0.0, reset_probability=1.0, peak_lr=3e-3,
    log_every=50, checkpoint_every=100)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from neuralpde.training.loop import train
    from neuralpde.training.runs import read_metrics

    run = tmp_path_factory.mktemp("stagger") / "run"
    first = train(TRAIN, run, flow=FLOW, progress=False, stop_after=100)   # interrupted ...
    summary = train(TRAIN, run, flow=FLOW, progress=False)                 # ... and resumed
    return run, first, summary, read_metrics(run)


def test_training_reduces_physics_residual_tenfold(trained):
    run, first, summary, lines = trained
    # reset_probability=1 and batch = pool: every update sees the same 4 states,
    # so the logged loss (computed before the update) is the loss on a fixed set
    assert [line["step"] for line in lines] == [1, 50, 100, 150, 200]  # resumed: no gap, no extra
    initial, final = lines[0], lines[-1]
    assert final["skipped"] == 0
    assert final["residual"] * 10 <= initial["residual"], (initial, final)
    assert final["loss"] * 10 <= initial["loss"]
    assert first.step == 100 and summary.step == 200


def test_trained_divergence_is_controlled(trained, dns_pair):
    _, _, summary, lines = trained
    solver = summary.solver
    dt = solver.fine_dt
    # the divergence term stays a small fraction of the initial residual ...
    assert lines[-1]["divergence"] < 0.05 * lines[0]["residual"]
    # ... and on a state it never saw (a developed DNS state) the rebuilt field's
    # divergence is small against its vorticity
    out = np.asarray(jax.jit(lambda sv, u: sv.step(u))(solver, dns_pair[2]))
    dx = 2 * math.pi / N
    div = np.sqrt(np.mean(_divergence(out) ** 2))
    vort = np.sqrt(np.mean(((np.roll(out[1], -1, 0) - out[1])
                            - (np.roll(out[0], -1, 1) - out[0])) ** 2)) / dx
    assert div < 0.1 * vort, (div, vort, dt)


def test_solvers_run_through_rollout_and_reload(trained, dns_pair):
    from neuralpde.solvers.rollout import rollout
    from neuralpde.training.runs import load_solver

    run, _, summary, _ = trained
    solver = load_solver(run)
    leaves = jax.tree.leaves(solver)
    assert all(np.array_equal(a, b) for a, b in zip(leaves, jax.tree.leaves(summary.solver)))
    assert solver.dt == solver.fine_dt and solver.kind == "learned"
    uv0 = np.asarray(dns_pair[2])[None]
    fine = rollout(solver, uv0, 3, 2, N, FLOW.domain_size)
    assert fine.frames.shape == (1, 3, 2, N, N) and np.isfinite(fine.frames).all()
    coarse = solver.coarse()
    assert (coarse.a, coarse.b, coarse.size) == (1, 1, N // 2)
    c0 = np.asarray(coarse.reference_view(uv0))
    result = rollout(coarse, c0, 3, 2, N // 2, FLOW.domain_size)
    assert result.frames.shape == (1, 3, 2, N // 2, N // 2) and np.isfinite(result.frames).all()


@jax.jit
def _fine_and_coarse(separate, joint, uv):
    coarse = separate.coarse(0, 1)
    return separate.frames(uv), coarse.step(coarse.reference_view(uv)), joint.frames(uv)


def test_sub_solver_variants_in_one_batched_call(dns_pair):
    uv = dns_pair[2]
    solvers = [StaggeredSolver.from_model(FLOW, N, build_stagger_model(StaggerModelConfig(
        s=2, s_time=2, hidden=4, depth=1, **kw)))
        for kw in (dict(weights="separate", view="own"), dict(weights="joint"))]
    frames, sub, joint = (np.asarray(a) for a in _fine_and_coarse(*solvers, uv))
    assert frames.shape == joint.shape == (2, 2, N, N)
    assert solvers[0].dt == pytest.approx(2 * solvers[0].fine_dt)
    # a lone sub-solver ('own' view) computes exactly its part of the fine step
    np.testing.assert_allclose(sub, frames[-1][:, 0::2, 1::2], atol=1e-5)
    assert np.max(np.abs(joint - frames)) > 1e-4  # the two variants are different networks
    separate = build_stagger_model(StaggerModelConfig(s=2, hidden=4, depth=1, weights="separate"))
    assert separate.tower.kernels[0][...].shape[0] == 4  # one tower per sub-task


def test_quadratic_inputs_are_the_products_and_the_lone_sub_solver_stays_exact(dns_pair):
    """``quadratic_input``: u², uv, v² per cell of the view; a lone sub-solver still computes
    exactly its part of the fine step, and the first layer takes 3 more channels per block."""
    from neuralpde.models.subsolver_net import quadratic_channels

    uv = np.asarray(dns_pair[2])
    products = np.asarray(quadratic_channels(jnp.asarray(uv), axis=0))
    np.testing.assert_allclose(products, [uv[0] ** 2, uv[0] * uv[1], uv[1] ** 2], rtol=1e-6)
    configs = [StaggerModelConfig(s=2, s_time=2, hidden=4, depth=1, quadratic_input=True, **kw)
               for kw in (dict(weights="separate", view="own"), dict(weights="joint"))]
    solvers = [StaggeredSolver.from_model(FLOW, N, build_stagger_model(c)) for c in configs]
    frames, sub, joint = (np.asarray(a) for a in _fine_and_coarse(*solvers, jnp.asarray(uv)))
    assert np.isfinite(frames).all() and np.isfinite(joint).all()
    np.testing.assert_allclose(sub, frames[-1][:, 0::2, 1::2], atol=1e-5)
    own = build_stagger_model(configs[0]).tower.kernels[0][...]
    assert own.shape[-2] == 2 + 3 + 2  # velocity, products, forcing of the own sub-field
    shared = build_stagger_model(StaggerModelConfig(s=2, hidden=4, depth=1, quadratic_input=True))
    assert shared.tower.kernels[0][...].shape[-2] == 4 * 7 + 4  # 4 blocks + the embedding


def test_a_lone_sub_solver_of_a_projected_set_projects_its_fine_reconstruction(dns_pair):
    """``project=True``: one sub-solver alone projects the Fourier-interpolated fine field of its
    new sub-field and keeps its own points, so it runs on the divergence-free fields the set was
    trained to produce; without the option the same network's output is left as it is."""
    from neuralpde.physics.operators import project

    uv = jnp.asarray(dns_pair[2])
    results = {}
    for projected in (True, False):
        config = StaggerModelConfig(s=2, hidden=4, depth=1, quadratic_input=True,
                                    project=projected)
        coarse = StaggeredSolver.from_model(FLOW, N, build_stagger_model(config)).coarse(1, 1)
        sub = coarse.reference_view(uv)
        results[projected] = np.asarray(coarse.step(coarse.init(sub)))
    # the unprojected step, projected through its band-limited fine reconstruction
    stack = dc.interpolated_view(jnp.asarray(results[False]), 2, 1, 1, relative=False)
    expected = dc.subfield(project(dc.merge_space(stack, 2), FLOW.domain_size), 2, 1, 1)
    np.testing.assert_allclose(results[True], np.asarray(expected), atol=1e-5)
    assert np.max(np.abs(results[True] - results[False])) > 1e-3  # the projection acts


# ---------------------------------------------------------------- decomposed tower
def test_decomposed_tower_signature_and_shift_equivariance():
    from neuralpde.models.tower import ConvTower, DecomposedTower

    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
    tower = DecomposedTower(3, 5, hidden=4, depth=1, s=2, rngs=nnx.Rngs(0))
    assert isinstance(tower.tower, ConvTower)
    assert tower.tower.layers[0].kernel[...].shape == (3, 3, 12, 4)  # runs on 8x8 with 4x channels
    shifted = np.roll(x, (2, -4), axis=(1, 2))                       # a shift by multiples of s
    batch = np.stack([x, shifted, np.roll(x, 1, axis=1)])
    graphdef, state = nnx.split(tower)
    out, out_shifted, one = jax.jit(lambda st, b: nnx.merge(graphdef, st)(b))(state, batch)
    assert out.shape == (2, 16, 16, 5)                               # ConvTower's signature
    out, out_shifted, one = np.asarray(out), np.asarray(out_shifted), np.asarray(one)
    np.testing.assert_allclose(out_shifted, np.roll(out, (2, -4), axis=(1, 2)), atol=1e-5)
    # not equivariant to a one-cell shift (sub-field position matters): the documented loss
    assert np.max(np.abs(one - np.roll(out, 1, axis=1))) > 1e-3
    with pytest.raises(ConfigError, match="divisible by 2"):
        tower(x[:, :15, :15])


# ---------------------------------------------------------------- CLI
def test_cli_commands_parse_and_reject_bad_values(tmp_path):
    from neuralpde.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["stagger-train", "--s", "3", "--s-time", "1", "--out",
                              str(tmp_path / "run"), "--no-progress"])
    with pytest.raises(UserInputError, match=r"s=3"):  # 3 does not divide the mini grid 32
        args.handler(args)
    args = parser.parse_args(["stagger-train", "--s", "2", "--out", str(tmp_path / "r"),
                              "--loss", "supervised"])
    with pytest.raises(UserInputError, match="needs a train store"):
        args.handler(args)
    args = parser.parse_args(["stagger-evaluate", "--run", str(tmp_path / "none"),
                              "--data", str(tmp_path), "--out", str(tmp_path / "res")])
    with pytest.raises(UserInputError):
        args.handler(args)
    assert json.loads(TRAIN.to_json())["model"]["s"] == 2


def test_out_on_an_existing_file_is_refused_before_any_work(tmp_path, capsys):
    from neuralpde.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    for argv in (["stagger-train", "--out", str(blocker)],
                 ["stagger-train", "--out", str(blocker / "sub")],
                 ["train", "--data", str(tmp_path), "--out", str(blocker)],
                 ["evaluate", "--data", str(tmp_path), "--solver", "dns", "--out", str(blocker)],
                 ["generate", "--out", str(blocker / "x")],
                 ["quickstart", "--out", str(blocker)]):
        assert main(argv) == 2, argv
        assert f"{blocker} is an existing file, not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "keep me" and sorted(tmp_path.iterdir()) == [blocker]


def test_time_scheme_and_spinup_options_and_records_written_before_them():
    from neuralpde.cli import build_parser
    from neuralpde.config import to_dict
    from neuralpde.training.config import StaggerTrainConfig, train_config_from_dict

    default = get_train_preset("mini", "stagger")
    assert default.time_scheme == "forward_euler" and default.spinup_time == 40.0
    args = build_parser().parse_args(["stagger-train", "--out", "x", "--time-scheme",
                                      "crank_nicolson", "--spinup-time", "0"])
    assert (args.time_scheme, args.spinup_time) == ("crank_nicolson", 0.0)
    # a record written before the fields existed trained CN on an un-spun pool: it resumes so
    old = to_dict(default)
    del old["time_scheme"], old["spinup_time"]
    assert (train_config_from_dict(old).time_scheme,
            train_config_from_dict(old).spinup_time) == ("crank_nicolson", 0.0)
    assert train_config_from_dict(to_dict(default)) == default
    for field, value in (("time_scheme", "euler"), ("spinup_time", -1.0),
                         ("spinup_time", float("inf")), ("warmup_time", 1e308)):
        with pytest.raises(ConfigError, match=f"invalid {field}="):
            with_fields(default, **{field: value})
    assert isinstance(default, StaggerTrainConfig)


def test_pool_seeds_are_spun_up_into_the_stationary_regime():
    from neuralpde.physics.diagnostics import kinetic_energy
    from neuralpde.training.staggered import seed_states

    def energy(spinup_time):
        uv = seed_states(jax.random.PRNGKey(0), FLOW, N, 8, 0.0, spinup_time=spinup_time)
        return np.asarray(kinetic_energy(uv[:, 0], uv[:, 1]))

    raw, e30, e40 = energy(0.0), energy(30.0), energy(40.0)
    # measured on 16²: mean energy 4.58 (random fields), 0.49 and 0.47 after 30 and 40
    # time units: the seeds have left the initial decay, and the ensemble no longer drifts
    assert np.mean(raw) > 3 * np.mean(e40)
    assert abs(np.mean(e30) - np.mean(e40)) < 0.1 * np.mean(e40)
    assert np.std(e40) < 0.15 * np.mean(e40)


@pytest.mark.slow
def test_a_stagger_train_run_is_evaluated_and_compared_like_any_solver(tiny_data, tmp_path, capsys):
    """`stagger-train` -> `evaluate --solver run:` (fine set and one sub-solver) -> `compare`."""
    from neuralpde.cli import main
    from neuralpde.training.runs import read_record

    run = tmp_path / "st"
    assert main(["stagger-train", "--data", str(tiny_data), "--out", str(run), "--s", "2",
                 "--steps", "2", "--batch-size", "2", "--pool-size", "2", "--hidden", "4",
                 "--depth", "1", "--warmup-time", "0", "--validation-samples", "1",
                 "--validation-horizon", "0.2", "--no-progress"]) == 0
    record = read_record(run)
    assert (record["kind"], record["model_size"], record["preset"]) == ("stagger", 8, "mini")
    assert (run / "checkpoints" / "best").exists()  # validated on the validation split
    results = tmp_path / "results"
    assert main(["evaluate", "--data", str(tiny_data), "--out", str(results), "--horizon", "0.3",
                 "--solver", "dns", "--solver", f"run:{run}", "--solver", f"run:{run}#coarse"]) == 0
    fine = json.loads((results / "st" / "summary.json").read_text())
    coarse = json.loads((results / "st-sub11-4" / "summary.json").read_text())
    assert fine["kind"] == "learned" and fine["compared_on"] == "model grid"
    assert coarse["size"] == 4 and coarse["compared_on"].startswith("sub-field (1, 1)")
    assert main(["compare", "--results", str(results), "--times", "0", "0.2"]) == 0
    table = (results / "comparison.md").read_text()
    assert "| st " in table and "st-sub11-4" in table
    assert (results / "figures" / "pareto.png").exists()
    # `#coarse` on a run that is not a staggered set is refused
    capsys.readouterr()
    assert main(["evaluate", "--data", str(tiny_data), "--out", str(results), "--solver",
                 "run:" + str(run) + "#coarse=5,5"]) == 2
    assert "invalid sub-field index a=5" in capsys.readouterr().err
    # a malformed suffix is named as such (not as a missing run folder)
    for suffix in ("#coarse=-1,0", "#coarse=1", "#fine"):
        assert main(["evaluate", "--data", str(tiny_data), "--out", str(results), "--solver",
                     "run:" + str(run) + suffix]) == 2
        assert "is not a known suffix" in capsys.readouterr().err


def test_help_shows_the_presets_values_not_none(capsys):
    from neuralpde.cli import LOOP_OPTIONS, STAGGER_OPTIONS, TRAIN_OPTIONS, build_parser
    from neuralpde.training.config import TRAIN_PRESETS

    parser = build_parser()
    for command, options in (("train", LOOP_OPTIONS + TRAIN_OPTIONS),
                             ("stagger-train", LOOP_OPTIONS + STAGGER_OPTIONS)):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        text = text[text.index("options:"):]                  # the option list, not the usage
        for flags, _, kwargs in options:
            boolean = kwargs.get("action") is argparse.BooleanOptionalAction
            start = text.index(flags[0] + (", " if boolean else " "))
            nxt = min([text.find(" --", start + len(flags[0]) + 1)] + [len(text)])
            if boolean:  # "--remat, --no-remat  help"
                negative = "--no-" + flags[0][2:]
                nxt = min([text.find(" --", text.index(negative, start) + len(negative) + 1)]
                          + [len(text)])
            assert "(default: None)" not in text[start:nxt], (command, flags)
    steps = ", ".join(f"{name} {config.steps}" for name, config in TRAIN_PRESETS.items())
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    assert f"(from --preset: {steps})" in " ".join(capsys.readouterr().out.split())


def test_argument_errors_are_one_line_and_exit_2(capsys):
    from neuralpde.cli import main

    for argv, bad in ((["stagger-train", "--time-scheme", "rk4", "--out", "x"], "'rk4'"),
                      (["train", "--steps", "abc", "--data", "d", "--out", "x"], "'abc'"),
                      (["bogus"], "'bogus'")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and bad in err and "--help" in err, err
