"""Data that cannot mislead: disjoint split streams, a validation split training uses, stable
fine grids, no store with a bad frame ever complete, and readers that refuse damage."""

import json
import math
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr

from conftest import tiny_preset
from neuralpde.cli import main
from neuralpde.config import ConfigError
from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.store import StoreError, open_store
from neuralpde.store.generate import generate, generate_split
from neuralpde.store.plan import plan_split
from neuralpde.store.presets import MAX_SEED, SplitSpec, get_preset, initial_key, with_overrides

REPO = Path(__file__).resolve().parents[1]


def _frames(path) -> np.ndarray:
    ds = open_store(path)
    return np.stack([ds.u.values, ds.v.values], axis=2)  # (S, T, 2, n, n)


def _nearest(frame: np.ndarray, trajectories: np.ndarray) -> float:
    """Smallest relative L2 distance of ``frame`` to any frame of ``trajectories``."""
    flat = trajectories.reshape(-1, frame.size)
    return float(np.min(np.linalg.norm(flat - frame.ravel(), axis=1)) / np.linalg.norm(frame))


# ---------------------------------------------------------------- split streams


def test_split_keys_are_disjoint_and_seeds_are_checked():
    keys = {(seed, split): np.asarray(jax.random.key_data(initial_key(seed, split, 0))).tobytes()
            for seed in (0, 1, 3, MAX_SEED - 1, MAX_SEED)
            for split in ("train", "validation", "test")}
    assert len(set(keys.values())) == len(keys)
    for bad in (-1, MAX_SEED + 1, 1.5, True):
        with pytest.raises(ConfigError, match="seed"):
            SplitSpec(n_samples=1, duration=1.0, warmup=0.0, save_every=1, seed=bad)


@pytest.mark.parametrize("train_seed,other_seed", [(3, 3), (0, 0)])  # (0, 0): the defaults
def test_no_test_or_validation_start_lies_on_a_train_trajectory(tmp_path, train_seed, other_seed):
    """The leak of the old seeds: same seed, longer test warm-up -> a time-shifted train frame.

    Here the test and validation warm-ups are the train warm-up + 0.2 (a frame the train
    trajectory holds), with every seed combination; frame 0 of every test and validation
    trajectory must be far from every train (and validation) frame.
    """
    preset = tiny_preset(n_samples=2, duration=0.4, warmup=0.3, initial_sizes=())
    preset = with_overrides(preset, split="train", seed=train_seed)
    for split in ("validation", "test"):
        preset = with_overrides(preset, split=split, seed=other_seed, warmup=0.5)
    paths = generate(preset, tmp_path, progress=False)
    train, validation, test = (_frames(paths[s]) for s in ("train", "validation", "test"))
    for sample in range(2):
        assert _nearest(test[sample, 0], train) > 0.1
        assert _nearest(test[sample, 0], validation) > 0.1
        assert _nearest(validation[sample, 0], train) > 0.1


def test_the_old_stream_would_have_leaked(tmp_path):
    """The check above can fail: one stream for both splits reproduces the leak to round-off."""
    preset = tiny_preset(n_samples=1, duration=0.6, warmup=0.3, initial_sizes=())
    later = with_overrides(preset, split="train", warmup=0.5)
    a = _frames(generate_split(preset, "train", tmp_path / "a.zarr", progress=False))
    b = _frames(generate_split(later, "train", tmp_path / "b.zarr", progress=False))
    shift = round(0.2 / preset.dt_model)
    assert _nearest(b[0, 0], a) < 1e-4 and _nearest(b[0, 0], a[:, shift:shift + 1]) < 1e-4


# ---------------------------------------------------------------- validation split in training


@pytest.fixture(scope="module")
def data(tiny_data):
    return tiny_data


