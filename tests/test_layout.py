"""The package's layers and their import rules; old run folders and stores still load.

Layers, bottom up (docs/guide.md): base (config; then interrupts, outputs, progress,
sharding) → numerics → physics → models | store → solvers → evaluation → training →
registry → quickstart → cli.  Every import, lazy ones inside functions included, must
point to the importer's own package or a lower layer, and the import graph
must have no circle.
"""

import ast
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "neuralpde"
LEGACY = Path(__file__).resolve().parent / "data" / "legacy_v0.1.tar.gz"

#: Layer of every top-level part of the package (same number: siblings that must not meet).
LAYERS = {
    "neuralpde": 0, "neuralpde.config": 0,
    # base utilities beside config, each may use config (its errors), not one another
    "neuralpde.interrupts": 0.5, "neuralpde.outputs": 0.5, "neuralpde.progress": 0.5,
    "neuralpde.sharding": 0.5,
    "neuralpde.numerics": 1,
    "neuralpde.physics": 2,
    "neuralpde.models": 3, "neuralpde.store": 3,
    "neuralpde.solvers": 4,
    "neuralpde.evaluation": 5,
    "neuralpde.training": 6,
    "neuralpde.registry": 7, "neuralpde.planning": 7,
    "neuralpde.quickstart": 8,
    "neuralpde.cli": 9,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set:
    """Every neuralpde module ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("neuralpde"))
        elif (isinstance(node, ast.ImportFrom) and node.module
              and node.module.startswith("neuralpde")):
            for alias in node.names:  # `from neuralpde.x import y`: y may be a module
                candidate = f"{node.module}.{alias.name}"
                as_path = REPO / Path(*candidate.split("."))
                module = candidate if (as_path.with_suffix(".py").exists()
                                       or (as_path / "__init__.py").exists()) else node.module
                found.add(module)
    return found


def _part(module: str) -> str:
    """The top-level part of the package a module belongs to (a key of LAYERS)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


@pytest.fixture(scope="module")
def graph():
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_every_part_of_the_package_has_a_layer(graph):
    unknown = sorted({_part(m) for m in graph} - set(LAYERS))
    assert unknown == [], f"add these to LAYERS (and docs/guide.md): {unknown}"


def test_imports_point_only_downwards_or_within_a_package(graph):
    upward = []
    for module, imported in graph.items():
        own = _part(module)
        for target in imported:
            other = _part(target)
            if other == own or other == "neuralpde" and target == "neuralpde":
                continue
            if LAYERS[other] >= LAYERS[own]:
                upward.append(f"{module} -> {target}")
    assert upward == [], "imports that do not point to a lower layer:\n" + "\n".join(sorted(upward))


def test_the_import_graph_has_no_circle(graph):
    state, stack, circles = {}, [], []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if state.get(target) == "open":
                circles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert circles == []


def test_only_physics_reaches_jax_cfd(graph):
    """jax-cfd is imported by the adapter only, and the adapter is used inside physics only."""
    direct = sorted(_module_name(p) for p in PACKAGE.rglob("*.py")
                    if "import jax_cfd" in p.read_text() or "from jax_cfd" in p.read_text())
    assert direct == ["neuralpde.physics.jaxcfd"]
    users = sorted(m for m, imported in graph.items() if "neuralpde.physics.jaxcfd" in imported)
    assert users and all(m.startswith("neuralpde.physics.") for m in users), users


def test_a_seeded_upward_import_is_caught(tmp_path):
    """The walker sees lazy imports inside functions (so the two tests above can fail)."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from neuralpde.training.loop import train\n    return train\n")
    assert "neuralpde.training.loop" in _imports(source)


#: The longest a module of the package may be (issue 29: modules of one job).
MAX_MODULE_LINES = 500


def _private_uses(path: Path, module: str) -> list:
    """Private (``_name``) names ``path`` takes from another neuralpde module: imported
    (``from neuralpde.x import _y``) or read as an attribute of an imported module
    (``x._y``)."""
    tree = ast.parse(path.read_text())
    found, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("neuralpde"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (REPO / Path(*candidate.split("."))).with_suffix(".py").exists():
                    modules[alias.asname or alias.name] = candidate
                elif alias.name.startswith("_") and node.module != module:
                    found.append(f"{module} imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("neuralpde") and alias.asname:
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules and node.attr.startswith("_")
                and not node.attr.startswith("__") and modules[node.value.id] != module):
            found.append(f"{module} uses {modules[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_crosses_a_module_border():
    """Shared helpers are public where they belong; a ``_name`` stays in its module."""
    crossing = [use for p in sorted(PACKAGE.rglob("*.py"))
                for use in _private_uses(p, _module_name(p))]
    assert crossing == []


def test_a_seeded_private_import_is_caught(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text("from neuralpde.numerics.weno import _minmod\n"
                      "from neuralpde.physics import dns\nx = dns._hidden\n")
    assert _private_uses(source, "probe") == ["probe imports neuralpde.numerics.weno._minmod",
                                              "probe uses neuralpde.physics.dns._hidden"]


def test_every_module_is_under_the_line_limit():
    long = {_module_name(p): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"split these modules (more than {MAX_MODULE_LINES} lines): {long}"


# ---------------------------------------------------------------- old run folders and stores


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """Tiny runs (LI, TSM-HiPPO, staggered) and stores written by the pre-redesign code."""
    root = tmp_path_factory.mktemp("legacy")
    with tarfile.open(LEGACY) as archive:
        archive.extractall(root, filter="data")
    return root


def test_old_run_records_are_read_in_the_current_format(legacy):
    from neuralpde.training.runs import RUN_FORMAT, read_record

    kinds = {}
    for name in ("li", "tsm-hippo", "stagger"):
        raw = json.loads((legacy / "runs" / name / "run.json").read_text())
        assert "format" not in raw and "kind" not in raw  # really the old format
        record = read_record(legacy / "runs" / name)
        assert record["format"] == RUN_FORMAT and record["model_size"] == 8
        kinds[name] = record["kind"]
    assert kinds == {"li": "li", "tsm-hippo": "tsm-hippo", "stagger": "stagger"}


@pytest.mark.slow
def test_old_runs_and_store_score_as_the_old_code_did(legacy, tmp_path):
    """Every old run loads through `run:` and reproduces the old code's results."""
    from neuralpde.cli import main

    expected = json.loads((legacy / "expected.json").read_text())
    runs = legacy / "runs"
    out = tmp_path / "results"
    names = [f"run:{runs / 'li'}", f"run:{runs / 'tsm-hippo'}", "dns", "dns-16", "weno5-z",
             f"run:{runs / 'stagger'}", f"run:{runs / 'stagger'}#coarse"]
    argv = ["evaluate", "--data", str(legacy / "data"), "--out", str(out)]
    for name in names:
        argv += ["--solver", name]
    assert main(argv) == 0
    for solver, want in expected.items():
        summary = json.loads((out / solver / "summary.json").read_text())
        assert summary["duration_of_mean"] == pytest.approx(want["duration_of_mean"], abs=1e-12)
        if "u" in want:  # the old code's predicted frames (every 7th value)
            assert summary["steps_per_frame"] == want["steps_per_frame"]
            traj = xr.open_zarr(out / solver / "trajectory.zarr", consolidated=False)
            np.testing.assert_allclose(np.asarray(traj.u.values, float).ravel()[::7], want["u"],
                                       rtol=1e-5, atol=1e-6)
        else:  # the old stagger-evaluate --coarse: curves against the same sub-field
            assert summary["compared_on"] == "sub-field (1, 1) of the model grid, 4²"
            metrics = xr.open_dataset(out / solver / "metrics.nc")
            np.testing.assert_allclose(metrics.correlation_mean.values, want["correlation"],
                                       atol=1e-5)
            np.testing.assert_allclose(metrics.relative_l2.mean("sample").values,
                                       want["relative_l2"], atol=1e-5)
    assert main(["compare", "--results", str(out), "--times", "0", "0.2"]) == 0
    table = (out / "comparison.md").read_text()
    assert "| stagger " in table and "stagger-sub11-4" in table
    assert "Compared with another view of the reference" in table
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "correlation.png", "pareto.png", "snapshots.png", "spectra.png"]


