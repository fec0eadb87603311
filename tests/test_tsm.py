"""Temporal stencil models: bundling, memory through rollouts, training and evaluation."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import tiny_preset
from neuralpde.config import ConfigError
from neuralpde.models.temporal_stencil import (
    FrameStackEncoder,
    TemporalStencilModel,
    feature_rms,
    make_encoder,
)
from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.learned import TSMSolver, learned_convection
from neuralpde.solvers.rollout import rollout
from neuralpde.store import StoreError, open_store
from neuralpde.store.generate import generate

FLOW = KolmogorovFlow()
N = 8


def _prefix(k, seed=0, size=N):
    """K consecutive DNS frames on the model grid (a real prefix)."""
    uv = dns.random_initial_velocity(jax.random.PRNGKey(seed), FLOW, size)
    step = jax.jit(dns.finite_volume_step(FLOW, size, dns.model_time_step(FLOW, size)))
    frames = [uv]
    for _ in range(k - 1):
        frames.append(step(frames[-1]))
    return jnp.stack(frames)


def _solver(kind="hippo", bundle=2, prefix=4, seed=0, **encoder):
    encoder = make_encoder(kind, prefix, hippo_order=encoder.get("order", 6),
                           hippo_measure=encoder.get("measure", "lagt"))
    model = TemporalStencilModel(encoder.channels, bundle=bundle, hidden=8, depth=1,
                                 rngs=nnx.Rngs(seed))
    return TSMSolver.from_model(FLOW, N, model, encoder)


def test_bundle_of_one_equals_calling_the_network_every_step():
    solver = _solver(bundle=1)
    prefix = _prefix(4)
    state = solver.init(prefix)

    @jax.jit
    def by_hand(uv, memory):  # network, learned finite-volume step, memory update
        (weights,) = solver.model()(solver.encoder.features(memory))
        uv = dns.finite_volume_step(FLOW, N, solver.dt_model,
                                    convect=learned_convection(weights))(uv)
        return uv, solver.encoder.update(memory, uv)

    uv, memory = prefix[-1], solver.encoder.encode(prefix)
    step = jax.jit(solver.step)
    for _ in range(3):
        state = step(state)
        uv, memory = by_hand(uv, memory)
    assert np.abs(uv).max() < 50  # a well-behaved flow, not a blow-up
    assert not np.allclose(uv, prefix[-1], atol=1e-2)
    np.testing.assert_allclose(state.velocity, uv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state.memory.coefficients, memory.coefficients, rtol=1e-5, atol=1e-5)
    assert solver.dt == solver.dt_model and solver.substeps == 1


def test_bundle_uses_one_network_call_for_b_steps_with_its_own_coefficients():
    solver = _solver(bundle=3)
    assert solver.dt == pytest.approx(3 * solver.dt_model)
    state = solver.init(_prefix(4))
    new, velocities = jax.jit(solver.bundle_step)(state)
    assert velocities.shape == (3, 2, N, N)
    np.testing.assert_array_equal(new.velocity, velocities[-1])
    # the three steps use three different stencil sets: replaying step 2 with block 0's
    # coefficients gives another velocity
    @jax.jit
    def replay(memory, uv):
        blocks = solver.model()(solver.encoder.features(memory))
        fv = lambda weights: dns.finite_volume_step(FLOW, N, solver.dt_model,
                                                    convect=learned_convection(weights))(uv)
        return fv(blocks[1]), fv(blocks[0])

    with_block_1, with_block_0 = replay(state.memory, velocities[0])
    np.testing.assert_allclose(with_block_1, velocities[1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(with_block_0, velocities[1], rtol=1e-4, atol=1e-4)
    # the memory has consumed the prefix and all three new frames
    assert int(new.memory.step) == 4 + 3


def test_memory_is_carried_along_and_a_reset_equals_a_fresh_rollout():
    solver = _solver(bundle=2)
    prefixes = jnp.stack([_prefix(4, seed=1), _prefix(4, seed=2)])
    whole = rollout(solver, np.asarray(prefixes), n_frames=5, steps_per_frame=1,
                    output_size=N, domain_size=FLOW.domain_size)
    # two pieces: the state (velocity + memory) is carried from one to the next
    state = jax.vmap(solver.init)(prefixes)
    step = jax.jit(jax.vmap(solver.step))
    for _ in range(4):
        state = step(state)
    np.testing.assert_allclose(whole.frames[:, -1], state.velocity, rtol=1e-5, atol=1e-5)
    # the history matters: the same last frame with another prefix gives another rollout
    other = prefixes.at[:, :-1].set(prefixes[::-1, :-1])
    changed = rollout(solver, np.asarray(other), n_frames=5, steps_per_frame=1, output_size=N,
                      domain_size=FLOW.domain_size)
    assert not np.allclose(changed.frames[:, -1], whole.frames[:, -1], atol=1e-4)
    # resetting the memory from a new prefix equals a fresh rollout from that prefix
    reset = jax.vmap(solver.init)(other)
    for _ in range(4):
        reset = step(reset)
    np.testing.assert_allclose(reset.velocity, changed.frames[:, -1], rtol=1e-5, atol=1e-5)


def test_frame_stack_encoder_keeps_the_last_k_frames():
    encoder = FrameStackEncoder(3)
    frames = jnp.arange(3 * 2 * 4 * 4, dtype=jnp.float32).reshape(3, 2, 4, 4)
    memory = encoder.update(encoder.encode(frames), -frames[0])
    np.testing.assert_array_equal(memory, jnp.stack([frames[1], frames[2], -frames[0]]))
    features = encoder.features(memory)
    assert features.shape == (4, 4, 6)
    np.testing.assert_array_equal(features[1, 2], memory[:, :, 1, 2].reshape(-1))


def test_tsm_prefix_shape_and_encoder_mismatch_errors():
    solver = _solver(prefix=4)
    with pytest.raises(ValueError, match=r"expected \(4, 2, 8, 8\)"):
        solver.init(_prefix(3))
    model = TemporalStencilModel(5, bundle=1, hidden=4, depth=1, rngs=nnx.Rngs(0))
    with pytest.raises(ConfigError, match="5 feature channels"):
        TSMSolver.from_model(FLOW, N, model, make_encoder("frames", 4))
    with pytest.raises(ConfigError, match="unknown temporal encoder 'gru'"):
        make_encoder("gru", 4)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny train store (every model step) and a test store saved every 2 steps with 4 history
    frames."""
    out = tmp_path_factory.mktemp("tsm_data")
    preset = tiny_preset(n_samples=2, duration=0.6, initial_sizes=())
    preset = dataclasses.replace(preset, test=dataclasses.replace(preset.test, save_every=2),
                                 validation=dataclasses.replace(preset.validation, save_every=2))
    generate(preset, out, progress=False)
    return out