def test_training_validates_on_the_validation_split_and_never_reads_test(data, tmp_path):
    folder = tmp_path / "no-test"
    shutil.copytree(data, folder)
    shutil.rmtree(folder / "test.zarr")
    run = tmp_path / "run"
    argv = ["train", "--data", str(folder), "--out", str(run), "--steps", "2", "--batch-size", "2",
            "--unroll", "2", "--hidden", "4", "--depth", "1", "--validation-samples", "2",
            "--validation-horizon", "0.5", "--no-progress"]
    assert main(argv) == 0
    lines = [json.loads(text) for text in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("validation_duration" in line for line in lines)
    # a data folder without the validation split is refused before anything is written
    shutil.rmtree(folder / "validation.zarr")
    bad = tmp_path / "bad"
    argv[argv.index("--out") + 1] = str(bad)
    assert main(argv) == 2
    assert not bad.exists()


def test_validation_split_has_its_own_history_and_spacing(data):
    validation = open_store(data / "validation.zarr", split="validation")
    test = open_store(data / "test.zarr", split="test")
    assert validation.attrs["history_frames"] == test.attrs["history_frames"] == 4
    assert validation.attrs["frame_dt"] == test.attrs["frame_dt"]
    assert "u_init_16" not in validation


# ---------------------------------------------------------------- stable grids


def test_low_reynolds_number_on_the_quickstart_grid_runs_finite(tmp_path):
    preset = with_overrides(get_preset("quickstart"), flow={"viscosity": 0.25}, n_samples=1,
                            duration=0.3, warmup=0.2, history=0)
    plan = plan_split(preset, "train")
    fine_dx = 2 * math.pi / 128
    assert plan.inner_steps > 4  # the fine grid's own diffusive limit asks for more steps
    assert plan.dt_model / plan.inner_steps <= preset.flow.courant * fine_dx ** 2 / (4 * 0.25)
    path = generate_split(preset, "train", tmp_path / "train.zarr", progress=False)
    assert np.isfinite(_frames(path)).all()


def test_unstable_configurations_are_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["generate", "--preset", "quickstart", "--out", str(out), "--max-velocity", "0.5",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "invalid max_velocity=0.5" in err and "laminar Kolmogorov speed" in err
    with pytest.raises(ConfigError,
                       match=r"invalid viscosity=10 on the 32² grid.*viscosity <= 4.91"):
        dns.model_time_step(KolmogorovFlow(viscosity=10.0, max_velocity=50.0), 32)
    assert main(["generate", "--preset", "quickstart", "--out", str(out), "--viscosity", "10",
                 "--max-velocity", "50", "--no-progress"]) == 2
    assert "invalid viscosity=10" in capsys.readouterr().err
    assert main(["generate", "--preset", "quickstart", "--out", str(out), "--duration", "1e308",
                 "--no-progress"]) == 2
    assert "invalid duration=1e+308" in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------- no bad frame in a complete store


def _nan_after(step_count):
    """A fine-step factory whose step returns NaN (an unstable scheme, injected)."""
    del step_count
    real = dns.finite_volume_step

    def factory(*args, **kwargs):
        step = real(*args, **kwargs)
        return lambda uv: step(uv) * jnp.nan
    return factory


@pytest.mark.parametrize("warmup,where", [(0.3, "during the warm-up"), (0.0, "t = 0.056")])
def test_a_non_finite_step_leaves_a_failed_incomplete_store(tmp_path, monkeypatch, capsys, warmup,
                                                            where):
    import neuralpde.store.kernels as kernels

    preset = tiny_preset(n_samples=1, duration=0.4 + warmup, warmup=warmup, history=0,
                         initial_sizes=())
    path = tmp_path / "train.zarr"
    monkeypatch.setattr(kernels.dns, "finite_volume_step", _nan_after(0))
    # through the command line: exit status 2 and the message, no traceback
    argv = ["generate", "--preset", "mini", "--reference-solver", "fv", "--warmup-size", "0",
            "--out", str(tmp_path), "--split", "train",
            "--model-size", "8", "--fine-size", "32", "--initial-sizes", "--samples", "1",
            "--duration", str(0.4 + warmup), "--warmup", str(warmup), "--history", "0",
            "--batch-size", "2", "--time-chunk", "4", "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "non-finite value (sample 0, " + where in err and "Traceback" not in err
    monkeypatch.undo()
    kernels.split_kernels.cache_clear()  # drop the kernels built with the NaN step
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    assert attrs["complete"] == 0 and "non-finite" in attrs["failed"]
    with pytest.raises(StoreError, match="failed generation"):
        open_store(path, require_complete=False)
    # the same configuration refuses at once; a corrected one replaces the failed store
    with pytest.raises(StoreError, match="failed before with this configuration"):
        generate_split(preset, "train", path, progress=False)
    fixed = with_overrides(preset, split="train", duration=0.2 + warmup)
    generate_split(fixed, "train", path, progress=False)
    assert np.isfinite(_frames(path)).all()


# ---------------------------------------------------------------- damaged stores are refused


def _chunk_files(store_path, variable):
    return sorted(p for p in (Path(store_path) / variable / "c").rglob("*") if p.is_file())


@pytest.fixture
def damaged(data, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(data, folder)
    return folder


def _cli_refuses(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize("damage,message", [
    ("delete", "missing 1 of its"),
    ("garbage", "cannot be read"),
    ("nan", "non-finite value (sample 0, time 0)"),
    ("attrs", "attrs disagree with its coordinates"),
])
def test_damaged_stores_are_refused_by_evaluate_train_and_export(damaged, tmp_path, capsys, damage,
                                                                 message):
    for split in ("train", "test"):
        store = damaged / f"{split}.zarr"
        chunk = _chunk_files(store, "u")[0]
        if damage == "delete":
            chunk.unlink()
        elif damage == "garbage":
            chunk.write_bytes(b"garbage")
        elif damage == "nan":
            array = zarr.open_group(str(store), mode="r+")["u"]
            array[0, 0, 0, 0] = np.nan
        else:
            zarr.open_group(str(store), mode="r+").attrs["frame_dt"] = 0.1
    _cli_refuses(capsys, ["evaluate", "--data", str(damaged), "--solver", "dns", "--out",
                          str(tmp_path / "results")], message)
    assert not any((tmp_path / "results").glob("*/summary.json"))
    _cli_refuses(capsys, ["train", "--data", str(damaged), "--out", str(tmp_path / "run"),
                          "--steps", "1", "--batch-size", "2", "--unroll", "2", "--hidden", "4",
                          "--depth", "1", "--no-progress"], message)
    assert not (tmp_path / "run").exists()
    _cli_refuses(capsys, ["export", str(damaged / "test.zarr"), str(tmp_path / "t.nc")], message)
    assert not (tmp_path / "t.nc").exists()


# ---------------------------------------------------------------- spin-up and warm-ups


def test_stores_record_the_end_of_warmup_energy(data, capsys, tmp_path):
    train = open_store(data / "train.zarr")
    energy, enstrophy = train.energy_t0.values, train.enstrophy_t0.values
    assert energy.shape == (2,) and np.all(energy > 0) and np.all(enstrophy > 0)
    # the same train split again (nothing to do): the report reads the store
    assert main(["generate", "--preset", "mini", "--reference-solver", "fv", "--warmup-size",
                 "0", "--out", str(data), "--model-size", "8",
                 "--fine-size", "32", "--initial-sizes", "--samples", "2", "--duration", "0.6",
                 "--warmup", "0.3", "--batch-size", "2", "--time-chunk", "4",
                 "--split", "train", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"energy at t = 0 {energy.mean():.3g}" in out


def _measured_spinup(name):
    """The spin-up times experiments/spinup.py recorded for a preset's default flow."""
    text = (REPO / "experiments" / "results" / f"spinup_{name}.txt").read_text()
    section = text.split("## default")[1].split("\n## ")[0]
    times = [float(line.split("spin-up ")[1].split()[0]) for line in section.splitlines()
             if "spin-up " in line]
    assert len(times) == 2, section  # energy and enstrophy
    return max(times)


@pytest.mark.parametrize("name", ["mini", "quickstart"])
def test_preset_warmups_are_at_least_the_measured_spinup(name):
    preset = get_preset(name)
    spin_up = _measured_spinup(name)
    for split in preset.splits:
        assert preset.split(split).warmup >= spin_up, (split, spin_up)


def test_spinup_script_reports_the_stationary_mean_and_spinup(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("spinup", REPO / "experiments" / "spinup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--preset", "quickstart", "--flows", "default", "decaying", "--seeds", "2",
                 "--duration", "1.0", "--every", "0.25", "--window", "0.5", "--stationary", "0.5"])
    out = capsys.readouterr().out
    assert "energy: stationary mean" in out and "spin-up" in out
    assert "no stationary state" in out


def test_every_split_is_planned_before_any_is_written(tmp_path):
    """A history the test split's warm-up cannot hold is refused before train.zarr exists."""
    preset = with_overrides(tiny_preset(n_samples=1, duration=0.3), warmup=0.1)
    with pytest.raises(ConfigError, match="invalid history=4 for the validation split"):
        generate(preset, tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("threshold", ["nan", "2", "-1"])
def test_a_threshold_outside_zero_one_is_refused(data, tmp_path, capsys, threshold):
    _cli_refuses(capsys, ["evaluate", "--data", str(data), "--solver", "dns", "--out",
                          str(tmp_path / "r"), "--threshold", threshold], "invalid threshold")
    assert not (tmp_path / "r").exists()
