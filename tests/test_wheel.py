"""The built wheel works outside the checkout.

The wheel is built from a copy of the package's files (``pyproject.toml``, the README
and the ``neuralpde`` folder: the build's ``build/`` and ``*.egg-info`` folders then land
in the copy, not in the checkout) with ``pip wheel --no-deps`` (build isolation as a user
gets it: pip fetches the build backend), and installed with ``--no-deps`` into a fresh
virtual environment under ``tmp_path``.  That environment is made with
``--system-site-packages`` so that JAX and the other dependencies come from the
environment running the tests instead of being downloaded again: what is tested is the
wheel's own files (modules, shipped weights, entry point), not dependency resolution.
From a folder outside the checkout, with ``PYTHONPATH`` unset, the installed
``neuralpde`` then prints its version, generates a tiny 32² test store and scores the
shipped ``pretrained:li-mini`` weights on it.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import neuralpde

REPO = Path(__file__).resolve().parents[1]
#: The files of the checkout a wheel is built from, besides the package folder.
BUILD_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in")
#: A 32² store (the shipped weights' grid) of one short trajectory: seconds on a CPU.
TINY_GENERATE = ["generate", "--preset", "quickstart", "--split", "test", "--model-size", "32",
                 "--fine-size", "32", "--initial-sizes", "--samples", "1", "--duration", "0.2",
                 "--warmup", "0.1", "--history", "0", "--batch-size", "1", "--time-chunk", "4",
                 "--no-progress"]

pytestmark = [pytest.mark.slow, pytest.mark.wheel]


def _run(argv, cwd, env, timeout=300):
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, (f"{' '.join(map(str, argv))} exited {done.returncode}:\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _inherit_site_packages(venv_python: Path) -> None:
    """When the tests run in a virtual environment, ``--system-site-packages`` exposes the
    base interpreter's packages, not this environment's: point the new one at them."""
    if sys.prefix == sys.base_prefix:
        return
    site = _run([venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                cwd=venv_python.parent, env=os.environ)
    dirs = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(site.strip()) / "_outer_environment.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs))


def test_the_wheel_works_outside_the_checkout(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO / "neuralpde", source / "neuralpde",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in BUILD_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q",
          "-w", dist, source], cwd=tmp_path, env=env)
    (wheel,) = dist.glob("neuralpde-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"neuralpde/weights/li-mini.npz", "neuralpde/weights/tsm-hippo-mini.npz",
            "neuralpde/cli/__init__.py", "neuralpde/cli/__main__.py"} <= names
    assert not any(n.startswith(("tests/", "data/", "runs/", "results/")) for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv], cwd=tmp_path, env=env)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    _inherit_site_packages(python)
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
          wheel], cwd=tmp_path, env=env)

    work = tmp_path / "work"
    work.mkdir()
    installed = _run([python, "-c", "import neuralpde; print(neuralpde.__file__)"], work, env)
    assert Path(installed.strip()).resolve().is_relative_to(venv.resolve()), installed

    cli = bindir / "neuralpde"
    assert _run([cli, "--version"], work, env).strip() == f"neuralpde {neuralpde.__version__}"
    _run([cli, *TINY_GENERATE, "--out", "data"], work, env)
    assert (work / "data" / "test.zarr").is_dir()
    _run([cli, "evaluate", "--data", "data", "--out", "results", "--solver", "pretrained:li-mini",
          "--samples", "1", "--horizon", "0.2"], work, env)
    summary = json.loads((work / "results" / "pretrained-li-mini" / "summary.json").read_text())
    assert summary["source"].startswith("pretrained:")
    weights = Path(summary["source"].removeprefix("pretrained:")).resolve()
    assert weights.is_relative_to(venv.resolve()) and weights.name == "li-mini.npz"
    assert summary["duration_of_mean"] > 0 and summary["diverged_samples"] == 0
    # installed from a wheel, no checkout: the version alone, no commit
    assert summary["neuralpde_version"] == neuralpde.__version__
    assert summary["neuralpde_git_commit"] == ""
