"""Spin-up of the DNS from the random initial condition: when is the flow statistically stationary?

Integrates ``--seeds`` random initial conditions (the generator's own:
``dns.random_initial_velocity``, maximum speed 7 peaked at wavenumber 4) with
the reference DNS of a data preset (its fine grid and fine time step) for
``--duration`` time units, and records the kinetic energy ½⟨u² + v²⟩ and the
enstrophy ½⟨ω²⟩ on the fine grid every ``--every`` time units.  For each flow:

* the **stationary mean** of each quantity: its mean over seeds and over the
  last ``--stationary`` time units;
* the **spin-up time**: the first time after which the running mean (the
  seed mean over a trailing window of ``--window`` time units) stays within a
  band around the stationary mean until the end; the band is ``--tolerance``
  (relative), or twice the running mean's own standard deviation over the
  stationary window if that is larger (a finite number of seeds fluctuates:
  the band then says "indistinguishable from the stationary flow at this
  sample size", and is printed);
* a table of both quantities against time.

Flows: ``default`` (the preset's Kolmogorov flow, Re = 1000), and the
out-of-distribution settings the package offers (``experiments/generalisation.py``):
``re4000`` (viscosity 2.5e-4), ``domain4pi`` ([0, 4π]² with the model grid
doubled and the same fine grid, as in the generalisation study), ``decaying``
(no forcing: no stationary state, its energy decays; printed for reference).

Usage (the numbers in docs/store.md; output in experiments/results/spinup_*.txt)::

    python experiments/spinup.py --preset mini --csv experiments/results/spinup_mini.csv
    python experiments/spinup.py --preset quickstart --csv experiments/results/spinup_quickstart.csv
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.evaluation import metrics
from neuralpde.numerics.time_stepping import repeated
from neuralpde.physics import dns
from neuralpde.store.plan import plan_split
from neuralpde.store.presets import get_preset, with_overrides

FLOWS = {
    "default": {},
    "re4000": dict(flow={"viscosity": 2.5e-4}),
    "domain4pi": dict(flow={"domain_size": 4 * math.pi}, model_scale=2),
    "decaying": dict(flow_kind="decaying"),
}
REPORT_TIMES = (0, 1, 2, 3, 5, 7.5, 10, 12.5, 15, 20, 25, 30, 40, 50, 60, 80)
DECAY_SHOWN = 20.0


def flow_preset(name: str, base: str):
    """The preset whose DNS (flow, fine grid, fine step) the spin-up of flow ``name`` runs."""
    preset = get_preset(base)
    fields = dict(FLOWS[name])
    scale = fields.pop("model_scale", 1)
    if scale != 1:
        fields.update(model_size=preset.model_size * scale, initial_sizes=())
    return with_overrides(preset, **fields) if fields else preset


def trajectory(preset, seeds: int, duration: float, every: float):
    """(times, energy (seeds, T), enstrophy (seeds, T)) on the fine grid."""
    plan = plan_split(preset, "train")
    fine = preset.fine_size
    domain = preset.flow.domain_size
    dt_fine = plan.dt_model / plan.inner_steps
    per_record = max(1, round(every / dt_fine))
    n_records = int(math.floor(duration / (per_record * dt_fine) + 1e-9))
    step = repeated(dns.finite_volume_step(preset.flow, fine, dt_fine), per_record)
    dx = domain / fine

    def observe(uv):
        w = metrics.vorticity(uv[:, 0], uv[:, 1], dx)
        return metrics.kinetic_energy(uv[:, 0], uv[:, 1]), metrics.enstrophy(w)

    @jax.jit
    def run(uv):
        def body(state, _):
            state = jax.vmap(step)(state)
            return state, observe(state)

        _, (energy, enstrophy) = jax.lax.scan(body, uv, None, length=n_records)
        e0, z0 = observe(uv)
        return (jnp.concatenate([e0[None], energy]), jnp.concatenate([z0[None], enstrophy]))

    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(12345), i))(jnp.arange(seeds))
    uv0 = jax.vmap(lambda k: dns.random_initial_velocity(k, preset.flow, fine))(keys)
    energy, enstrophy = (np.asarray(a, np.float64).T for a in run(uv0))
    times = np.arange(n_records + 1) * per_record * dt_fine
    return times, energy, enstrophy, dt_fine


def spin_up(times, values, window: float, stationary: float, tolerance: float):
    """(stationary mean, band, noise, spin-up time or None, running mean) of a (seeds, T) series.

    ``noise``: the standard deviation of the running mean over the stationary
    window; ``band = max(tolerance * |mean|, 2 * noise)``.
    """
    mean = values.mean(axis=0)
    tail = times >= times[-1] - stationary
    target = float(mean[tail].mean())
    spacing = times[1] - times[0]
    width = max(1, int(round(window / spacing)))
    running = np.array([mean[max(0, i - width + 1):i + 1].mean() for i in range(len(mean))])
    noise = float(running[tail].std())
    band = max(tolerance * abs(target), 2 * noise)
    ok = np.abs(running - target) <= band
    bad = np.nonzero(~ok)[0]
    if bad.size == 0:
        return target, band, noise, float(times[0]), running
    first_good = bad[-1] + 1
    return (target, band, noise,
            float(times[first_good]) if first_good < len(times) else None, running)


def write_csv(path, flow: str, times, energy, enstrophy) -> None:
    """Append one flow's series (every seed) to a CSV: flow, seed, time, energy, enstrophy."""
    import csv
    from pathlib import Path

    new = not Path(path).exists()
    with open(path, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["flow", "seed", "time", "energy", "enstrophy"])
        for seed in range(energy.shape[0]):
            for t, e, z in zip(times, energy[seed], enstrophy[seed]):
                writer.writerow([flow, seed, f"{t:.4f}", f"{e:.6g}", f"{z:.6g}"])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="mini", help="data preset whose DNS is run")
    parser.add_argument("--flows", nargs="+", default=list(FLOWS), choices=list(FLOWS))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=0.25, help="time units between records")
    parser.add_argument("--window", type=float, default=5.0,
                        help="running-mean window (time units): long enough to average out the "
                             "stationary flow's fluctuations")
    parser.add_argument("--stationary", type=float, default=30.0,
                        help="final time units that define the stationary mean")
    parser.add_argument("--tolerance", type=float, default=0.1)
    parser.add_argument("--csv", help="also write every seed's series to this CSV file")
    args = parser.parse_args(argv)
    print(f"# Spin-up of the {args.preset} reference DNS")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{jax.devices()[0].platform}, JAX {jax.__version__}")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{args.seeds} seeds x {args.duration:g} time units; stationary mean over the last "
          f"{args.stationary:g}; running mean over {args.window:g}; tolerance "
          f"{args.tolerance:.0%}")
    for name in args.flows:
        preset = flow_preset(name, args.preset)
        start = time.perf_counter()
        # decaying turbulence has no stationary state to wait for: its decay over 20 t.u. is shown
        duration = min(args.duration, DECAY_SHOWN) if name == "decaying" else args.duration
        times, energy, enstrophy, dt_fine = trajectory(preset, args.seeds, duration, args.every)
        print(f"\n## {name}: {preset.fine_size}² on [0, {preset.flow.domain_size:.4g}]², "
              f"viscosity {preset.flow.viscosity:g}, dt_fine {dt_fine:.5g} "
              f"({time.perf_counter() - start:.0f} s)")
        if args.csv:
            write_csv(args.csv, name, times, energy, enstrophy)
        rows = {}
        for label, values in (("energy", energy), ("enstrophy", enstrophy)):
            target, band, noise, t_star, running = spin_up(times, values, args.window,
                                                           args.stationary, args.tolerance)
            rows[label] = running
            if name == "decaying":
                print(f"  {label}: no stationary state (decays from {values.mean(0)[0]:.3g} to "
                      f"{values.mean(0)[-1]:.3g})")
            else:
                spread = values[:, times >= times[-1] - args.stationary].mean(axis=1)
                print(f"  {label}: stationary mean {target:.4g} (per seed {np.round(spread, 3)}); "
                      f"running-mean noise {noise / abs(target):.1%}, "
                      f"band ±{band / abs(target):.1%}; "
                      f"spin-up {'not-reached' if t_star is None else f'{t_star:.2f}'} time units")
        print("  | t | energy (seed mean) | running mean | enstrophy (seed mean) | running mean |")
        print("  |---|---|---|---|---|")
        for t in REPORT_TIMES:
            if t > times[-1] + 1e-9:
                break
            i = int(np.argmin(np.abs(times - t)))
            print(f"  | {times[i]:.2f} | {energy.mean(0)[i]:.4g} | {rows['energy'][i]:.4g} | "
                  f"{enstrophy.mean(0)[i]:.4g} | {rows['enstrophy'][i]:.4g} |")


if __name__ == "__main__":
    main()
