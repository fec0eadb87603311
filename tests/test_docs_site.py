"""The documentation site builds with ``mkdocs build --strict``: no broken link, no bad docstring.

``mkdocs.yml`` (at the repository root) turns every broken link or anchor between the
pages into a warning, and the API reference's Griffe extension
(``docs/_ext/griffe_sphinx.py``) turns a docstring reference to a name the package does
not have into an unresolved cross-reference; ``--strict`` fails on any warning, and so
does this test, which prints mkdocs' own report.  The site is written into a temporary
folder, never into the checkout.  Skipped only where mkdocs is not installed (the
``docs`` extra: ``pip install -e ".[docs]"``, which ``.ci/run`` installs); with mkdocs but
a plugin missing, the build fails and says which.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None,
                    reason='mkdocs is not installed: pip install -e ".[docs]" (the docs extra)')
def test_the_documentation_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(REPO / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    report = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                       if not line.startswith("INFO"))
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{report}"
    # the chapters, the API reference of every package and the four notebooks are there
    pages = {p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")}
    assert {"guide", "store", "solvers", "training", "tsm", "stagger", "scaling"} <= pages
    assert {f"api/{name}" for name in ("core", "numerics", "physics", "models", "store", "solvers",
                                       "evaluation", "training", "registry")} <= pages
    notebooks = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    assert notebooks and {f"notebooks/{Path(n).stem}" for n in notebooks} <= pages
    api = (site / "api" / "store" / "index.html").read_text()
    assert 'id="neuralpde.store.reading.open_store"' in api  # a public name has its entry
    assert ":func:`" not in api  # Sphinx roles became links
