"""The notebooks run top to bottom at a small size (outputs are stripped in git)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SMALL = {"NEURALPDE_NOTEBOOK_N": "32", "NEURALPDE_NOTEBOOK_GRID": "16", "MPLBACKEND": "Agg"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch, tmp_path):
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        f"{path.name} has outputs committed: strip them"
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", [])
              if o.output_type == "error"]
    assert not errors