def test_an_interrupted_evaluation_is_not_tabled(legacy, tmp_path):
    """A `<solver>.writing` folder left by a killed evaluate is not read by compare."""
    from neuralpde.evaluation.compare import load_results

    out = tmp_path / "results"
    for name in ("dns-8", "dns-8.writing"):
        (out / name).mkdir(parents=True)
        (out / name / "summary.json").write_text(json.dumps(
            {"solver": "dns-8", "kind": "dns", "size": 8, "duration_of_mean": 0.3}))
    assert [Path(r["results_path"]).name for r in load_results(out)] == ["dns-8"]
    shutil.rmtree(out)


#: The ``train_config`` of a ``run.json`` of format 2 as the code before the per-kind model
#: configs wrote it, less its model: one ``ModelConfig`` for LI and TSM whose
#: ``architecture`` named the kind (LI's and TSM-CNN's carrying the fields they ignored).
OLD_TRAIN_CONFIG = {
    "b1": 0.9, "b2": 0.98, "batch_size": 8, "checkpoint_every": 100, "clip_norm": 0.25,
    "eps": 1e-08, "keep_last": 3, "kind": "TrainConfig", "log_every": 10, "loss": "mse",
    "optimizer": "adamw", "peak_lr": 0.001, "remat": False, "seed": 0, "steps": 1000,
    "train_trajectories": 0, "unroll": 2, "validate_every": 250, "validation_horizon": 8.0,
    "validation_samples": 2, "warmup_fraction": 0.05, "weight_decay": 0.0001}
