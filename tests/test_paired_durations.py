"""experiments/paired_durations.py: per-sample pairing against a baseline."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "paired_durations.py"


def _load():
    spec = importlib.util.spec_from_file_location("paired_durations", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(folder: Path, durations) -> Path:
    folder.mkdir(parents=True)
    xr.Dataset({"duration_per_sample": ("sample", np.asarray(durations, float))}).to_netcdf(
        folder / "metrics.nc")
    return folder


def test_paired_difference_and_its_standard_error(tmp_path, capsys):
    base = _results(tmp_path / "li", [3.0, 4.0, 5.0, 6.0])
    other = _results(tmp_path / "tsm", [3.5, 4.0, 5.5, 6.0])  # differences 0.5, 0, 0.5, 0
    _load().main(["--baseline", str(base), str(other)])
    rows = {line.split("|")[1].strip(): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "solver" not in line}
    error = np.std([0.5, 0, 0.5, 0], ddof=1) / 2
    assert f"+0.250 ± {error:.3f}" in rows["tsm"]
    assert "+0.000 ± 0.000" in rows["li"]


def test_mismatched_sample_counts_and_missing_folders_are_refused(tmp_path):
    base = _results(tmp_path / "li", [3.0, 4.0])
    other = _results(tmp_path / "tsm", [3.0, 4.0, 5.0])
    with pytest.raises(SystemExit, match="3 samples, the baseline 2"):
        _load().main(["--baseline", str(base), str(other)])
    with pytest.raises(SystemExit, match="not a results folder"):
        _load().main(["--baseline", str(base), str(tmp_path / "missing")])


def test_groups_of_seeds_are_averaged_per_sample_before_pairing(tmp_path, capsys):
    li = [_results(tmp_path / f"li{s}", d)
          for s, d in enumerate([[3.0, 4.0, 5.0], [5.0, 4.0, 3.0]])]
    tsm = [_results(tmp_path / f"tsm{s}", d)
           for s, d in enumerate([[4.0, 5.0, 4.0], [6.0, 5.0, 6.0]])]
    _load().main(["--baseline", ",".join(map(str, li)), ",".join(map(str, tsm))])
    out = capsys.readouterr().out
    # seed means: LI 4, 4, 4; TSM 5, 5, 5 -> every paired difference is exactly 1
    assert "| tsm0+tsm1 | 5.00 5.00 5.00 | 5.000 | +1.000 ± 0.000 |" in out
    bad = _results(tmp_path / "short", [1.0, 2.0])
    with pytest.raises(SystemExit, match="different numbers of samples"):
        _load().main(["--baseline", f"{li[0]},{bad}", str(tsm[0])])


RECIPE = Path(__file__).resolve().parents[1] / "experiments" / "recipe_table.py"


def _scored(folder: Path, per_sample, duration, diverged=0) -> Path:
    _results(folder, per_sample)
    (folder / "summary.json").write_text(
        f'{{"duration_of_mean": {duration}, "diverged_samples": {diverged}, '
        '"reference": "data/test.zarr"}')
    return folder


def test_the_recipe_table_averages_seeds_and_pairs_the_average(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("recipe_table", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _scored(tmp_path / "li", [3.0, 4.0, 5.0], 3.5)
    _scored(tmp_path / "li-seed1", [5.0, 4.0, 3.0], 4.5, diverged=1)
    _scored(tmp_path / "weno", [3.0, 3.0, 3.0], 3.0)
    module.main(["--results", str(tmp_path), "--models", "li", "--seeds", "0", "1",
                 "--baseline", f"WENO={tmp_path / 'weno'}",
                 "--baseline", f"former={tmp_path / 'old' / '{model}'}"])  # absent: "–"
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("| li "))
    # seeds 3.5 and 4.5: mean 4.00, std 0.71; per trajectory 4, 4, 4 -> paired +1 exactly
    assert row == ("| li | 3.50 / 4.50 | 4.00 ± 0.71 | 4.00 ± 0.00 | 0/3 / 1/3 | "
                   "+1.00 ± 0.00 | – |")
