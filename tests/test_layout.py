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
