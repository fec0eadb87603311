"""Tests of neuralpde.evaluation.compare and neuralpde.plots on a fake results folder."""

import json
import math

import numpy as np
import pytest
import xarray as xr

from neuralpde.evaluation import compare as cmp
from neuralpde.evaluation.figure_inputs import snapshot_fields
from neuralpde.evaluation.metrics import compute_metrics

N, N_SAMPLES, N_FRAMES, FRAME_DT = 8, 2, 5, 0.5


def _trajectory(seed: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    dx = 2 * np.pi / N
    shape = (N_SAMPLES, N_FRAMES, N, N)
    dims = ("sample", "time", "x", "y")
    return xr.Dataset(
        {"u": (dims, rng.standard_normal(shape).astype(np.float32)),
         "v": (dims, rng.standard_normal(shape).astype(np.float32))},
        coords={"sample": np.arange(N_SAMPLES), "time": np.arange(N_FRAMES) * FRAME_DT,
                "x": (np.arange(N) + 0.5) * dx, "y": (np.arange(N) + 0.5) * dx},
    )


ROWS = [  # solver, kind, size, duration_of_mean, latency
    ("dns_32", "dns", 32, 1.0, 1.0),
    ("dns_64", "dns", 64, 2.0, 4.0),
    ("dns_128", "dns", 128, 4.0, 16.0),
    ("li", "learned", 32, 3.0, 2.0),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    ref = _trajectory(0)
    ref_path = root / "test.zarr"
    ref.to_zarr(ref_path, mode="w", consolidated=False)
    for i, (name, kind, size, duration, latency) in enumerate(ROWS):
        folder = root / name
        folder.mkdir()
        summary = {
            "solver": name, "kind": kind, "size": size, "model_size": N, "preset": "mini",
            "n_samples": N_SAMPLES, "threshold": 0.8, "horizon": 20.0,
            "duration_of_mean": duration, "duration_mean": duration, "duration_std": 0.1,
            "duration_min": duration - 0.1, "duration_max": duration + 0.1,
            "latency_s_per_time_unit": latency, "device": "cpu", "diverged_samples": 0,
            "diverged_times": [None, None], "dt": 0.01, "steps_per_frame": 8,
            "reference": str(ref_path),
        }
        (folder / "summary.json").write_text(json.dumps(summary))
        pred = _trajectory(i + 1)
        pred.to_zarr(folder / "trajectory.zarr", mode="w", consolidated=False)
        compute_metrics(pred, ref).to_netcdf(folder / "metrics.nc")
    return root


def _rows(**durations):
    rows = [dict(solver=n, kind=k, size=s, duration_of_mean=d, latency_s_per_time_unit=lat)
            for n, k, s, d, lat in ROWS]
    for row in rows:
        row["duration_of_mean"] = durations.get(row["solver"], row["duration_of_mean"])
    return rows


def test_equivalent_resolution_and_speedup():
    rows = {r["solver"]: r for r in cmp.equivalent_dns(_rows())}
    li = rows["li"]
    assert li["equivalent_dns_resolution"] == pytest.approx(2 ** (math.log2(64) + 0.5))  # ≈ 90.5
    assert li["equivalent_dns_note"] is None
    # the DNS ladder lasts 3.0 at cost 8 (halfway in log cost between 4 and 16); li costs 2
    fair = {r["solver"]: r for r in cmp.fair_comparison(_rows())}
    assert fair["li"]["speedup_vs_dns"] == pytest.approx(4.0)
    for name, size in (("dns_32", 32), ("dns_64", 64), ("dns_128", 128)):
        assert rows[name]["equivalent_dns_resolution"] == pytest.approx(size)
        assert fair[name]["speedup_vs_dns"] == pytest.approx(1.0)


@pytest.mark.parametrize("duration, note", [(0.5, "< 32"), (5.0, "> 128")])
def test_out_of_range_duration(duration, note):
    li = cmp.equivalent_dns(_rows(li=duration))[-1]
    assert li["equivalent_dns_resolution"] is None
    assert li["equivalent_dns_note"] == note


def test_non_increasing_dns_uses_running_maximum():
    rows = _rows(dns_64=0.5, li=2.5)  # DNS durations 1.0, 0.5, 4.0 -> curve 1, 1, 4
    li = cmp.equivalent_dns(rows)[-1]
    # 2.5 lies halfway between 1 (at 64) and 4 (at 128) in duration
    assert li["equivalent_dns_resolution"] == pytest.approx(2 ** 6.5)
    li = cmp.equivalent_dns(_rows(dns_64=0.5, li=1.0))[-1]
    assert li["equivalent_dns_resolution"] == pytest.approx(32)  # smallest grid reaching it


def test_compare_writes_table_and_figures(results, tmp_path):
    import matplotlib.image

    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="4.0"):  # 4.0 is past the last frame (2.0)
        result = cmp.compare(results, out_dir=out)

    md = (out / "comparison.md").read_text()
    assert md == result.markdown
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert "solver" in table[0] and "equivalent DNS" in table[0]
    assert set(table[1]) <= set("|-: ")
    assert len(table) == 2 + len(ROWS)
    assert ([line.split("|")[1].strip() for line in table[2:]]
            == ["dns_32", "dns_64", "dns_128", "li"])
    li_cells = [c.strip() for c in table[-1].split("|")[1:-1]]
    assert li_cells[cmp.TABLE_COLUMNS.index("equivalent DNS")] == "90.5"
    header = [c.strip() for c in table[0].split("|")[1:-1]]
    assert li_cells[header.index("speed-up vs dns")] == "4"

    csv = (out / "comparison.csv").read_text().splitlines()
    assert len(csv) == 1 + len(ROWS) and csv[0].startswith("solver,kind,grid")

    assert set(result.figures) == {"correlation", "snapshots", "spectra", "pareto"}
    for name in ("correlation", "snapshots", "spectra", "pareto"):
        png = out / "figures" / f"{name}.png"
        assert result.figures[name] == png
        assert png.stat().st_size > 0
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 100 and image.shape[1] > 100
    assert not list(out.rglob("*.tmp"))
    assert not (results / "comparison.md").exists()  # out_dir respected


def test_snapshots_snap_to_frames(results):
    rows = cmp.load_results(results)
    fields, times, _ = snapshot_fields(rows, results, (0.1, 0.9, 1.1))
    assert times == [0.0, 1.0]  # 0.9 and 1.1 both snap to frame 1.0, kept once
    assert list(fields)[0] == "reference"
    assert all(f.shape == (2, N, N) and np.isfinite(f).all() for f in fields.values())


def test_load_results_order_and_errors(results, tmp_path):
    rows = cmp.load_results(results)
    assert [r["solver"] for r in rows] == ["dns_32", "dns_64", "dns_128", "li"]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        cmp.load_results(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        cmp.load_results(tmp_path / "empty")
    (tmp_path / "bad" / "x").mkdir(parents=True)
    (tmp_path / "bad" / "x" / "summary.json").write_text('{"solver": "x"}')
    with pytest.raises(ValueError, match="lacks"):
        cmp.load_results(tmp_path / "bad")


def test_to_markdown_escapes_and_aligns():
    import pandas as pd

    md = cmp.to_markdown(pd.DataFrame({"name": ["a|b"], "value": [1.23456], "n": [float("nan")]}))
    header, rule, row = md.strip().splitlines()
    assert header.startswith("| name") and rule.endswith(":|")
    assert "a\\|b" in row and "1.235" in row and "–" in row


def _overlapping_tick_labels(fig):
    """Pairs of visible tick labels whose boxes overlap, on every axis of ``fig``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    pairs = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels(which="both") if t.get_visible()
                      and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            pairs += [(labels[i].get_text(), labels[j].get_text())
                      for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                      if boxes[i].overlaps(boxes[j])]
    return pairs


@pytest.mark.parametrize("low,high", [(1e-3, 1.6e-3), (0.011, 0.013), (1e-3, 3e-3),
                                      (2e-4, 8e-3), (1e-5, 10.0)])
def test_figure_tick_labels_never_overlap(low, high):
    from neuralpde.evaluation import plots

    latencies = np.geomspace(low, high, 4)
    rows = [dict(solver=f"dns-{8 * 2 ** i}", kind="dns", size=8 * 2 ** i,
                 latency_s_per_time_unit=lat, duration_of_mean=0.3 + 0.2 * i)
            for i, lat in enumerate(latencies)]
    rows.append(dict(solver="li", kind="learned", size=8,
                     latency_s_per_time_unit=math.sqrt(low * high), duration_of_mean=0.7))
    times = np.linspace(0, high / low, 30)  # correlation over short and long horizons
    k = np.arange(1, 33, dtype=float)
    figures = [plots.pareto_figure(rows),
               plots.correlation_figure({"dns-8": (times, np.exp(-times / times[-1]))}),
               plots.spectra_figure({"reference": (k, k ** -3 * high),
                                     "dns-8": (k, k ** -3.5 * low)}),
               plots.snapshots_figure({"reference": np.random.default_rng(0).normal(
                   size=(3, 8, 8))}, [0.0, 1.0, 2.0], extent=(0, 2 * np.pi, 0, 2 * np.pi))]
    for fig in figures:
        assert _overlapping_tick_labels(fig) == []


FAMILY_ROWS = [  # solver, kind, size, duration_of_mean, latency (s/t.u.)
    ("dns", "dns", 32, 1.0, 1.0), ("dns-64", "dns", 64, 2.0, 8.0),
    ("dns-128", "dns", 128, 4.0, 64.0),
    ("spectral", "spectral", 32, 2.0, 2.0), ("spectral-64", "spectral", 64, 5.0, 20.0),
    ("weno5-z", "weno", 32, 1.5, 2.0), ("weno5-js", "weno", 32, 9.0, 0.1),
]


def _family_rows(**extra):
    rows = [dict(solver=n, kind=k, size=s, duration_of_mean=d, latency_s_per_time_unit=lat,
                 device="cpu") for n, k, s, d, lat in FAMILY_ROWS]
    for name, (duration, latency) in extra.items():
        rows.append(dict(solver=name, kind="learned", size=32, duration_of_mean=duration,
                         latency_s_per_time_unit=latency, device="cpu"))
    return {r["solver"]: r for r in cmp.fair_comparison(rows)}


def test_equal_accuracy_cost_is_interpolated_in_log_cost_on_each_ladder():
    # D = 3 lies halfway between dns-64 (2, cost 8) and dns-128 (4, cost 64): cost sqrt(8*64)
    # on the FV ladder; a third of the way from spectral (2, cost 2) to spectral-64 (5, 20)
    row = _family_rows(li=(3.0, 4.0))["li"]
    assert row["speedup_vs_dns"] == pytest.approx(math.sqrt(8 * 64) / 4.0)
    assert row["speedup_vs_spectral"] == pytest.approx(2 * 10 ** (1 / 3) / 4.0)
    assert row["speedup_vs_dns_bound"] == row["speedup_vs_spectral_bound"] == ""
    # WENO5-Z's ladder (one rung, 1.5) never lasts 3: its cost is only bounded below
    assert (row["speedup_vs_weno5_z"] == pytest.approx(0.5)
            and row["speedup_vs_weno5_z_bound"] == ">")
    # the best family is the cheapest that reaches D (spectral, 4.31 < 22.6); weno5-js is
    # not a family (its row does not build a ladder), and the open weno5-z bound (cost > 2,
    # below 4.31) leaves the answer an upper bound
    assert row["best_family"] == "spectral"
    assert row["speedup_vs_best"] == pytest.approx(2 * 10 ** (1 / 3) / 4.0)
    assert row["speedup_vs_best_bound"] == "≤"


def test_equal_cost_duration_and_bounds():
    rows = _family_rows(cheap=(0.5, 0.5), mid=(3.0, 8.0), dear=(9.0, 100.0))
    # at cost 8 the FV ladder is at dns-64 (2.0); spectral halfway in log cost from 2 to 20
    # is ~ 2 + 3 * log(4)/log(10)
    assert rows["mid"]["dns_duration_at_cost"] == pytest.approx(2.0)
    assert rows["mid"]["spectral_duration_at_cost"] == pytest.approx(
        2 + 3 * math.log(4) / math.log(10))
    # cheaper than every rung: no family runs that cheaply; the cheapest rung lasts longer
    assert rows["cheap"]["dns_duration_at_cost"] is None
    assert rows["cheap"]["speedup_vs_dns"] == pytest.approx(2.0)
    assert rows["cheap"]["speedup_vs_dns_bound"] == "≤"
    # dearer than every rung: at least the costliest rung's duration
    assert rows["dear"]["dns_duration_at_cost"] == 4.0
    assert rows["dear"]["dns_duration_at_cost_bound"] == "≥"
    # a classical rung against its own ladder: speed-up 1, its own duration at its own cost
    assert rows["dns-64"]["speedup_vs_dns"] == pytest.approx(1.0)
    assert rows["dns-64"]["dns_duration_at_cost"] == pytest.approx(2.0)


def test_rows_timed_on_another_device_are_not_matched():
    rows = [dict(solver=n, kind=k, size=s, duration_of_mean=d, latency_s_per_time_unit=lat,
                 device="cpu") for n, k, s, d, lat in FAMILY_ROWS]
    rows.append(dict(solver="gpu-li", kind="learned", size=32, duration_of_mean=3.0,
                     latency_s_per_time_unit=0.01, device="h100"))
    row = cmp.fair_comparison(rows)[-1]
    assert row["speedup_vs_dns"] is None and row["speedup_vs_best"] is None


def test_the_table_shows_the_family_columns(results, tmp_path):
    table = cmp.comparison_table(_family_rows(li=(3.0, 4.0)).values())
    for column in ("speed-up vs dns", "spectral duration at equal cost",
                   "speed-up vs weno5-z", "speed-up vs best classical"):
        assert column in table.columns
    li = table[table["solver"] == "li"].iloc[0]
    assert li["speed-up vs weno5-z"] == ">0.5"
    assert li["speed-up vs best classical"] == "≤1.077 (spectral)"
    assert table.columns[-1] == "diverged"


@pytest.mark.parametrize("damage", ["truncated metrics", "trajectory without u"])
def test_a_damaged_results_file_is_left_out_with_a_warning_naming_it(results, tmp_path, damage):
    """Compare over a results folder with a truncated metrics.nc or a trajectory.zarr that lost
    its u (was a netCDF traceback / KeyError 'u'): the solver is left out of the figures it
    cannot feed, with a warning naming the file; the table is still written."""
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    if damage == "truncated metrics":
        target = copy / "li" / "metrics.nc"
        target.write_bytes(target.read_bytes()[:200])
        match = r"li/metrics.nc cannot be read .*left out of the correlation"
    else:
        target = copy / "li" / "trajectory.zarr"
        shutil.rmtree(target / "u")
        match = r"li/trajectory.zarr\) lacks u and v .*left out of the snapshots"
    with pytest.warns(UserWarning, match=match):
        result = cmp.compare(copy, snapshot_times=(0.0, 1.0), out_dir=tmp_path / "out")
    assert "li" in result.markdown
    assert (tmp_path / "out" / "comparison.csv").exists()


def test_one_speed_up_per_family_and_none_besides():
    """The speed-up over DNS is fair_comparison's alone (it once had a second, differently
    computed value under the same key, and a row outside the DNS range showed a finite value
    without its bound): outside the ladder the bound shows; inside, the log-cost rule."""
    rows = [dict(solver=n, kind=k, size=s, duration_of_mean=d, latency_s_per_time_unit=lat,
                 device="cpu") for n, k, s, d, lat in FAMILY_ROWS]
    rows += [dict(solver="long", kind="learned", size=32, duration_of_mean=9.0,
                  latency_s_per_time_unit=4.0, device="cpu"),
             dict(solver="short", kind="learned", size=32, duration_of_mean=0.5,
                  latency_s_per_time_unit=0.5, device="cpu"),
             dict(solver="mid", kind="learned", size=32, duration_of_mean=3.0,
                  latency_s_per_time_unit=4.0, device="cpu")]
    for done in (cmp.fair_comparison(cmp.equivalent_dns(rows)),
                 cmp.equivalent_dns(cmp.fair_comparison(rows)), rows):
        table = cmp.comparison_table(done).set_index("solver")
        assert "speed-up vs DNS" not in table.columns
        assert table.loc["long", "equivalent DNS"] == "> 128"
        assert table.loc["long", "speed-up vs dns"] == ">16"
        assert table.loc["short", "equivalent DNS"] == "< 32"
        assert table.loc["short", "speed-up vs dns"] == "≤2"
        assert table.loc["mid", "speed-up vs dns"] == "5.657"  # sqrt(8 * 64) / 4


def test_a_family_timed_on_two_devices_is_one_ladder_per_device():
    """One spectral rung timed on a GPU used to drop the whole spectral family for every row
    (all '–', and a spectral rung itself 'none reaches it'); now each device has its ladder."""
    rows = [dict(solver=n, kind=k, size=s, duration_of_mean=d, latency_s_per_time_unit=lat,
                 device="cpu") for n, k, s, d, lat in FAMILY_ROWS]
    rows.append(dict(solver="spectral-128", kind="spectral", size=128, duration_of_mean=8.0,
                     latency_s_per_time_unit=0.5, device="h100"))
    rows.append(dict(solver="gpu-li", kind="learned", size=32, duration_of_mean=8.0,
                     latency_s_per_time_unit=0.25, device="h100"))
    rows.append(dict(solver="cpu-li", kind="learned", size=32, duration_of_mean=3.0,
                     latency_s_per_time_unit=4.0, device="cpu"))
    out = {r["solver"]: r for r in cmp.fair_comparison(rows)}
    # the CPU rows keep the CPU spectral ladder (spectral 2 @ 2, spectral-64 5 @ 20)
    assert out["cpu-li"]["speedup_vs_spectral"] == pytest.approx(2 * 10 ** (1 / 3) / 4.0)
    assert out["spectral-64"]["speedup_vs_spectral"] == pytest.approx(1.0)
    assert out["spectral-64"]["best_family"] != "none reaches it"
    # the GPU row meets the GPU rung only, and no other family (none timed there)
    assert out["gpu-li"]["speedup_vs_spectral"] == pytest.approx(2.0)
    assert out["gpu-li"]["speedup_vs_dns"] is None
    assert out["gpu-li"]["best_family"] == "spectral"
    assert out["spectral-128"]["speedup_vs_spectral"] == pytest.approx(1.0)