def test_train_tsm_cnn_from_the_cli_and_load_it(data, tmp_path, capsys):
    """``--model tsm-cnn`` trains (the final validation rolls out from the stored history)."""
    from neuralpde.cli import main
    from neuralpde.training.runs import load_solver, read_metrics

    run = tmp_path / "tsm"
    args = ["train", "--model", "tsm-cnn", "--data", str(data), "--out", str(run), "--steps", "2",
            "--batch-size", "2", "--unroll", "4", "--hidden", "4", "--depth", "1", "--prefix", "3",
            "--bundle", "2", "--checkpoint-every", "2", "--validation-horizon", "0.4",
            "--no-progress"]
    assert main(args) == 0
    record = json.loads((run / "run.json").read_text())
    assert record["kind"] == "tsm-cnn" and record["train_config"]["model"]["kind"] == "TSMCNNConfig"
    assert "hippo_order" not in record["train_config"]["model"]  # its kind has no memory
    assert read_metrics(run)[-1]["validation_duration"] > 0
    solver = load_solver(run, open_store(data / "test.zarr"))
    assert isinstance(solver, TSMSolver) and solver.history_frames == 3 and solver.substeps == 2
    assert solver.model().tower.in_channels == 6
    # an unroll that is not a multiple of the bundle is refused before anything is written
    bad = args[:]
    bad[bad.index("--unroll") + 1] = "3"
    bad[bad.index("--out") + 1] = str(tmp_path / "bad")
    assert main(bad) == 2
    assert "a multiple of the TSM bundle 2" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_train_tsm_hippo_with_rms_feature_norm_saves_and_reuses_its_scale(data, tmp_path):
    """``--feature-norm rms``: the scale is measured on training prefixes, saved in run.json,
    kept on resume and used by the loaded solver."""
    from neuralpde.cli import main
    from neuralpde.training.runs import load_solver

    run = tmp_path / "rms"
    args = ["train", "--model", "tsm-hippo", "--data", str(data), "--out", str(run), "--steps", "2",
            "--batch-size", "2", "--unroll", "2", "--hidden", "4", "--depth", "1", "--prefix", "3",
            "--bundle", "2", "--hippo-measure", "legt", "--hippo-order", "4",
            "--feature-norm", "rms", "--checkpoint-every", "1", "--validation-horizon", "0.4",
            "--no-progress"]
    assert main(args) == 0
    scale = json.loads((run / "run.json").read_text())["feature_scale"]
    assert len(scale) == 8 and all(x > 0 for x in scale)
    assert scale[0] > scale[3]  # the window mean carries more than the 4th Legendre coefficient
    solver = load_solver(run, open_store(data / "test.zarr"))
    assert solver.encoder.scale == tuple(scale)
    # a resumed run takes the scale its run.json holds (not a fresh measurement)
    from neuralpde.config import with_fields
    from neuralpde.training.config import get_train_preset
    from neuralpde.training.loop import train

    config = with_fields(
        get_train_preset("mini", "tsm-hippo"), steps=2, batch_size=2, unroll=2,
        hidden=4, depth=1, prefix=3, bundle=2, hippo_measure="legt", hippo_order=4,
        feature_norm="rms", checkpoint_every=1, validation_horizon=0.4)
    resumed = tmp_path / "resumed"
    train(config, resumed, data, progress=False, stop_after=1)
    record = json.loads((resumed / "run.json").read_text())
    assert record["feature_scale"] == scale
    record["feature_scale"] = [2.0] * 8
    (resumed / "run.json").write_text(json.dumps(record))
    train(config, resumed, data, progress=False)
    assert load_solver(resumed, which="last").encoder.scale == (2.0,) * 8


