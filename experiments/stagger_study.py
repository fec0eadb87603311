"""Staggered sub-solvers on the mini flow: (s, s_T) in {(1,1), (2,1), (2,2), (4,1)}, side by side.

    python experiments/stagger_study.py --data data/mini --runs runs/stagger_mini \
        --out experiments/results/mini 2>&1 | tee experiments/results/mini/stagger_study.txt

What it does, in one process (so every latency is measured on the same machine
state, one after the other):

1. trains each configuration with the physics-constrained loss (no simulation
   data; the forward-Euler residual of the DNS's own discretisation; pool seeded
   by random fields run by the DNS on 32² into the stationary regime: 40 time
   units of spin-up + U(0, 5)) at the same hidden
   width, depth, batch and number of updates (runs are resumable: a finished
   run folder is reused);
2. rolls each fine simulation out from the 8 mini test states and scores it
   against the 256²-DNS reference on the 32² model grid (relative L2 velocity
   error and vorticity correlation over time, high-correlation duration),
   beside DNS at 32²;
3. measures latency per simulated time unit (``measure_latency``, batch 1,
   compile excluded) of every solver, and of the 'separate' and 'joint'
   weight variants at the same width (untrained; latency does not depend on
   the weights);
4. runs each s > 1 set's one-sub-solver coarse simulation on (32/s)² and scores
   it against the same sub-field of the reference;
5. times a decomposed tower against the undecomposed one (forward pass, 32²
   and 64², equal width) and fits both to the same local nonlinear map for an
   accuracy note.

Writes ``stagger_study.csv`` / ``stagger_study.md`` / ``stagger_curves.csv``
to ``--out``; print output is the record (tee it to ``stagger_study.txt``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import with_fields
from neuralpde.evaluation import metrics
from neuralpde.evaluation.scoring import frames_dataset, score
from neuralpde.physics import decompose, dns
from neuralpde.solvers.classical import FiniteVolumeSolver, classical_solver
from neuralpde.solvers.rollout import device_name, measure_latency
from neuralpde.solvers.staggered import StaggeredSolver, build_stagger_model
from neuralpde.store import frames_for_horizon, open_store, reference_frames, store_flow
from neuralpde.training.config import get_train_preset
from neuralpde.training.loop import train
from neuralpde.training.runs import read_metrics

CONFIGS = ((1, 1), (2, 1), (2, 2), (4, 1))
REPORT_TIMES = (0.5, 1.0, 2.0, 4.0)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="data/mini", help="folder holding test.zarr")
    p.add_argument("--runs", default="runs/stagger_mini", help="training run folders")
    p.add_argument("--out", default="experiments/results/mini", help="tables go here")
    p.add_argument("--steps", type=int, default=1200, help="updates per configuration")
    p.add_argument("--hidden", type=int, default=32, help="tower width (equal for all)")
    p.add_argument("--depth", type=int, default=4, help="tower hidden layers")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--horizon", type=float, default=4.0, help="time units rolled out")
    p.add_argument("--samples", type=int, default=8, help="test trajectories")
    p.add_argument("--latency-repeats", type=int, default=2,
                   help="interleaved latency passes (the minimum is kept)")
    return p.parse_args(argv)


def at_times(values, times, wanted=REPORT_TIMES):
    return [float(values[int(np.argmin(np.abs(times - t)))]) for t in wanted]


def fmt(x, digits=3):
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def markdown(rows, columns):
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


@dataclasses.dataclass(frozen=True)
class CoarseDNS(FiniteVolumeSolver):
    """DNS on a grid coarser than the model grid, compared with the reference face-averaged to
    it."""

    @property
    def view_name(self) -> str:
        return "the model-grid reference face-averaged"

    def reference_view(self, uv):
        flat = jnp.asarray(uv).reshape((-1,) + uv.shape[-3:])
        down = jax.vmap(
            lambda f: dns.downsample_velocity(f, self.size, self.flow.domain_size))(flat)
        return down.reshape(uv.shape[:-2] + (self.size, self.size))


def curves(scored):
    """Sample-mean correlation and relative L2 curves, duration and divergences of a Score."""
    m = scored.metrics
    return {"time": m.time.values, "correlation": m.correlation_mean.values,
            "relative_l2": m.relative_l2.mean("sample", skipna=False).values,
            "duration": scored.duration_of_mean,
            "diverged": int((scored.rollout.diverged_step >= 0).sum())}


def subfield_curves(pred, ref, times, s, a, b, domain_size):
    """Correlation curve and duration of sub-field (a, b) of two (S, T, 2, N, N) trajectories."""
    sub = lambda x: np.asarray(decompose.subfield(x, s, a, b))
    samples, times = np.arange(pred.shape[0]), np.asarray(times)[:pred.shape[1]]
    p = frames_dataset(sub(pred), samples, times, domain_size)
    r = frames_dataset(sub(ref), samples, times, domain_size)
    correlation = metrics.correlation_da(p, r)
    summary = metrics.duration_summary(correlation, horizon=float(times[-1]))
    return {"time": times, "correlation": correlation.mean("sample", skipna=False).values,
            "duration": float(summary["duration_of_mean"])}



def train_all(args, flow, size):
    solvers, train_info = {}, {}
    base = get_train_preset("mini", "stagger")
    for s, s_time in CONFIGS:
        config = with_fields(base, s=s, s_time=s_time, hidden=args.hidden, depth=args.depth,
                                size=size, steps=args.steps, batch_size=args.batch_size,
                                pool_size=64, warmup_time=5.0, log_every=100,
                                checkpoint_every=max(100, args.steps // 4))
        run = Path(args.runs) / f"s{s}t{s_time}"
        t0 = time.perf_counter()
        summary = train(config, run, flow=flow, progress=False)  # physics loss: no data
        wall = time.perf_counter() - t0
        lines = [m for m in read_metrics(run) if "loss" in m]
        first, last = lines[0], lines[-1]
        tail = [m for m in lines if m["step"] > 0.8 * args.steps] or [last]
        train_info[(s, s_time)] = {
            "wall_s": wall, "first_residual": first["residual"],
            "final_residual": float(np.mean([m["residual"] for m in tail])),
            "final_divergence": float(np.mean([m["divergence"] for m in tail])),
            "steps_per_s": float(np.median([m["steps_per_s"] for m in lines[1:]] or [np.nan]))}
        solvers[(s, s_time)] = summary.solver
        train_info[(s, s_time)]["train_s"] = args.steps / train_info[(s, s_time)]["steps_per_s"]
        info = train_info[(s, s_time)]
        print(f"  (s={s}, s_T={s_time}): {info['train_s']:6.1f} s of updates "
              f"({info['steps_per_s']:.1f} updates/s; {wall:.0f} s in this process incl. "
              f"compile); residual {info['first_residual']:.3g} -> {info['final_residual']:.3g} "
              f"(mean of the last 20 %), divergence term {info['final_divergence']:.3g}",
              flush=True)
    return solvers, train_info


def coarse_dns_row(test, flow, coarse_size, horizon, n_samples):
    """DNS on (32/s)² from the face-averaged reference, scored against face averages (context)."""
    solver = CoarseDNS(flow, coarse_size)
    return curves(score(solver, test, horizon=horizon, n_samples=n_samples,
                        latency_duration=None)), solver


def tower_study(train_path, hidden, depth, steps=300):
    import optax
    from flax import nnx

    from neuralpde.models.tower import ConvTower, DecomposedTower

    print("\n## Decomposed vs undecomposed conv tower "
          f"(hidden {hidden}, depth {depth}, 2 -> 104 channels as LI, batch 1)")
    rows = []
    for size in (32, 64):
        x = jnp.asarray(np.random.default_rng(0).normal(size=(1, size, size, 2)), jnp.float32)
        times = {}
        for s in (1, 2, 4):
            kwargs = dict(hidden=hidden, depth=depth, rngs=nnx.Rngs(0))
            tower = (ConvTower(2, 104, **kwargs) if s == 1
                     else DecomposedTower(2, 104, s=s, **kwargs))
            graphdef, state = nnx.split(tower)
            f = jax.jit(lambda st, v: nnx.merge(graphdef, st)(v))
            jax.block_until_ready(f(state, x))
            samples = []
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(10):
                    out = f(state, x)
                jax.block_until_ready(out)
                samples.append((time.perf_counter() - t0) / 10)
            times[s] = float(np.median(samples))
            rows.append({"grid": size, "s": s, "forward_ms": times[s] * 1e3,
                         "speedup": times[1] / times[s]})
            print(f"  {size}²  s={s}: {times[s] * 1e3:8.3f} ms per forward pass "
                  f"(speed-up {times[1] / times[s]:.2f}x over s=1)", flush=True)

    # accuracy note: fit the DNS tendency F(u) (a local nonlinear stencil map, the kind of map
    # the LI/TSM towers must represent) from train-store states, same width and updates
    from neuralpde.physics.operators import tendency

    train_set = open_store(train_path, split="train")
    flow = store_flow(train_set)
    dt = float(train_set.attrs["dt_model"])
    frames = np.stack([train_set.u.values[:, ::20], train_set.v.values[:, ::20]], axis=2)
    frames = frames.reshape((-1,) + frames.shape[2:]).astype(np.float32)
    rng = np.random.default_rng(0)
    rng.shuffle(frames)
    held, fit = jnp.asarray(frames[:16]), jnp.asarray(frames[16:])
    target = jax.jit(jax.vmap(lambda u: tendency(u, flow, dt)))
    y_fit, y_held = target(fit), target(held)
    print(f"  accuracy note: fit F(u) = -div(uu) + nu lap u + f on {fit.shape[0]} train-store "
          f"states (32²), {steps} Adam updates (lr 3e-3, batch 8), relative L2 error on 16 "
          "held-out states:")
    for s in (1, 2, 4):
        kwargs = dict(hidden=hidden, depth=depth, input_scale=0.1, rngs=nnx.Rngs(1))
        tower = ConvTower(2, 2, **kwargs) if s == 1 else DecomposedTower(2, 2, s=s, **kwargs)
        graphdef, params = nnx.split(tower)
        apply = lambda p, u: 10.0 * jnp.moveaxis(
            nnx.merge(graphdef, p)(jnp.moveaxis(u, -3, -1)), -1, -3)
        opt = optax.adam(3e-3)
        state = opt.init(params)

        @jax.jit
        def step(p, o, u, y):
            loss, g = jax.value_and_grad(lambda q: jnp.mean((apply(q, u) - y) ** 2))(p)
            upd, o = opt.update(g, o, p)
            return optax.apply_updates(p, upd), o, loss

        t0 = time.perf_counter()
        for k in range(steps):
            idx = (np.arange(8) + 8 * k) % fit.shape[0]
            params, state, loss = step(params, state, fit[idx], y_fit[idx])
        jax.block_until_ready(params)
        err = float(jnp.sqrt(jnp.sum((apply(params, held) - y_held) ** 2) / jnp.sum(y_held ** 2)))
        print(f"    s={s}: held-out relative error {err:.3f}  "
              f"(fit {time.perf_counter() - t0:.1f} s)", flush=True)
        for row in rows:
            if row["s"] == s and row["grid"] == 32:  # the fit is on the 32² store states
                row["fit_relative_error"] = err
    return rows


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    test = open_store(Path(args.data) / "test.zarr", split="test")
    flow = store_flow(test)
    size = int(test.attrs["model_size"])
    n_frames, _ = frames_for_horizon(test, args.horizon)

    print("# Staggered sub-solvers on the mini flow")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{device_name()}, JAX {jax.__version__}; load average at start "
          f"{os.getloadavg()[0]:.1f}")
    print(f"command: python {' '.join(sys.argv)}")
    base = get_train_preset("mini", "stagger")
    print(f"budget: {len(CONFIGS)} configurations x {args.steps} updates, batch {args.batch_size}, "
          f"tower {args.depth} x {args.hidden} (equal width), physics loss ({base.convection} "
          f"{base.time_scheme} residual, projected; lambda_div = {base.div_weight:g}), pool 64 "
          f"seeded by random fields + DNS-{size} spin-up {base.spinup_time:g} + U(0, 5) "
          f"t.u.; evaluation: {args.samples} test trajectories x {args.horizon} t.u., "
          f"{size}² model grid, reference 256² DNS; network inputs: velocity view, forcing"
          f"{', products u^2 uv v^2' if base.model.quadratic_input else ''}; rebuilt frames "
          f"{'pressure-projected' if base.model.project else 'not projected'}", flush=True)

    print("\n## Training (physics-constrained, no simulation data)")
    solvers, train_info = train_all(args, flow, size)

    print("\n## Accuracy against the reference (fine simulation on 32²)", flush=True)
    rows, curves_by_label, fine_frames = [], {}, {}
    dns32 = classical_solver("dns", flow, size)
    entries = [("dns-32", None, dns32)] + [(f"stagger s={s} s_T={t}", (s, t), solvers[(s, t)])
                                           for s, t in CONFIGS]
    for label, key, solver in entries:
        scored = score(solver, test, horizon=args.horizon, n_samples=args.samples,
                       latency_duration=None)
        result = curves_by_label[label] = curves(scored)
        fine_frames[label] = np.stack([scored.predicted.u.values, scored.predicted.v.values], 2)
        corr = at_times(result["correlation"], result["time"])
        rel = at_times(result["relative_l2"], result["time"])
        rows.append({"solver": label, "s": key[0] if key else "", "s_T": key[1] if key else "",
                     "grid": f"{size}²", "sub-solver grid": f"{size // key[0]}²" if key else "",
                     "duration": result["duration"],
                     **{f"corr@{t:g}": c for t, c in zip(REPORT_TIMES, corr)},
                     **{f"relL2@{t:g}": r for t, r in zip(REPORT_TIMES, rel)},
                     "diverged": result["diverged"]})
        print(f"  {label:>20}: duration {rows[-1]['duration']:.3f}; corr "
              + ", ".join(f"t={t:g}: {c:.3f}" for t, c in zip(REPORT_TIMES, corr))
              + "; rel. L2 " + ", ".join(f"t={t:g}: {r:.3f}" for t, r in zip(REPORT_TIMES, rel))
              + (f"; {result['diverged']} diverged" if result["diverged"] else ""), flush=True)

    print("\n## One sub-solver alone: coarse simulation on (32/s)², sub-field (s-1, s-1)")
    coarse_rows = []
    uv_ref = reference_frames(test, args.samples, n_frames)
    for s, t in CONFIGS:
        if s == 1:
            continue
        solver = solvers[(s, t)]
        coarse = solver.coarse()
        result = curves(score(coarse, test, horizon=args.horizon, n_samples=args.samples,
                              latency_duration=None))
        # the same sub-field taken from the full fine simulation (all sub-solvers)
        fine_sub = subfield_curves(fine_frames[f"stagger s={s} s_T={t}"], uv_ref, result["time"],
                                   s, coarse.a, coarse.b, flow.domain_size)
        base, base_solver = coarse_dns_row(test, flow, size // s, args.horizon, args.samples)
        row = {"set": f"s={s} s_T={t}", "coarse grid": f"{size // s}²",
               "duration alone": result["duration"],
               "duration in fine run": fine_sub["duration"],
               "coarse DNS duration (face avg.)": base["duration"]}
        for name, res in (("alone", result), ("in fine run", fine_sub), ("dns", base)):
            for tt, c in zip(REPORT_TIMES, at_times(res["correlation"], result["time"])):
                row[f"corr@{tt:g} {name}"] = c
        coarse_rows.append((row, coarse, base_solver))
        print(f"  s={s} s_T={t} alone on {size // s}²: duration {row['duration alone']:.3f}, corr "
              + ", ".join(f"t={tt:g}: {c:.3f}" for tt, c in
                          zip(REPORT_TIMES, at_times(result["correlation"], result["time"])))
              + f", rel. L2 t=1: {at_times(result['relative_l2'], result['time'])[1]:.3f}")
        print(f"      same sub-field of the full fine run: duration "
              f"{row['duration in fine run']:.3f}; DNS-{size // s} against the face-averaged "
              f"reference: duration {row['coarse DNS duration (face avg.)']:.3f}", flush=True)

    print("\n## Latency per simulated time unit (batch 1, compile excluded; measured side by side, "
          f"min over {args.latency_repeats} interleaved passes)")
    uv0 = uv_ref[0, 0]
    timed = [(r["solver"], e[2], uv0) for r, e in zip(rows, entries)]
    for row, coarse, base_solver in coarse_rows:
        c0 = np.asarray(coarse.reference_view(uv0))
        timed.append((f"{row['set']} one sub-solver ({coarse.size}²)", coarse, c0))
        down = np.asarray(dns.downsample_velocity(jnp.asarray(uv0), base_solver.size,
                                                  flow.domain_size))
        timed.append((f"dns-{base_solver.size}", base_solver, down))
    variants = []
    for s, t in CONFIGS:
        for weights in ("separate", "joint"):
            model = dataclasses.replace(get_train_preset("mini", "stagger").model, s=s,
                                        s_time=t, hidden=args.hidden, depth=args.depth,
                                        weights=weights)
            if s == 1 and weights == "joint":
                continue  # identical to s=1 shared: one tower on the fine grid
            solver = StaggeredSolver.from_model(flow, size, build_stagger_model(model),
                                                name=f"{weights} s={s} s_T={t}")
            variants.append((f"{weights} s={s} s_T={t} (untrained)", solver, uv0))
    timed += variants
    latency = {label: float("inf") for label, _, _ in timed}
    for _ in range(args.latency_repeats):
        for label, solver, state in timed:
            latency[label] = min(latency[label], measure_latency(solver, state, duration=1.0))
    base = latency["stagger s=1 s_T=1"]
    dns_latency = latency["dns-32"]
    for row in rows:
        row["latency_s_per_tu"] = latency[row["solver"]]
        row["speedup_vs_(1,1)"] = base / latency[row["solver"]]
    for label, _, _ in timed:
        print(f"  {label:>40}: {latency[label]:.4f} s/t.u.  (x{base / latency[label]:.2f} vs "
              f"shared s=1 s_T=1, x{dns_latency / latency[label]:.2f} vs dns-32)", flush=True)
    for s, t in ((2, 2), (4, 1)):
        label = f"stagger s={s} s_T={t}"
        separate_base = latency["separate s=1 s_T=1 (untrained)"]
        print(f"  speed-up of ({s},{t}) over (1,1) at equal width: shared "
              f"{base / latency[label]:.2f}x, separate "
              f"{separate_base / latency[f'separate s={s} s_T={t} (untrained)']:.2f}x, "
              f"joint {base / latency[f'joint s={s} s_T={t} (untrained)']:.2f}x")

    tower_rows = tower_study(Path(args.data) / "train.zarr", args.hidden, args.depth)

    # tables
    for row in rows:
        key = (row["s"], row["s_T"]) if row["s"] != "" else None
        if key:
            info = train_info[key]
            row.update({"train_s": info["train_s"], "train_updates_per_s": info["steps_per_s"],
                        "residual_first": info["first_residual"],
                        "residual_final": info["final_residual"],
                        "divergence_final": info["final_divergence"]})
    columns = ["solver", "grid", "sub-solver grid", "duration",
               *[f"corr@{t:g}" for t in REPORT_TIMES], *[f"relL2@{t:g}" for t in REPORT_TIMES],
               "latency_s_per_tu", "speedup_vs_(1,1)", "diverged", "train_updates_per_s",
               "residual_first", "residual_final", "divergence_final"]
    table = [{c: (fmt(r[c], 4) if isinstance(r.get(c), float) else r.get(c, "")) for c in columns}
             for r in rows]
    with open(out / "stagger_study.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    coarse_table = [{k: (fmt(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                    for r, _, _ in coarse_rows]
    coarse_columns = list(coarse_rows[0][0]) if coarse_rows else []
    latency_rows = [{"solver": label, "latency_s_per_tu": fmt(latency[label], 4),
                     "speedup_vs_shared_(1,1)": fmt(base / latency[label], 2)}
                    for label, _, _ in timed]
    tower_table = [{k: (fmt(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
                   for r in tower_rows]
    md = ["# Staggered sub-solvers, mini flow (printed by experiments/stagger_study.py)", "",
          "## Fine simulation on 32² against the 256² reference", "", markdown(table, columns), "",
          "## One sub-solver alone on (32/s)²", "", markdown(coarse_table, coarse_columns), "",
          "## Latency per simulated time unit", "",
          markdown(latency_rows, ["solver", "latency_s_per_tu", "speedup_vs_shared_(1,1)"]), "",
          "## Decomposed tower", "",
          markdown(tower_table, ["grid", "s", "forward_ms", "speedup", "fit_relative_error"]), ""]
    (out / "stagger_study.md").write_text("\n".join(md))
    with open(out / "stagger_curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["solver", "time", "correlation", "relative_l2"])
        for label, result in curves_by_label.items():
            for t, c, r in zip(result["time"], result["correlation"], result["relative_l2"]):
                writer.writerow([label, f"{t:.4f}", f"{c:.5f}", f"{r:.5f}"])
    print(f"\ntables: {out / 'stagger_study.md'}, {out / 'stagger_study.csv'}, "
          f"{out / 'stagger_curves.csv'}")
    print(f"total wall-clock: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