_OLD_MODEL = {"bundle": 4, "decompose": 1, "depth": 1, "feature_norm": "none", "hidden": 4,
              "hippo_measure": "legt", "hippo_order": 8, "hippo_theta": 16.0,
              "input_scale": 0.1, "kernel": 3, "kind": "ModelConfig", "limiter": True,
              "order": 1, "prefix": 32}
#: Per kind: the old model dict, and the sum, absolute sum and every-17th-value sum of the
#: velocity its solver (initial weights, seed 0) gives after two steps from
#: ``normal(PRNGKey(1), (K, 2, 8, 8)) * 0.5`` on the 8² Kolmogorov flow, as the old code
#: computed them.
OLD_MODELS = {
    "li": ({**_OLD_MODEL, "architecture": "li"},
           [-0.8074506229604594, 39.226370528980624, -1.3363949116319418]),
    "tsm-hippo": ({**_OLD_MODEL, "architecture": "tsm-hippo", "bundle": 2, "hippo_order": 4,
                   "feature_norm": "rms", "prefix": 3},
                  [-4.008392074407311, 35.872037091088714, 0.26982827484607697]),
    "tsm-cnn": ({**_OLD_MODEL, "architecture": "tsm-cnn", "bundle": 1, "prefix": 3},
                [-4.053747878642753, 34.568708456354216, 0.2938182167708874]),
}


def test_old_model_configs_load_into_their_kinds_and_give_the_same_solver():
    """A format-2 record's ``ModelConfig`` becomes its kind's config (every field the kind
    reads kept) and rebuilds the solver the old code built; written again, it is tagged."""
    import dataclasses

    import jax

    from neuralpde.config import to_dict
    from neuralpde.physics.flows import KolmogorovFlow
    from neuralpde.training.kinds import KINDS
    from neuralpde.training.runs import run_config, solver_from_record

    def two_steps(solver):
        k = max(getattr(solver, "history_frames", 0), 1)
        uv = jax.random.normal(jax.random.PRNGKey(1), (k, 2, 8, 8)) * 0.5
        state = solver.init(uv if getattr(solver, "history_frames", 0) else uv[-1])
        for _ in range(2):
            state = jax.jit(solver.step)(state)
        return np.asarray(solver.velocity(state), np.float64)

    for kind, (model, sums) in OLD_MODELS.items():
        record = {"format": 2, "kind": kind, "flow": to_dict(KolmogorovFlow()), "model_size": 8,
                  "preset": "mini", "data": None, "generation_key": "",
                  "train_config": {**OLD_TRAIN_CONFIG, "model": model}}
        if kind == "tsm-hippo":
            record["feature_scale"] = [0.5 + 0.1 * i for i in range(8)]
        config = run_config(record)
        assert type(config.model) is KINDS[kind].model_config and config.kind == kind
        assert {f.name: getattr(config.model, f.name)
                for f in dataclasses.fields(config.model)} == {
            name: value for name, value in model.items()
            if name in {f.name for f in dataclasses.fields(config.model)}}
        out = two_steps(solver_from_record(record))
        np.testing.assert_allclose([out.sum(), np.abs(out).sum(), out.ravel()[::17].sum()], sums,
                                   rtol=1e-5, atol=1e-5)
        written = json.loads(config.to_json())["model"]
        assert written["kind"] == type(config.model).__name__ and "architecture" not in written
        again = {**record, "train_config": json.loads(config.to_json())}
        assert run_config(again) == config
        np.testing.assert_array_equal(two_steps(solver_from_record(again)), out)
    # a field no kind ever had is still refused
    bad = {**OLD_TRAIN_CONFIG, "model": {**_OLD_MODEL, "architecture": "li", "bogus": 1}}
    with pytest.raises(ValueError, match=r"unknown ModelConfig field\(s\) \['bogus'\]"):
        run_config({"train_config": bad})
