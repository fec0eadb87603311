"""One-command check of a GPU (or any JAX device): what the package does there, in < 10 minutes.

    python experiments/gpu_check.py                      # on one H100/H200: ~5-8 min
    python experiments/gpu_check.py --tiny --out x.txt   # every stage at a tiny size
                                                         # (CPU smoke test)

Writes one results file naming the device (default
``experiments/results/gpu_check_<device>.txt``), line by line, so a run cut short
keeps what it measured.  Stages (each skipped when the time budget is spent):

1. generation throughput, the package's pipeline against a plain jit loop over
   jax-cfd, at 1024² (batch 8) and 2048² (batch 4)
   (``benchmarks/generation_throughput.py``), beside the planner's roofline
   estimate of one fine step on this device class;
2. a paper-lite DNS-resolution study on a few test trajectories: ``neuralpde
   generate --preset paper-lite --split test`` (2 trajectories, 2 time units),
   ``neuralpde evaluate`` of DNS at 64², 128², 256², 512²;
3. the ``paper`` training update (6 × 256 tower, unroll 32, LI) at a per-device
   batch of 8, with and without rematerialisation: compile time, seconds per
   update, peak device memory (``Device.memory_stats()``), beside the
   planner's memory and roofline time for the same update compiled here;
4. TSM-HiPPO vs LI latency at the published sizes (``benchmarks/tsm_latency.py
   --preset paper``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FULL = dict(
    generation=[["--fine-size", "1024", "--model-size", "64", "--batch", "8",
                 "--model-steps", "64", "--repeats", "3"],
                ["--fine-size", "2048", "--model-size", "64", "--batch", "4",
                 "--model-steps", "32", "--repeats", "3"]],
    generate=["--preset", "paper-lite", "--split", "test", "--samples", "2", "--duration", "2",
              "--initial-sizes", "128", "256", "512"],
    evaluate=["--solver", "dns", "--solver", "dns-128", "--solver", "dns-256",
              "--solver", "dns-512", "--horizon", "2"],
    train=dict(preset="paper", size=64, overrides=dict(batch_size=8), updates=5,
               remat=(True, False)),
    latency=["--preset", "paper", "--duration", "0.5", "--repeats", "3"],
)
TINY = dict(
    generation=[["--fine-size", "32", "--model-size", "8", "--batch", "2", "--model-steps", "8",
                 "--repeats", "1"]],
    generate=["--preset", "mini", "--split", "test", "--samples", "1", "--duration", "0.6",
              "--warmup", "0.3", "--history", "4", "--model-size", "8", "--fine-size", "32",
              "--initial-sizes", "16", "--time-chunk", "4"],
    evaluate=["--solver", "dns", "--solver", "dns-16"],
    train=dict(preset="paper", size=8,
               overrides=dict(batch_size=2, hidden=4, depth=1, unroll=2), updates=2,
               remat=(True,)),
    latency=["--preset", "mini", "--duration", "0.02", "--repeats", "1", "--count-only"],
)


def device_class_of(kind: str):
    """The planner's device class for a ``device_kind`` (None when it has none)."""
    kind = kind.lower()
    for key in ("h200", "h100", "a100", "l4"):
        if key in kind:
            return key
    return None


class Report:
    """Lines to stdout and to the results file as they come."""

    def __init__(self, path: Path, budget: float):
        self.path, self.started, self.budget = path, time.perf_counter(), budget
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w")

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def run(self, argv, title: str) -> str:
        """Run ``argv`` with what is left of the budget; its output goes to the report."""
        if self.left() < 20:
            self(f"[skipped: time budget spent] {title}")
            return ""
        self(f"$ {' '.join(argv)}")
        try:
            done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                                  timeout=self.left())
        except subprocess.TimeoutExpired:
            self(f"[stopped: time budget spent] {title}")
            return ""
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip() and "slow_operation_alarm" not in line and not line.startswith("*"):
                self("  " + line)
        if done.returncode:
            self(f"  [exit {done.returncode}]")
        return done.stdout

    def close(self) -> None:
        self(f"\n(total {time.perf_counter() - self.started:.0f} s)")
        self.file.close()


def generation_stage(report, sizes, device_class) -> None:
    import jax
    import jax.numpy as jnp

    from neuralpde.physics import dns
    from neuralpde.planning import DEVICE_CLASSES, compiled_cost
    from neuralpde.store.presets import get_preset, with_overrides

    report("\n## 1. Generation throughput (pipeline vs plain jax-cfd loop)")
    for argv in sizes:
        out = report.run([sys.executable, "benchmarks/generation_throughput.py", *argv],
                         "generation throughput")
        fine, batch = int(argv[argv.index("--fine-size") + 1]), int(argv[argv.index("--batch") + 1])
        measured = re.search(r"plain jax-cfd jit loop : +([\d.]+) Mcell-steps/s", out)
        preset = with_overrides(get_preset("mini"), fine_size=fine, reference_solver="fv",
                                warmup_size=0, model_size=int(argv[argv.index("--model-size") + 1]))
        step = dns.finite_volume_step(preset.flow, fine, preset.dt_model / preset.inner_steps)
        _, flops, accessed = compiled_cost(jax.vmap(step), jax.ShapeDtypeStruct(
            (batch, 2, fine, fine), jnp.float32))
        line = (f"  planner: one {fine}² step of batch {batch}: {flops / 1e9:.3g} GFLOP, "
                f"{accessed / 1e9:.3g} GB accessed")
        if device_class:
            d = DEVICE_CLASSES[device_class]
            seconds = max(flops / d.fp32_flops, accessed / d.bandwidth)
            estimate = fine * fine * batch / seconds / 1e6
            line += f"; roofline on {d.name}: {estimate:,.0f} Mcell-steps/s"
            if measured:
                line += f"; measured/roofline = {float(measured.group(1)) / estimate:.2f}"
        report(line)


