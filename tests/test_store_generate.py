"""Generation into the trajectory store: determinism, resume, validation, export, sharding."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from conftest import tiny_preset
from neuralpde.physics import dns
from neuralpde.store import (
    ResumeLog,
    StoreError,
    StoreLayout,
    create_store,
    export_netcdf,
    open_store,
    read_attrs,
)
from neuralpde.store.generate import generate, generate_split
from neuralpde.store.plan import plan_split
from neuralpde.store.schema import write_frames

REPO = Path(__file__).resolve().parents[1]


def _arrays(path):
    ds = open_store(path).load()
    return {name: ds[name].values for name in ds.data_vars}, ds.attrs


def _assert_same_store(a, b):
    """The same data and generation attrs; where they were made (``neuralpde.provenance``:
    version, commit, machine) may differ (a file of the checkout edited between the two)."""
    from neuralpde import provenance

    arrays_a, attrs_a = _arrays(a)
    arrays_b, attrs_b = _arrays(b)
    made = set(provenance())
    assert made <= set(attrs_a) and made <= set(attrs_b)
    assert ({k: v for k, v in attrs_a.items() if k not in made}
            == {k: v for k, v in attrs_b.items() if k not in made})
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)


def test_generation_writes_a_valid_complete_store(tmp_path, tiny):
    paths = generate(tiny, tmp_path / "data", progress=False)
    train = open_store(paths["train"], preset="mini", split="train", model_size=8)
    test = open_store(paths["test"], split="test")
    plan = plan_split(tiny, "train")
    assert train.u.dims == ("sample", "time", "x", "y")
    assert train.u.shape == (3, plan.n_frames, 8, 8)
    assert np.isfinite(train.u.values).all() and np.isfinite(test.v.values).all()
    assert train.u.attrs["offset"] == [1.0, 0.5] and train.v.attrs["offset"] == [0.5, 1.0]
    np.testing.assert_allclose(np.diff(train.time.values), tiny.dt_model)
    np.testing.assert_allclose(train.x.values, (np.arange(8) + 0.5) * 2 * np.pi / 8)
    config = json.loads(train.attrs["config_json"])
    assert config["preset"]["fine_size"] == 32 and config["split"] == "train"
    for key in ("jax_version", "jax_cfd_version", "neuralpde_version", "solver", "seed"):
        assert key in train.attrs
    # the test store keeps the first frame on the extra grid, consistent with the model grid
    assert "u_init_16" in test and "u_init_16" not in train
    first16 = np.stack([test.u_init_16.values, test.v_init_16.values], axis=1)
    first8 = np.stack([test.u.values[:, 0], test.v.values[:, 0]], axis=1)
    coarse = np.stack([np.asarray(dns.downsample_velocity(f, 8)) for f in first16])
    np.testing.assert_allclose(coarse, first8, atol=1e-5)
    # every stored frame is divergence-free to float32 round-off (see test_physics)
    uv = np.stack([train.u.values, train.v.values], axis=2)
    div = np.asarray(dns.divergence(uv))
    assert np.abs(div).max() < 50 * np.finfo(np.float32).eps * np.abs(uv).max() / (2 * np.pi / 8)
    assert not (tmp_path / "data" / "train.zarr.resume").exists()


def test_same_seed_gives_identical_stores_and_rerun_does_nothing(tmp_path, tiny):
    a = generate_split(tiny, "train", tmp_path / "a.zarr", progress=False)
    b = generate_split(tiny, "train", tmp_path / "b.zarr", progress=False)
    _assert_same_store(a, b)
    before = {p: p.stat().st_mtime_ns for p in Path(a).rglob("*") if p.is_file()}
    generate_split(tiny, "train", a, progress=False)
    after = {p: p.stat().st_mtime_ns for p in Path(a).rglob("*") if p.is_file()}
    assert before == after
    other = generate_split(tiny_preset(seed=5), "train", tmp_path / "c.zarr", progress=False)
    assert not np.array_equal(open_store(other).u.values, open_store(a).u.values)


def test_data_do_not_depend_on_the_batch_size(tmp_path):
    a = generate_split(tiny_preset(batch_size=1), "test", tmp_path / "a.zarr", progress=False)
    b = generate_split(tiny_preset(batch_size=3), "test", tmp_path / "b.zarr", progress=False)
    np.testing.assert_allclose(open_store(a).u.values, open_store(b).u.values, rtol=0, atol=1e-5)


def test_interrupted_generation_resumes_to_the_uninterrupted_store(tmp_path, tiny):
    reference = generate_split(tiny, "train", tmp_path / "ref.zarr", progress=False)
    path = tmp_path / "resumed.zarr"
    generate_split(tiny, "train", path, progress=False, stop_after_blocks=2)
    with pytest.raises(StoreError, match="incomplete"):
        open_store(path)
    assert any(ResumeLog(path).root.iterdir())
    generate_split(tiny, "train", path, progress=False)
    _assert_same_store(reference, path)


def test_sigkill_mid_run_then_rerun_gives_the_uninterrupted_store(tmp_path):
    from neuralpde.store.presets import get_preset, with_overrides

    # the preset exactly as the CLI below builds it (split overrides apply to 'train' only)
    preset = with_overrides(get_preset("mini"), split="train", model_size=8, fine_size=32,
                            initial_sizes=(16,), n_samples=4, duration=3.0, warmup=1.0,
                            time_chunk=2, batch_size=2)
    out = tmp_path / "killed"
    argv = [sys.executable, "-m", "neuralpde.cli", "generate", "--out", str(out),
            "--split", "train", "--no-progress", "--model-size", "8", "--fine-size", "32",
            "--initial-sizes", "16", "--samples", "4", "--duration", "3.0", "--warmup", "1.0",
            "--time-chunk", "2", "--batch-size", "2"]
    process = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    resume = out / "train.zarr.resume"
    deadline = time.time() + 120
    while time.time() < deadline and not (resume.exists() and any(resume.glob("batch_00000.npz"))):
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert read_attrs(out / "train.zarr")["complete"] == 0, "the kill came after the end"
    assert subprocess.run(argv, cwd=REPO, capture_output=True).returncode == 0
    reference = generate_split(preset, "train", tmp_path / "ref.zarr", progress=False)
    _assert_same_store(reference, out / "train.zarr")


def test_store_round_trips_exactly_and_exports_to_netcdf(tmp_path):
    layout = StoreLayout(n_samples=3, n_frames=5, size=8, domain_size=2 * np.pi, frame_dt=0.1,
                         sample_chunk=2, time_chunk=2)
    attrs = {"preset": "mini", "split": "test", "config_json": "{}", "model_size": 8,
             "fine_size": 32, "dt_model": 0.1, "save_every": 1, "frame_dt": 0.1, "seed": 0,
             "n_samples": 3}
    path = tmp_path / "s.zarr"
    create_store(path, layout, attrs)
    data = np.random.default_rng(0).standard_normal((3, 5, 2, 8, 8)).astype(np.float32)
    write_frames(path, 0, 0, data[:2, :3])
    write_frames(path, 2, 0, data[2:, :3])
    write_frames(path, 0, 3, data[:, 3:])
    zarr.open_group(str(path), mode="r+").attrs["complete"] = 1
    ds = open_store(path)
    np.testing.assert_array_equal(ds.u.values, data[:, :, 0])
    np.testing.assert_array_equal(ds.v.values, data[:, :, 1])
    nc = export_netcdf(path, tmp_path / "s.nc")
    with xr.open_dataset(nc) as exported:
        np.testing.assert_array_equal(exported.u.values, data[:, :, 0])
        assert exported.attrs["preset"] == "mini"
    assert not (tmp_path / "s.nc.tmp").exists()


def _good_store(tmp_path, tiny):
    return generate_split(tiny, "test", tmp_path / "good.zarr", progress=False)


def test_open_store_refuses_corrupted_and_foreign_stores(tmp_path, tiny):
    import shutil

    good = _good_store(tmp_path, tiny)
    with pytest.raises(StoreError, match="no trajectory store"):
        open_store(tmp_path / "missing.zarr")
    with pytest.raises(StoreError, match="made for preset='mini', not preset='paper'"):
        open_store(good, preset="paper")
    with pytest.raises(StoreError, match="made for split='test', not split='train'"):
        open_store(good, split="train")
    with pytest.raises(StoreError, match="made for model_size=8, not model_size=32"):
        open_store(good, model_size=32)

    missing_var = tmp_path / "missing_var.zarr"
    shutil.copytree(good, missing_var)
    shutil.rmtree(missing_var / "v")
    with pytest.raises(StoreError, match="no variable 'v'"):
        open_store(missing_var)

    foreign = tmp_path / "foreign.zarr"
    group = zarr.open_group(str(foreign), mode="w")
    group.attrs["title"] = "someone else's data"
    group.create_array("u", shape=(2, 2), dtype="float32", dimension_names=["a", "b"])
    with pytest.raises(StoreError, match="not a neuralpde trajectory store: missing attrs"):
        open_store(foreign)

    wrong_dims = tmp_path / "wrong_dims.zarr"
    shutil.copytree(good, wrong_dims)
    meta_path = wrong_dims / "u" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["dimension_names"] = ["sample", "time", "y", "x"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="dims"):
        open_store(wrong_dims)

    not_zarr = tmp_path / "garbage.zarr"
    not_zarr.mkdir()
    (not_zarr / "zarr.json").write_text("{ not json")
    with pytest.raises(StoreError, match="not a neuralpde trajectory store"):
        open_store(not_zarr)


def test_a_different_config_at_the_same_path_is_refused(tmp_path, tiny):
    good = _good_store(tmp_path, tiny)
    with pytest.raises(StoreError, match=r"different config \(differs in \['split.n_samples'\]\)"):
        generate_split(tiny_preset(n_samples=5), "test", good, progress=False)
    assert open_store(good).sizes["sample"] == 3  # untouched


SHARDED_SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    sys.path.insert(0, "tests")
    from conftest import tiny_preset
    from neuralpde.store.generate import generate_split
    from neuralpde.store.kernels import SplitKernels
    from neuralpde.store.plan import plan_split
    from neuralpde.sharding import batch_sharding
    preset = tiny_preset(batch_size=4, n_samples=4)
    kernels = SplitKernels(preset, plan_split(preset, "test"), batch_sharding())
    state = kernels.initial(jax.random.PRNGKey(0), jax.numpy.arange(4))
    print("devices", jax.device_count(), "shards", len(state.sharding.device_set))
    generate_split(preset, "test", sys.argv[1], progress=False)
""")


