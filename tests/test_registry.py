"""Unit tests of :mod:`neuralpde.registry`: solver names, their solvers, sources and results names.

Covers :func:`~neuralpde.registry.make_solver` for every name scheme it accepts: the
classical names (``dns``, ``dns-N``, ``weno5-js[-N]``, ``weno5-z[-N]``,
``spectral[-N]``) and what a solver built from them exposes (name, kind, grid, time
step, the shapes its ``init``/``velocity`` take and give); ``pretrained:<name>`` and
``pretrained:<file.npz>`` (the grid check, ``transfer``, the results name made from
the file's stem); ``run:<folder>`` and its ``#coarse`` suffixes (the errors reachable
without a trained run); the :class:`~neuralpde.config.ConfigError` for an unknown
name or a bad grid, naming the bad name and what is accepted.  Then
:func:`~neuralpde.registry.solver_source` (``run:``, ``pretrained:``, ``file:`` and
classical names to one canonical source each) and the refusals of
:func:`~neuralpde.registry.evaluate` that come before any rollout: an unknown name
among good ones, two solvers that would share a results folder, a ``file:`` rollout
that does not exist, an output folder that is the data folder or holds something
else.  The store is a tiny test split written with the package's schema writers
(random values: nothing here rolls a solver out).
"""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import tiny_preset
from neuralpde.config import ConfigError, UserInputError
from neuralpde.registry import RUN_PREFIX, evaluate, make_solver, solver_source
from neuralpde.solvers.names import parse_solver_name, run_name
from neuralpde.store.reading import open_store
from neuralpde.store.schema import (
    StoreError,
    StoreLayout,
    create_store,
    mark_complete,
    write_frames,
    write_history,
    write_initial,
)