def study_stage(report, sizes, workdir: Path) -> None:
    report("\n## 2. DNS-resolution study (test trajectories)")
    data, results = workdir / "data", workdir / "results"
    cli = [sys.executable, "-m", "neuralpde.cli"]
    report.run([*cli, "generate", *sizes["generate"], "--out", str(data), "--no-progress"],
               "generate")
    report.run([*cli, "evaluate", "--data", str(data), "--out", str(results), *sizes["evaluate"]],
               "evaluate")
    from neuralpde.store.schema import read_attrs

    if (data / "test.zarr").exists():
        attrs = read_attrs(data / "test.zarr")
        report(f"  reference: {attrs['fine_size']}² DNS downsampled to {attrs['model_size']}² "
               "(the test store, in a temporary folder removed at the end)")
    for summary in sorted(results.glob("*/summary.json")):
        s = json.loads(summary.read_text())
        report(f"  {s['solver']:<10} duration {s['duration_of_mean']:.3f}  latency "
               f"{s.get('latency_s_per_time_unit') or float('nan'):.4g} s per time unit")


def training_stage(report, spec, device_class) -> None:
    import jax
    import jax.numpy as jnp

    from neuralpde.config import with_fields
    from neuralpde.physics.flows import KolmogorovFlow
    from neuralpde.planning import DEVICE_CLASSES, format_bytes, training_cost
    from neuralpde.solvers.base import history_frames
    from neuralpde.solvers.learned import build_li_solver
    from neuralpde.training.config import get_train_preset
    from neuralpde.training.optim import make_optimizer
    from neuralpde.training.windowed import make_windowed_step

    report("\n## 3. The paper training update (LI), with and without rematerialisation")
    flow, size = KolmogorovFlow(), spec["size"]
    device = jax.devices()[0]
    if False not in spec["remat"]:
        report("  (--tiny: the update without remat is not run)")
    for remat in spec["remat"]:  # the smaller peak first: memory_stats' peak only grows
        if report.left() < 60:
            report(f"[skipped: time budget spent] remat {remat}")
            continue
        config = with_fields(get_train_preset(spec["preset"]), remat=remat,
                             **spec["overrides"])
        solver = build_li_solver(config.model, 0, flow, size)
        optimizer = make_optimizer(config)
        step = make_windowed_step(solver, optimizer, config.loss, config.remat)
        params = solver.params
        opt_state = optimizer.init(params)
        window = max(history_frames(solver), 1) + config.unroll
        batch = jax.random.normal(jax.random.PRNGKey(0),
                                  (config.batch_size, window, 2, size, size)) * 0.5
        skipped = jnp.int32(0)
        start = time.perf_counter()
        params, opt_state, _, skipped, stats = step(params, opt_state, {}, skipped, batch,
                                                    jnp.int32(0))
        jax.block_until_ready(stats)
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(spec["updates"]):
            params, opt_state, _, skipped, stats = step(params, opt_state, {}, skipped, batch,
                                                        jnp.int32(i + 1))
        jax.block_until_ready(stats)
        per_update = (time.perf_counter() - start) / spec["updates"]
        memory = (device.memory_stats() or {}).get("peak_bytes_in_use")
        plan = training_cost(config, flow, size)
        line = (f"  remat {'on ' if remat else 'off'}: batch {config.batch_size}, unroll "
                f"{config.unroll}: first call {compile_s:.1f} s, {per_update:.4g} s per update; "
                f"peak memory {format_bytes(memory) if memory else 'n/a (not reported)'}; "
                f"planner {format_bytes(plan.memory_bytes)}")
        if device_class:
            d = DEVICE_CLASSES[device_class]
            roofline = plan.seconds(d) / plan.calls
            line += (f", roofline {roofline:.4g} s per update "
                     f"(measured/roofline {per_update / roofline:.1f})")
        report(line)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="results file (default experiments/results/"
                                      "gpu_check_<device>.txt)")
    parser.add_argument("--tiny", action="store_true", help="every stage at a tiny size (CPU)")
    parser.add_argument("--device-class", help="the planner's device class for the roofline "
                                               "columns (default: from the device's name)")
    parser.add_argument("--budget", type=float, default=540.0,
                        help="seconds for the whole check; later stages are skipped past it")
    args = parser.parse_args(argv)

    import jax

    device = jax.devices()[0]
    kind = getattr(device, "device_kind", device.platform)
    slug = re.sub(r"[^a-z0-9]+", "_", kind.lower()).strip("_")
    out = Path(args.out) if args.out else REPO / "experiments" / "results" / f"gpu_check_{slug}.txt"
    sizes = TINY if args.tiny else FULL
    device_class = args.device_class or device_class_of(kind)
    report = Report(out, args.budget)
    report(f"# python experiments/gpu_check.py{' --tiny' if args.tiny else ''}  "
           f"({time.strftime('%Y-%m-%d %H:%M')})")
    report(f"device: {device.platform} {kind} x{jax.device_count()}, jax {jax.__version__}; "
           f"planner device class: {device_class or 'none (no roofline column)'}")
    with tempfile.TemporaryDirectory() as tmp:
        generation_stage(report, sizes["generation"], device_class)
        study_stage(report, sizes, Path(tmp))
        training_stage(report, sizes["train"], device_class)
        report("\n## 4. TSM-HiPPO vs LI latency" + (" (--tiny: multiply-add counts only, no "
                                                    "timing)" if args.tiny else ""))
        report.run([sys.executable, "benchmarks/tsm_latency.py", *sizes["latency"]], "latency")
    report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