def test_feature_rms_gives_unit_features_and_is_checked():
    from neuralpde.models.config import TSMCNNConfig
    from neuralpde.solvers.learned import build_encoder

    encoder = make_encoder("hippo", 4, "legt", 6)
    prefixes = jnp.stack([_prefix(4, seed) for seed in range(3)])
    scale = feature_rms(encoder, prefixes, floor=0.0)
    scaled = dataclasses.replace(encoder, scale=scale)
    features = jnp.stack([scaled.features(scaled.encode(p)) for p in prefixes])
    rms = np.sqrt(np.mean(np.asarray(features) ** 2, axis=(0, 1, 2)))
    np.testing.assert_allclose(rms, 1.0, rtol=1e-4)
    floored = feature_rms(encoder, prefixes, floor=0.5)
    assert min(floored) == pytest.approx(0.5 * max(floored))
    zero = feature_rms(make_encoder("frames", 4), jnp.zeros((2, 4, 2, N, N)))
    assert zero == (1.0,) * 8
    with pytest.raises(ConfigError, match="invalid feature scale .*12 finite positive floats"):
        make_encoder("hippo", 4, "legt", 6, scale=(1.0,) * 11)
    with pytest.raises(ConfigError, match="invalid feature scale"):
        make_encoder("frames", 2, scale=(1.0, 0.0, 1.0, 1.0))
    with pytest.raises(ConfigError, match="needs the scale of its training data"):
        build_encoder(TSMCNNConfig(prefix=2, feature_norm="rms"))
    with pytest.raises(ConfigError, match="one with 'none' takes no scale"):
        build_encoder(TSMCNNConfig(prefix=2), feature_scale=[1.0] * 4)
    with pytest.raises(ConfigError, match="invalid feature_norm='std'"):
        TSMCNNConfig(feature_norm="std")


def test_tsm_on_a_store_without_history_fails_clearly(tmp_path):
    from neuralpde.store.reading import initial_inputs

    preset = tiny_preset(n_samples=1, duration=0.2, initial_sizes=(), history=0)
    generate(preset, tmp_path, splits=("test",), progress=False)
    test = open_store(tmp_path / "test.zarr")
    with pytest.raises(StoreError, match="--history 4"):
        initial_inputs(test, N, 1, history=4)


def test_decompose_option_runs_the_stencil_tower_on_sub_fields():
    """``decompose = s`` puts the LI/TSM tower on the s² sub-fields (NeuralStagger-style)."""
    from neuralpde.models.config import LIConfig, TSMCNNConfig
    from neuralpde.models.tower import DecomposedTower
    from neuralpde.solvers.learned import build_li_solver, build_tsm_solver

    for config, build in ((LIConfig(hidden=4, depth=1, decompose=2), build_li_solver),
                          (TSMCNNConfig(hidden=4, depth=1, prefix=2, bundle=1, decompose=2),
                           build_tsm_solver)):
        solver = build(config, 0, FLOW, N)
        assert isinstance(solver.model().tower, DecomposedTower)
        frames = _prefix(2)
        state = solver.init(frames if config.kind_name != "li" else frames[-1])
        assert np.isfinite(np.asarray(solver.velocity(jax.jit(solver.step)(state)))).all()
    with pytest.raises(ConfigError, match="invalid decompose=0"):
        LIConfig(decompose=0)


