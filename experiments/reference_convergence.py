"""Is the reference converged?  Classical ladders scored against references of rising fidelity.

The same test trajectories are generated with several reference solvers
(``fv-256``: finite volume on 256², ``fv-512``, ``spectral-256``:
pseudo-spectral on 256², ``spectral-512``, ...), all from the same warm-up:
the finite-volume DNS on the ``--warmup-size`` grid integrates the preset's
warm-up up to ``--refine-time`` before t = 0, where each reference takes
over from the same (refined) state.  The script prints

1. **cost**: the wall-clock of one model step of each reference (and of the
   warm-up grid), per trajectory, at the generation batch;
2. **the refinement transient**: after refining the warm-up state, the
   fraction of the kinetic energy in modes the warm-up grid cannot hold
   (``|k| >= warmup_size/2``, zero right after the refinement) and the
   enstrophy, against time, relative to their mean over the last half of the
   window: how long the fine scales take to re-form;
3. **reference against reference**: the high-correlation durations (0.8, and
   the time the correlation first drops below 0.95 and 0.99) of each
   reference against each other on the model grid: how long two references
   agree, the horizon up to which a duration measured against either means
   anything;
4. **the ladders**: the mean high-correlation duration (± standard error over
   the trajectories) of each solver against each reference, and its paired
   change from the last (finest) reference.

Everything is resumable: the stores resume or are left alone when complete,
and a solver already evaluated against a reference is read back.

Usage (the recorded run: ``experiments/results/mini/reference_convergence.txt``)::

    python experiments/reference_convergence.py --preset mini --samples 8 \\
        --references fv-256 spectral-256 fv-512 spectral-512:4 \\
        --data data/reference_convergence --out results/reference_convergence \\
        | tee experiments/results/mini/reference_convergence.txt
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import jax
import numpy as np
import xarray as xr

from neuralpde import registry
from neuralpde.evaluation import metrics
from neuralpde.sharding import batch_sharding
from neuralpde.store import open_store
from neuralpde.store.generate import generate_split
from neuralpde.store.kernels import SplitKernels
from neuralpde.store.plan import plan_split
from neuralpde.store.presets import get_preset, split_key, with_overrides

DEFAULT_SOLVERS = ("dns", "dns-64", "dns-128", "dns-256", "spectral", "spectral-64",
                   "spectral-128", "weno5-z", "pretrained:li-mini")


def parse_reference(text: str, model_size: int) -> tuple[str, int, int | None]:
    """``'spectral-512:4'`` → ``('spectral', 512, 4)`` (solver, grid, samples or None).

    Refused (``SystemExit`` with one line, exit 2) unless the solver is ``fv`` or
    ``spectral``, the grid a multiple of the model grid (even for ``spectral``) and the
    sample count an integer >= 1.
    """
    name, colon, samples = text.partition(":")
    solver, _, size = name.rpartition("-")
    accepted = (f"accepted fv-N or spectral-N[:samples], N a multiple of the model grid "
                f"{model_size}, samples >= 1")
    if (solver not in ("fv", "spectral") or not size.isdigit() or int(size) % model_size
            or (colon and not (samples.isdigit() and int(samples) >= 1))):
        print(f"reference_convergence.py: error: invalid reference {text!r}: {accepted}",
              file=sys.stderr)
        raise SystemExit(2)
    return solver, int(size), int(samples) if colon else None


def reference_preset(base, solver: str, size: int, samples: int, args):
    return with_overrides(
        base, split="test", n_samples=samples, duration=args.duration or None,
        fine_size=size, reference_solver=solver, warmup_size=args.warmup_size,
        refine_time=args.refine_time, batch_size=min(args.batch_size, samples),
        initial_sizes=tuple(m for m in (64, 128, 256) if size % m == 0 and m <= size))


def step_cost(preset, repeats: int = 3) -> tuple[float, float]:
    """Seconds per trajectory per model step: (reference grid, warm-up grid)."""
    plan = plan_split(preset, "test")
    kernels = SplitKernels(preset, plan, batch_sharding())
    batch = preset.batch_size
    state = kernels.initial(split_key(0, "test"), jax.numpy.arange(batch))
    coarse = state
    state = kernels.refine(state)

    def timed(fn, x):
        jax.block_until_ready(fn(x))  # compile
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(x))
            best = min(best, time.perf_counter() - start)
        return best / batch

    return timed(kernels.advance(1), state), timed(kernels.advance_warmup(1), coarse)


def refinement_transient(preset, samples: int, span: float, every: float) -> list[tuple]:
    """``[(t after refinement, high-k energy fraction, enstrophy)]`` (sample means)."""
    plan = plan_split(preset, "test")
    kernels = SplitKernels(preset, plan, batch_sharding())
    state = kernels.initial(split_key(0, "test"), jax.numpy.arange(samples))
    state = kernels.advance_warmup(plan.coarse_steps)(state)
    state = kernels.refine(state)
    fine, cut = preset.fine_size, preset.warmup_size // 2
    k = np.abs(np.fft.fftfreq(fine, 1.0 / fine))
    high = np.maximum(k[:, None], k[None, :]) >= cut
    steps = max(1, round(every / plan.dt_model))
    rows = []
    for i in range(round(span / (steps * plan.dt_model)) + 1):
        if i:
            state = kernels.advance(steps)(state)
        uv = np.asarray(kernels.observe(state, fine))
        power = np.abs(np.fft.fft2(uv)) ** 2
        fraction = (power * high).sum(axis=(1, 2, 3)) / power.sum(axis=(1, 2, 3))
        _, enstrophy = kernels.diagnostics(state)
        rows.append((i * steps * plan.dt_model, float(fraction.mean()),
                     float(np.asarray(enstrophy).mean())))
    return rows


def pair_durations(a: xr.Dataset, b: xr.Dataset, horizon: float) -> dict:
    """Per-sample agreement of two stores of the same trajectories (model grid)."""
    k = min(a.sizes["sample"], b.sizes["sample"])
    a, b = a.isel(sample=slice(0, k)), b.isel(sample=slice(0, k))
    correlation = metrics.correlation_da(a, b)
    times = correlation["time"].values
    out = {"samples": k}
    for threshold in (0.8, 0.95, 0.99):
        out[threshold] = np.asarray(metrics.high_correlation_duration(
            correlation.values, times, threshold, horizon), dtype=float)
    return out


def mean_sem(values: np.ndarray) -> str:
    """``'mean ± standard error'`` (``'mean ±    –'`` for one value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return f"{values.mean():6.2f} ±    –"
    return f"{values.mean():6.2f} ± {values.std(ddof=1) / math.sqrt(len(values)):4.2f}"


def evaluate_once(name: str, data: Path, out: Path, samples: int) -> np.ndarray:
    """Per-sample durations of ``name`` against ``data``'s test store (evaluated once)."""
    store = open_store(data / "test.zarr", split="test")
    folder = out / registry.make_solver(name, store).name
    if not (folder / "metrics.nc").exists():
        registry.evaluate([name], data, out, n_samples=samples)
    with xr.open_dataset(folder / "metrics.nc") as scores:
        return np.asarray(scores["duration_per_sample"].values, dtype=float)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--samples", type=int, default=8, help="test trajectories per reference")
    parser.add_argument("--references", nargs="+",
                        default=["fv-256", "spectral-256", "fv-512", "spectral-512:4"],
                        help="fv-N or spectral-N, optionally :samples (fewer for costly ones); "
                             "the last is the one the changes are paired against")
    parser.add_argument("--warmup-size", type=int, default=128)
    parser.add_argument("--refine-time", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=0.0,
                        help="time units per trajectory (default: the preset's test split)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--solvers", nargs="*", default=list(DEFAULT_SOLVERS))
    parser.add_argument("--transient-span", type=float, default=2.0)
    parser.add_argument("--data", default="data/reference_convergence")
    parser.add_argument("--out", default="results/reference_convergence")
    parser.add_argument("--sections", nargs="+", type=int, default=[1, 2, 3, 4],
                        help="which parts to print (e.g. 1: the costs again on a quiet machine)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    base = get_preset(args.preset)
    data_root, out_root = Path(args.data), Path(args.out)
    references = [parse_reference(r, base.model_size) for r in args.references]
    labels = [f"{s}-{n}" for s, n, _ in references]
    if len(set(labels)) < len(labels):
        print(f"reference_convergence.py: error: a reference is named twice in "
              f"{args.references}: accepted distinct references", file=sys.stderr)
        raise SystemExit(2)
    print(f"# python {' '.join(sys.argv)}")
    print(f"# {time.strftime('%Y-%m-%d')}, {_cpu()}, JAX {jax.__version__}")
    print(f"# preset {args.preset}: model grid {base.model_size}², warm-up on the FV "
          f"{args.warmup_size}² grid, each reference takes over {args.refine_time:g} t.u. before "
          "t = 0 from the same refined state\n")

    presets, stores = {}, {}
    print("## 1. cost (min of 3 timed calls after a compile; seconds per trajectory)")
    print(f"{'reference':>14} {'samples':>7} {'s/model step':>13} {'s/t.u.':>9} "
          f"{'generation s':>12}")
    for (solver, size, samples), label in zip(references, labels):
        preset = reference_preset(base, solver, size, samples or args.samples, args)
        presets[label] = preset
        folder = data_root / label
        timing_file = folder / "generation_seconds.json"
        start = time.perf_counter()
        path = generate_split(preset, "test", folder / "test.zarr",
                              progress=not args.no_progress)
        seconds = time.perf_counter() - start
        if timing_file.exists():
            seconds = json.loads(timing_file.read_text())["seconds"]
        else:
            timing_file.write_text(json.dumps({"seconds": seconds}))
        stores[label] = open_store(path, split="test")
        if 1 in args.sections:
            per_step, per_warmup_step = step_cost(preset)
            dt = preset.dt_model
            print(f"{label:>14} {preset.test.n_samples:>7} {per_step:13.4g} "
                  f"{per_step / dt:9.3g} {seconds:12.0f}", flush=True)
    if 1 in args.sections:
        print(f"{'fv-' + str(args.warmup_size):>14} {'':>7} {per_warmup_step:13.4g} "
              f"{per_warmup_step / dt:9.3g}   (the shared warm-up grid)\n")

    if 2 in args.sections:
        print_transient(labels, presets, args)
    if 3 in args.sections:
        print_pairs(labels, stores)
    if 4 in args.sections:
        print_ladders(labels, presets, data_root, out_root, args.solvers)


def print_transient(labels, presets, args) -> None:
    print(f"## 2. refinement transient ({args.warmup_size}² → reference; sample means of "
          f"{min(4, args.samples)} trajectories, relative to the mean over the last half)")
    for label in labels[:2]:
        rows = refinement_transient(presets[label], min(4, args.samples), args.transient_span,
                                    0.1)
        late = [r for r in rows if r[0] >= args.transient_span / 2]
        f_late, z_late = np.mean([r[1] for r in late]), np.mean([r[2] for r in late])
        text = "  ".join(f"t={t:.1f}: {f / f_late:.2f}/{z / z_late:.2f}" for t, f, z in rows[::2])
        print(f"{label}: high-k energy fraction / enstrophy (t: time units after the "
              f"refinement): {text}")
    print()


def print_pairs(labels, stores) -> None:
    horizon = float(stores[labels[0]]["time"].values[-1])
    print("## 3. reference against reference (model grid; mean ± s.e. over the trajectories)")
    print(f"{'pair':>30} {'samples':>7} {'corr >= 0.8':>13} {'>= 0.95':>13} {'>= 0.99':>13}")
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            found = pair_durations(stores[a], stores[b], horizon)
            print(f"{a + ' vs ' + b:>30} {found['samples']:>7} {mean_sem(found[0.8]):>13} "
                  f"{mean_sem(found[0.95]):>13} {mean_sem(found[0.99]):>13}", flush=True)
    print(f"(durations are capped at the trajectories' span, {horizon:.2f} time units)\n")


def print_ladders(labels, presets, data_root, out_root, solvers) -> None:
    print("## 4. high-correlation duration (0.8) of each solver against each reference")
    last = labels[-1]
    header = "".join(f"{label:>16}" for label in labels)
    print(f"{'solver':>20}{header}   change vs {last} (paired, per reference)")
    for name in solvers:
        found = {}
        for label in labels:
            samples = presets[label].test.n_samples
            found[label] = evaluate_once(name, data_root / label, out_root / label, samples)
        row = "".join(f"{mean_sem(found[label]):>16}" for label in labels)
        k = len(found[last])
        changes = "  ".join(
            f"{label}: {mean_sem(found[label][:k] - found[last])}" for label in labels[:-1])
        print(f"{name:>20}{row}   {changes}", flush=True)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {len(jax.devices())} device(s)"
    except OSError:
        pass
    return jax.devices()[0].device_kind


if __name__ == "__main__":
    main()