N, STORED, FINE = 8, 16, 32
WEIGHTS = Path(__file__).resolve().parents[1] / "neuralpde" / "weights"
SHIPPED = sorted(p.stem for p in WEIGHTS.glob("*.npz"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data folder holding a tiny ``test.zarr``: 8² model grid, 32² reference grid, initial
    states also stored on 16², random values."""
    preset = tiny_preset(n_samples=2)
    frame_dt = preset.dt_model * preset.test.save_every
    n_frames = round(preset.test.duration / frame_dt) + 1
    layout = StoreLayout(n_samples=2, n_frames=n_frames, size=N,
                         domain_size=preset.flow.domain_size, frame_dt=frame_dt, sample_chunk=2,
                         time_chunk=4, initial_sizes=(STORED,), history_frames=2,
                         dt_model=preset.dt_model)
    attrs = {"preset": preset.name, "split": "test", "model_size": N, "fine_size": FINE,
             "config_json": json.dumps({"preset": json.loads(preset.to_json()), "split": "test"}),
             "dt_model": preset.dt_model, "save_every": preset.test.save_every,
             "frame_dt": frame_dt, "seed": 0, "n_samples": 2,
             "domain_size": preset.flow.domain_size}
    folder = tmp_path_factory.mktemp("registry_data")
    path = folder / "test.zarr"
    create_store(path, layout, attrs)
    rng = np.random.default_rng(0)
    write_frames(path, 0, 0, rng.standard_normal((2, n_frames, 2, N, N)).astype(np.float32))
    write_initial(path, STORED, 0, rng.standard_normal((2, 2, STORED, STORED)).astype(np.float32))
    write_history(path, 0, rng.standard_normal((2, 2, 2, N, N)).astype(np.float32))
    mark_complete(path)
    return folder


@pytest.fixture(scope="module")
def store(data_dir):
    return open_store(data_dir / "test.zarr")


@pytest.fixture(scope="module")
def flow():
    return tiny_preset().flow


def cfl_step(flow, size):
    """The explicit CFL time step of an N² grid, ``courant * (L/N) / max_velocity``."""
    return flow.courant * flow.domain_size / size / flow.max_velocity


@pytest.mark.parametrize(("name", "results", "kind", "size"), [
    ("dns", f"dns-{N}", "dns", N),
    ("dns-16", "dns-16", "dns", 16),
    ("dns-32", "dns-32", "dns", 32),
    ("weno5-js", f"weno5-js-{N}", "weno", N),
    ("weno5-js-16", "weno5-js-16", "weno", 16),
    ("weno5-z", f"weno5-z-{N}", "weno", N),
    ("weno5-z-16", "weno5-z-16", "weno", 16),
])
def test_finite_volume_names_give_their_scheme_on_their_grid(store, flow, name, results, kind,
                                                             size):
    solver = make_solver(name, store)
    assert (solver.name, solver.kind, solver.size) == (results, kind, size)
    assert solver.dt == pytest.approx(cfl_step(flow, size), rel=1e-6)
    assert solver.flow == flow
    assert solver_source(name, solver) == results  # one spelling per solver
    uv = np.random.default_rng(1).standard_normal((2, size, size)).astype(np.float32)
    state = solver.init(uv)
    np.testing.assert_array_equal(np.asarray(solver.velocity(state)), uv)  # state: the velocity


@pytest.mark.parametrize(("name", "size"), [("spectral", N), ("spectral-16", 16),
                                            ("spectral-32", 32)])
def test_spectral_names_start_from_the_finest_stored_state_and_report_on_the_model_grid(
        store, name, size):
    solver = make_solver(name, store)
    assert (solver.name, solver.kind, solver.size) == (f"spectral-{size}", "spectral", size)
    assert solver.input_size == STORED and solver.observed_size == N
    assert 0 < solver.dt <= make_solver("dns", store).dt + 1e-12
    uv = np.zeros((2, STORED, STORED), np.float32)
    uv[0] = 1.0  # a uniform flow in x: its face averages on any grid are 1 and 0
    velocity = np.asarray(solver.velocity(solver.init(uv)))
    assert velocity.shape == (2, N, N)
    np.testing.assert_allclose(velocity, np.stack([np.ones((N, N)), np.zeros((N, N))]),
                               atol=1e-5)


ACCEPTED = ["dns[-N]", "weno5-js[-N]", "weno5-z[-N]", "spectral[-N]", "run:", "pretrained:",
            "file:"]


@pytest.mark.parametrize("name", ["lbm", "DNS", "dns-", "dns-x", "weno5", "weno5-js-16x",
                                  "spectral-", "", "fno:model"])
def test_an_unknown_name_is_refused_naming_it_and_what_is_accepted(store, name):
    with pytest.raises(ConfigError) as caught:
        make_solver(name, store)
    message = str(caught.value)
    assert f"unknown solver {name!r}" in message
    for form in ACCEPTED:
        assert form in message, form


@pytest.mark.parametrize(("name", "reason"), [
    ("dns-12", f"invalid grid 12 in solver 'dns-12': accepted a multiple of the model grid {N}"),
    ("weno5-z-4", f"invalid grid 4 in solver 'weno5-z-4': accepted a multiple of the model "
                  f"grid {N}"),
    ("spectral-34", f"invalid grid 34 in solver 'spectral-34': accepted an even N from 8 up to "
                    f"the store's reference grid {FINE}"),
    ("spectral-7", "invalid spectral grid 7: accepted an even number of cells per side >= 8"),
    ("spectral-6", "invalid spectral grid 6: accepted an even number of cells per side >= 8"),
])
def test_a_grid_the_scheme_cannot_run_on_is_refused(store, name, reason):
    with pytest.raises(ConfigError) as caught:
        make_solver(name, store)
    assert reason in str(caught.value)


def test_a_shipped_pretrained_name_is_refused_on_another_grid_without_transfer(store):
    assert SHIPPED == ["li-mini", "tsm-cnn-mini", "tsm-hippo-mini"]
    with pytest.raises(ConfigError) as caught:
        make_solver("pretrained:li-mini", store)
    message = str(caught.value)
    assert f"trained on a 32² grid, the store has {N}²" in message and "--transfer" in message


def test_a_pretrained_name_with_transfer_runs_the_shipped_weights_on_the_store(store, flow):
    solver = make_solver("pretrained:li-mini", store, transfer=True)
    assert (solver.name, solver.kind, solver.size) == ("pretrained-li-mini", "learned", N)
    assert solver.dt == pytest.approx(cfl_step(flow, N), rel=1e-6)
    with np.load(WEIGHTS / "li-mini.npz") as shipped:
        arrays = [shipped[key] for key in shipped.files if key != "__meta__"]
    leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(solver.params)]
    assert sorted(a.size for a in leaves) == sorted(a.size for a in arrays)
    assert sum(float(a.sum()) for a in leaves) == pytest.approx(
        sum(float(a.sum()) for a in arrays), rel=1e-6)  # the shipped values, not fresh ones
    uv = np.random.default_rng(2).standard_normal((2, N, N)).astype(np.float32)
    assert np.asarray(solver.velocity(solver.init(uv))).shape == (2, N, N)


def test_a_temporal_pretrained_model_takes_its_history_prefix(store, flow):
    solver = make_solver("pretrained:tsm-hippo-mini", store, transfer=True)
    with np.load(WEIGHTS / "tsm-hippo-mini.npz") as shipped:
        model = json.loads(str(shipped["__meta__"]))["record"]["train_config"]["model"]
    assert solver.name == "pretrained-tsm-hippo-mini" and solver.size == N
    assert solver.history_frames == model["prefix"]  # init takes (prefix, 2, N, N)
    assert solver.dt == pytest.approx(model["bundle"] * cfl_step(flow, N), rel=1e-6)


def test_a_weights_file_gives_a_results_name_from_its_stem(store, tmp_path):
    path = tmp_path / "my weights#1.npz"
    shutil.copy(WEIGHTS / "li-mini.npz", path)
    solver = make_solver(f"pretrained:{path}", store, transfer=True)
    assert solver.name == "pretrained-my_weights_1"  # a safe folder name
    assert solver_source(f"pretrained:{path}", solver) == f"pretrained:{path.resolve()}"


@pytest.mark.parametrize("name", ["nope", "li-mini.npz", "li_mini", "missing.npz"])
def test_an_unknown_pretrained_name_is_refused_listing_the_shipped_ones(store, name):
    with pytest.raises(ConfigError) as caught:
        make_solver(f"pretrained:{name}", store)
    message = str(caught.value)
    assert f"pretrained weights {name!r}" in message and str(SHIPPED) in message


def test_a_coarse_suffix_is_refused_on_weights(store, tmp_path):
    path = tmp_path / "w.npz"
    shutil.copy(WEIGHTS / "li-mini.npz", path)
    with pytest.raises(ConfigError, match="a '#' suffix is not accepted for weights files"):
        make_solver(f"pretrained:{path}#coarse", store)


def test_a_run_name_without_a_run_folder_is_refused_naming_the_folder(store, tmp_path):
    folder = tmp_path / "no-run"
    for name in (f"run:{folder}", f"run:{folder}#coarse", f"run:{folder}#coarse=1,0"):
        with pytest.raises(ConfigError) as caught:
            make_solver(name, store)
        assert f"{folder} is not a training run folder (no run.json)" in str(caught.value)


@pytest.mark.parametrize("suffix", ["#fine", "#coarse=1", "#coarse=a,b", "#coarse=1,2,3",
                                    "#coarse1,1"])
def test_an_unknown_run_suffix_is_refused(store, tmp_path, suffix):
    name = f"run:{tmp_path / 'run'}{suffix}"
    with pytest.raises(ConfigError) as caught:
        make_solver(name, store)
    message = str(caught.value)
    assert f"invalid solver {name!r}: the part after '#' is not a known suffix" in message
    assert "run:<folder>#coarse=a,b" in message


def test_a_run_folder_with_a_hash_in_its_name_is_a_folder(store, tmp_path):
    folder = tmp_path / "odd#name"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is not a training run folder"):
        make_solver(f"run:{folder}", store)
    (folder / "run.json").write_text("{ not json")
    with pytest.raises(ConfigError, match="is not a readable run record"):
        make_solver(f"run:{folder}", store)


def test_solver_source_names_one_canonical_source(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert RUN_PREFIX == "run:"
    assert solver_source("run:runs/li") == f"run:{tmp_path / 'runs' / 'li'}"
    assert solver_source("run:runs/set#coarse=1,0") == f"run:{tmp_path / 'runs' / 'set'}#coarse=1,0"
    assert solver_source("file:out/fno.nc") == f"file:{tmp_path / 'out' / 'fno.nc'}"
    assert solver_source("pretrained:li-mini") == f"pretrained:{WEIGHTS / 'li-mini.npz'}"
    assert solver_source("dns") == "dns"  # without the solver: the name as given
    assert solver_source("dns-16") == "dns-16"


def test_evaluate_resolves_every_name_before_the_first_rollout(data_dir, tmp_path):
    out = tmp_path / "results"
    with pytest.raises(ConfigError, match="unknown solver 'lbm'"):
        evaluate(["dns", "lbm"], data_dir, out)
    assert not (out / f"dns-{N}").exists()


def test_evaluate_refuses_two_solvers_sharing_a_results_folder(data_dir, tmp_path):
    copy = tmp_path / "elsewhere" / "li-mini.npz"
    copy.parent.mkdir()
    shutil.copy(WEIGHTS / "li-mini.npz", copy)
    out = tmp_path / "results"
    with pytest.raises(ConfigError) as caught:
        evaluate(["pretrained:li-mini", f"pretrained:{copy}"], data_dir, out, transfer=True)
    message = str(caught.value)
    assert "would share a results folder" in message and "pretrained-li-mini" in message
    assert str(copy.resolve()) in message
    assert not (out / "pretrained-li-mini").exists()


def test_evaluate_refuses_a_rollout_file_that_does_not_exist(data_dir, tmp_path):
    missing = tmp_path / "fno.nc"
    with pytest.raises(UserInputError, match=f"rollout file {missing} does not exist"):
        evaluate([f"file:{missing}"], data_dir, tmp_path / "results")


def test_evaluate_refuses_an_output_folder_it_would_damage(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="is or contains the data folder"):
        evaluate(["dns"], data_dir, data_dir)
    out = tmp_path / "results"
    (out / f"dns-{N}").mkdir(parents=True)
    (out / f"dns-{N}" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"is not a results folder written by neuralpde "
                                          r"\(it holds files neuralpde did not write \(notes.txt"):
        evaluate(["dns"], data_dir, out)
    assert (out / f"dns-{N}" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / f"dns-{N}").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("name", "scheme", "target", "coarse"), [
    ("dns-64", "classical", "dns-64", None),
    ("run:runs/li", "run", "runs/li", None),
    ("run:runs/s#coarse", "run", "runs/s", ()),
    ("run:runs/s#coarse=1,0", "run", "runs/s", (1, 0)),
    ("pretrained:li-mini", "pretrained", "li-mini", None),
    ("file:out/fno.nc", "file", "out/fno.nc", None),
])
def test_the_name_table_parses_every_scheme(name, scheme, target, coarse):
    parsed = parse_solver_name(name)
    assert (parsed.scheme, parsed.target, parsed.coarse) == (scheme, target, coarse)
    if scheme == "run":
        assert run_name(target, coarse) == name  # written back as it was read
    assert parsed.prefix + parsed.target == (name if coarse is None else parsed.prefix + target)


def test_a_rollout_file_is_not_a_solver_to_make(store):
    with pytest.raises(ConfigError, match="a file name is not a solver to run"):
        make_solver("file:out/fno.nc", store)


def test_evaluate_refuses_a_missing_initial_grid_before_the_first_rollout(data_dir, tmp_path):
    """dns-24 starts from a 24² state this store does not hold: refused before dns runs."""
    out = tmp_path / "results"
    with pytest.raises(StoreError, match="24"):
        evaluate(["dns", "dns-24"], data_dir, out)
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_refuses_a_solver_given_twice_and_a_bare_string(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="given twice"):
        evaluate(["dns", f"dns-{N}"], data_dir, tmp_path / "results")
    with pytest.raises(ConfigError, match=r"accepted a list of solver names \(\['dns'\]"):
        evaluate("dns", data_dir, tmp_path / "results")


@pytest.mark.parametrize("name", ["run:", "pretrained:", "file:", "run:#coarse"])
def test_a_scheme_with_nothing_after_it_is_refused(name):
    with pytest.raises(ConfigError, match=f"invalid solver {name!r}: nothing after"):
        parse_solver_name(name)


def test_evaluate_names_an_unknown_preset(data_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown preset 'nosuch': accepted \["):
        evaluate(["dns"], data_dir, tmp_path / "results", preset="nosuch")