def test_four_simulated_devices_shard_the_batch_and_match_one_device(tmp_path):
    env = {**os.environ, "XLA_FLAGS":
           os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT, str(tmp_path / "four.zarr")],
                            cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "devices 4 shards 4" in result.stdout
    one = generate_split(tiny_preset(batch_size=4, n_samples=4), "test", tmp_path / "one.zarr",
                         progress=False)
    four, single = open_store(tmp_path / "four.zarr"), open_store(one)
    for name in ("u", "v", "u_init_16"):
        np.testing.assert_allclose(four[name].values, single[name].values, rtol=0, atol=1e-5)


def test_history_frames_are_the_last_model_steps_before_the_first_frame(tmp_path, tiny):
    """The test split's history equals frames saved every model step by a shorter warm-up."""
    test = open_store(generate_split(tiny, "test", tmp_path / "test.zarr", progress=False))
    h = tiny.test.history
    assert test.attrs["history_frames"] == h and test.u_history.dims == ("sample", "lag", "x", "y")
    np.testing.assert_allclose(test.lag.values, (np.arange(h) - (h - 1)) * tiny.dt_model)
    np.testing.assert_array_equal(test.u_history.values[:, -1], test.u.values[:, 0])
    np.testing.assert_array_equal(test.v_history.values[:, -1], test.v.values[:, 0])
    # the same samples, warmed up h - 1 model steps less and saved every model step
    plan = plan_split(tiny, "test")
    shorter = tiny_preset(history=0, warmup=(plan.warmup_steps - (h - 1)) * tiny.dt_model,
                          duration=(h - 1) * tiny.dt_model, save_every=1, initial_sizes=())
    # the test split again (the same seed stream), saved every model step
    frames = open_store(generate_split(shorter, "test", tmp_path / "s.zarr", progress=False))
    np.testing.assert_allclose(test.u_history.values, frames.u.values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(test.v_history.values, frames.v.values, rtol=0, atol=1e-5)
    assert not np.allclose(test.u_history.values[:, 0], test.u_history.values[:, -1], atol=1e-3)


def test_history_longer_than_the_warm_up_is_rejected(tmp_path):
    preset = tiny_preset(history=50)
    with pytest.raises(ValueError, match="invalid history=50"):
        generate_split(preset, "test", tmp_path / "t.zarr", progress=False)
    assert not (tmp_path / "t.zarr").exists()