def test_hippo_feature_rms_script_prints_one_line_per_memory(data, capsys):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "experiments" / "hippo_feature_rms.py"
    spec = importlib.util.spec_from_file_location("hippo_feature_rms", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--data", str(data)])
    lines = capsys.readouterr().out.splitlines()
    assert "4-frame prefixes" in lines[0]
    rows = {line.split(":")[0]: [float(x) for x in line.split("order ")[1].split()]
            for line in lines[1:]}
    assert set(rows) == {"lagt N = 32", "legt N = 32, theta = prefix", "legt N = 8, theta = prefix",
                         "legt N = 8, theta 16"}
    assert len(rows["legt N = 8, theta 16"]) == 8 and all(x >= 0 for x in rows["lagt N = 32"])


def _ar1(n_frames, cells, rho=0.7, seed=0):
    """A stationary AR(1) series per cell, unit variance, correlation time ~3 frames: (T, cells)."""
    rng = np.random.default_rng(seed)
    u = np.empty((n_frames, cells))
    u[0] = rng.standard_normal(cells)
    for t in range(1, n_frames):
        u[t] = rho * u[t - 1] + math.sqrt(1 - rho ** 2) * rng.standard_normal(cells)
    return jnp.asarray(u, jnp.float32)


@pytest.mark.parametrize("measure, order, theta", [("lagt", 8, None), ("lagt", 32, None),
                                                   ("legt", 8, 16.0)])
def test_memory_over_its_needed_history_has_the_statistics_of_a_long_rollout(measure, order, theta):
    from neuralpde.models.hippo import make_hippo

    hippo = make_hippo(measure, order, theta=theta)
    needed = hippo.memory_frames()
    long = 6 * needed
    u = _ar1(long + 1, 2048)
    rms = lambda frames: np.sqrt(np.mean(np.asarray(hippo.encode(frames).coefficients) ** 2,
                                         axis=0))
    rollout = rms(u)                         # the memory carried along 6x the needed history
    start = rms(u[-needed:])                 # a window start: encoded from zero over `needed`
    # tolerance: the tail fraction bound (0.5 % in RMS) plus the sampling error of the
    # RMS over 2048 cells of a correlated series (a few %): 5 % per order
    np.testing.assert_allclose(start / rollout, 1.0, atol=0.05)
    if measure == "lagt" and order == 32:
        # the published setting (from zero over a 32-frame prefix) is far from it: the
        # high orders have a fraction of their rollout size
        short = rms(u[-32:]) / rollout
        assert short[-8:].max() < 0.5, short


def test_needed_history_of_each_measure():
    from neuralpde.models.hippo import make_hippo

    assert make_hippo("legs", 8).memory_frames() is None          # never forgets
    lagt = [make_hippo("lagt", n).memory_frames() for n in (8, 32, 256)]
    assert lagt == sorted(lagt) and lagt[2] > 32 * 30             # ~4 frames per order
    legt = make_hippo("legt", 8, theta=16.0).memory_frames()
    assert 16 <= legt <= 24  # the window plus the closure's leak
    with pytest.raises(ConfigError, match="invalid tolerance=1.5"):
        make_hippo("lagt", 8).memory_frames(1.5)


def test_a_prefix_shorter_than_the_memory_needs_is_noted():
    from neuralpde.models.temporal_stencil import make_encoder, memory_history_note

    assert memory_history_note(make_encoder("hippo", 32, "legt", 8, 16.0)) is None
    assert memory_history_note(make_encoder("frames", 4)) is None
    note = memory_history_note(make_encoder("hippo", 32, "lagt", 32))
    assert "lagt N=32 memory needs 131 frames" in note and "32-frame prefix" in note
    assert memory_history_note(make_encoder("hippo", 200, "lagt", 32)) is None
    assert "never forgets" in memory_history_note(make_encoder("hippo", 32, "legs", 8))
    # a LegT window left over from a preset is refused for another measure, saying what to do
    from neuralpde.models.config import TSMCNNConfig, TSMHiPPOConfig

    with pytest.raises(ConfigError, match="invalid hippo_theta=16.0.*pass --hippo-theta 0"):
        TSMHiPPOConfig(hippo_measure="lagt", hippo_theta=16.0)
    assert TSMHiPPOConfig(hippo_measure="legt", hippo_theta=16.0)
    assert not hasattr(TSMCNNConfig(), "hippo_theta")  # the other kinds have no memory fields
