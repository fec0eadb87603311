"""Training throughput and inference latency of learned interpolation, with DNS as the yardstick.

Prints, for a training preset (``mini`` on CPU, ``paper`` on a GPU):

* training updates per second (batch × unroll solver steps with gradients),
  compile excluded, median of ``--repeats`` timed blocks;
* inference latency per simulated time unit (batch 1) of the LI solver and of
  van Leer DNS on the same grid, measured side by side in the same run.

Windows are cut from a short DNS rollout made on the spot (the numbers do not
depend on the data).  Usage::

    python benchmarks/training_throughput.py                      # mini preset, 32² grid
    python benchmarks/training_throughput.py --preset paper --size 64   # GPU
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.classical import FiniteVolumeSolver
from neuralpde.solvers.learned import LearnedSolver, build_li_model
from neuralpde.solvers.rollout import device_name, measure_latency
from neuralpde.training.config import get_train_preset
from neuralpde.training.optim import make_optimizer
from neuralpde.training.windowed import make_windowed_step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--size", type=int, default=32, help="model grid")
    parser.add_argument("--steps", type=int, default=10, help="timed updates per block")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    config = get_train_preset(args.preset)
    flow = KolmogorovFlow()
    dns_solver = FiniteVolumeSolver(flow, args.size)
    uv0 = dns.random_initial_velocity(jax.random.PRNGKey(0), flow, args.size)
    run = jax.jit(lambda uv: jax.lax.scan(lambda c, _: (dns_solver.step(c), dns_solver.step(c)),
                                          uv, None, length=config.unroll + 64)[1])
    trajectory = run(uv0)
    windows = jnp.stack([trajectory[i:i + config.unroll + 1] for i in range(config.batch_size)])

    model = build_li_model(config.model, config.seed)
    solver = LearnedSolver.from_model(flow, args.size, model, limiter=config.model.limiter)
    optimizer = make_optimizer(config)
    step = make_windowed_step(solver, optimizer, config.loss)
    params, opt_state, skipped = solver.params, optimizer.init(solver.params), jnp.int32(0)
    start = time.perf_counter()
    params, opt_state, _, skipped, stats = step(params, opt_state, {}, skipped, windows, 0)
    jax.block_until_ready(stats["loss"])
    compile_s = time.perf_counter() - start
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for k in range(args.steps):
            params, opt_state, _, skipped, stats = step(params, opt_state, {}, skipped, windows, k)
        jax.block_until_ready(stats["loss"])
        rates.append(args.steps / (time.perf_counter() - start))
    rate = statistics.median(rates)

    trained = solver.with_params(params)
    li_latency = measure_latency(trained, uv0, duration=1.0)
    dns_latency = measure_latency(dns_solver, uv0, duration=1.0)
    m = config.model
    print(f"device: {device_name()}")
    print(f"preset {args.preset}: {args.size}² grid, tower {m.depth} x {m.hidden} "
          f"(kernel {m.kernel}), batch {config.batch_size}, unroll {config.unroll}")
    print(f"training: {rate:.2f} updates/s ({rate * config.batch_size * config.unroll:.0f} "
          f"solver steps/s with gradients); first update incl. compile {compile_s:.1f} s; "
          f"{config.steps} updates ≈ {config.steps / rate / 60:.1f} min")
    print(f"inference latency, batch 1: LI {li_latency:.4f} s per time unit, "
          f"DNS-{args.size} {dns_latency:.4f} s per time unit, "
          f"LI/DNS = {li_latency / dns_latency:.2f}")


if __name__ == "__main__":
    main()
