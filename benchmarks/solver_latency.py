"""Cost per simulated time unit of coarse solvers, measured side by side in one run.

Every solver is rolled out from the same random initial condition (batch 1)
for ``--duration`` time units after a compile-and-warm-up run; the solvers
are timed in interleaved rounds and the median of ``--repeats`` rounds is
reported, with the ratio to van Leer DNS at the model grid.

Usage::

    python benchmarks/solver_latency.py                         # CPU, 32² model grid
    python benchmarks/solver_latency.py --model-size 64 --solvers dns weno5-js weno5-z dns-128
    python benchmarks/solver_latency.py --solvers dns dns-64 dns-128 spectral spectral-48 \
        spectral-64 spectral-128 weno5-z          # the two classical ladders side by side

A pseudo-spectral solver starts from the model-grid state (the timing does
not depend on where it starts).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from neuralpde.numerics.time_stepping import repeated
from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.base import input_size
from neuralpde.solvers.classical import classical_solver
from neuralpde.solvers.rollout import device_name


def timed_rollout(solver, uv0, duration: float):
    steps = max(1, round(duration / solver.dt))
    run = jax.jit(lambda uv: solver.velocity(repeated(solver.step, steps)(solver.init(uv))))
    jax.block_until_ready(run(uv0))

    def timed() -> float:
        start = time.perf_counter()
        jax.block_until_ready(run(uv0))
        return (time.perf_counter() - start) / (steps * solver.dt)

    return timed, steps


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-size", type=int, default=32)
    parser.add_argument("--solvers", nargs="+", default=["dns", "weno5-js", "weno5-z"])
    parser.add_argument("--duration", type=float, default=2.0, help="simulated time units per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    flow = KolmogorovFlow()
    solvers = [classical_solver(name, flow, args.model_size) for name in args.solvers]
    fine = max(input_size(s) for s in solvers)
    uv_fine = dns.random_initial_velocity(jax.random.PRNGKey(0), flow, fine)
    runs = {}
    for solver in solvers:
        uv0 = jnp.asarray(dns.downsample_velocity(uv_fine, input_size(solver)))
        runs[solver.name] = (solver, *timed_rollout(solver, uv0, args.duration))
    samples = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (_, timed, _) in runs.items():
            samples[name].append(timed())
    baseline = statistics.median(samples[solvers[0].name])
    print(f"device: {device_name()}; model grid {args.model_size}²; {args.duration} time units "
          f"per run, median of {args.repeats} interleaved rounds")
    print(f"{'solver':>14} {'grid':>5} {'dt':>9} {'steps/t.u.':>10} {'s per t.u.':>11} "
          f"{'x ' + solvers[0].name:>10}")
    for name, (solver, _, _steps) in runs.items():
        latency = statistics.median(samples[name])
        print(f"{name:>14} {solver.size:>5} {solver.dt:>9.6f} {1 / solver.dt:>10.1f} "
              f"{latency:>11.5f} {latency / baseline:>10.2f}")


if __name__ == "__main__":
    main()
