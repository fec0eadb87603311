"""The one-command GPU check (experiments/gpu_check.py) runs every stage at a tiny size on CPU."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_runs_every_stage_at_a_tiny_size(tmp_path):
    out = tmp_path / "check.txt"
    done = subprocess.run([sys.executable, "experiments/gpu_check.py", "--tiny", "--out", str(out),
                           "--device-class", "h100"], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for heading in ("## 1. Generation", "## 2. DNS-resolution", "## 3. The paper training",
                    "## 4. TSM-HiPPO"):
        assert heading in text
    assert "[exit" not in text and "skipped" not in text, text
    assert "pipeline / plain (median of 1)" in text and "measured/roofline = " in text
    assert "dns-16     duration " in text and "dns-8      duration " in text
    assert "reference: 32² DNS downsampled to 8²" in text
    assert "(--tiny: the update without remat is not run)" in text
    assert "(--tiny: multiply-add counts only, no timing)" in text
    assert "remat on : batch 2, unroll 2: first call" in text and "planner " in text
    assert "network multiply-adds per cell and model step" in text
