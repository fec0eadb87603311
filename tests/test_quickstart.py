"""The quickstart job end to end at a tiny size: every stage, the report, and reuse on re-run."""

import dataclasses
import shutil

from conftest import tiny_preset
from neuralpde.config import with_fields
from neuralpde.quickstart import run_quickstart
from neuralpde.training.config import get_train_preset


def test_quickstart_writes_the_report_and_reuses_it(tmp_path):
    preset = tiny_preset(n_samples=2, duration=0.6)
    preset = dataclasses.replace(preset, test=dataclasses.replace(preset.test, save_every=2),
                                 validation=dataclasses.replace(preset.validation, save_every=2))
    config = with_fields(get_train_preset("quickstart", "tsm-hippo"), steps=3, hidden=4,
                         depth=1, unroll=2, batch_size=2, prefix=4, bundle=2, hippo_order=4,
                         checkpoint_every=3, validation_horizon=0.2)
    lines = []
    kwargs = dict(preset=preset, train_config=config, baselines=("dns", "weno5-z"),
                  models=("tsm-hippo",), progress=False, log=lines.append)
    result = run_quickstart(tmp_path, **kwargs)
    results = tmp_path / "results"
    assert {"dns-8", "weno5-z-8", "tsm-hippo"} <= {p.name for p in results.iterdir()}
    assert "| tsm-hippo" in result.comparison.markdown and "| dns-8" in result.comparison.markdown
    assert ((results / "comparison.md").exists()
            and (results / "figures" / "correlation.png").exists())
    assert result.banner.startswith("DEMONSTRATION: the rows tsm-hippo were trained here at "
                                       "quickstart budgets (2 training trajectories of 0.6 "
                                       "time units, 3 updates of a 1 x 4 tower)")
    assert "pretrained-*" not in result.banner  # skipped on this grid
    assert any(line.startswith("[5/5] compare") for line in lines)
    # the shipped mini weights run on 32² Kolmogorov data only: skipped on the 8² grid
    from neuralpde.quickstart import PRETRAINED

    assert sum("skipped: they were trained on a 32² grid, the store has 8²" in line
               for line in lines) == len(PRETRAINED) == 3
    assert not any(p.name.startswith("pretrained-") for p in results.iterdir())
    # a second run reuses the data, the training run and every evaluation
    stamps = {p: p.stat().st_mtime_ns for p in results.glob("*/summary.json")}
    run_quickstart(tmp_path, **kwargs)
    assert stamps == {p: p.stat().st_mtime_ns for p in results.glob("*/summary.json")}
    # a test store regenerated in place makes every score stale: each is made again
    shutil.rmtree(tmp_path / "data" / "test.zarr")
    run_quickstart(tmp_path, **kwargs)
    assert all(p.stat().st_mtime_ns > stamps[p] for p in stamps), stamps
