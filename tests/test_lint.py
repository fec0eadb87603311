"""The tree is clean under ruff, with the rules configured in pyproject.toml ([tool.ruff])."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    """The ruff of this interpreter (the test extra installs it), else the one on PATH."""
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.skip("ruff is not installed (it comes with the test extra: pip install -e '.[test]')")


def test_the_tree_is_clean_under_ruff():
    result = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"ruff check . (in {REPO}):\n{result.stdout}{result.stderr}"
