"""Generation throughput: neuralpde's pipeline vs a plain jit loop over jax-cfd.

Both integrate the same problem (Kolmogorov flow, the same fine grid, batch and
number of fine steps).  The pipeline is ``neuralpde.generate.generate_split``
end to end (initial conditions, warm-up, downsampling every model step, zarr
writes, resume-log saves); the plain loop is ``jit(vmap(repeated(step)))`` of
jax-cfd's ``semi_implicit_navier_stokes`` on GridVariables.  Compilation is
excluded from both (each is run once first).  Runs alternate, and the
median ratio of ``repeats`` pairs is printed, since this machine is noisy.

Usage::

    python benchmarks/generation_throughput.py                    # CPU: 32² from 256²
    python benchmarks/generation_throughput.py --fine-size 1024 --model-size 64 --batch 8   # GPU
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import jax

from neuralpde.physics.jaxcfd import cfd
from neuralpde.store.generate import generate_split
from neuralpde.store.plan import plan_split
from neuralpde.store.presets import get_preset, with_overrides


def plain_jax_cfd_loop(preset, batch: int, fine_steps: int):
    """A jit loop calling jax-cfd directly: the anchor's way of running it."""
    flow, n = preset.flow, preset.fine_size
    grid = cfd.grids.Grid((n, n), domain=((0, flow.domain_size), (0, flow.domain_size)))
    dt = preset.dt_model / preset.inner_steps
    forcing = cfd.forcings.simple_turbulence_forcing(
        grid, constant_magnitude=flow.forcing_amplitude,
        constant_wavenumber=flow.forcing_wavenumber, linear_coefficient=-flow.linear_drag,
        forcing_type="kolmogorov")
    step = cfd.equations.semi_implicit_navier_stokes(
        density=flow.density, viscosity=flow.viscosity, dt=dt, grid=grid, forcing=forcing)
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    v0 = jax.vmap(lambda k: cfd.initial_conditions.filtered_velocity_field(
        k, grid, flow.max_velocity, flow.peak_wavenumber))(keys)
    run = jax.jit(jax.vmap(cfd.funcutils.repeated(step, fine_steps)))
    jax.block_until_ready(run(v0))

    def timed() -> float:
        start = time.perf_counter()
        jax.block_until_ready(run(v0))
        return time.perf_counter() - start

    return timed


def pipeline(preset, workdir: Path):
    counter = iter(range(10**6))

    def timed() -> float:
        path = workdir / f"run{next(counter)}.zarr"
        start = time.perf_counter()
        generate_split(preset, "train", path, progress=False)
        return time.perf_counter() - start

    timed()  # compile
    return timed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-size", type=int, default=32)
    parser.add_argument("--fine-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=2, help="trajectories per batch")
    parser.add_argument("--model-steps", type=int, default=240, help="model steps per trajectory")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    # the finite-volume reference throughout: the plain loop it is compared with is jax-cfd's FV
    base = with_overrides(get_preset("mini"), model_size=args.model_size, fine_size=args.fine_size,
                          initial_sizes=(), batch_size=args.batch, n_samples=args.batch,
                          reference_solver="fv", warmup_size=0)
    dt = base.dt_model
    warmup_steps = args.model_steps // 4
    preset = with_overrides(base, split="train", warmup=warmup_steps * dt,
                            duration=(args.model_steps - warmup_steps) * dt, save_every=1,
                            time_chunk=64)
    plan = plan_split(preset, "train")
    fine_steps = plan.model_steps * plan.inner_steps
    cells = args.fine_size ** 2 * args.batch * fine_steps

    with tempfile.TemporaryDirectory() as tmp:
        timed_pipeline = pipeline(preset, Path(tmp))
        timed_plain = plain_jax_cfd_loop(preset, args.batch, fine_steps)
        ratios, rates_pipe, rates_plain = [], [], []
        for _ in range(args.repeats):
            t_plain = timed_plain()
            t_pipe = timed_pipeline()
            rates_plain.append(cells / t_plain)
            rates_pipe.append(cells / t_pipe)
            ratios.append(t_plain / t_pipe)

    device = jax.devices()[0]
    print(f"device: {device.platform} {getattr(device, 'device_kind', '')} x{jax.device_count()}")
    print(f"problem: {args.fine_size}² fine grid -> {args.model_size}² model grid, "
          f"batch {args.batch}, {fine_steps} fine steps per trajectory "
          f"({plan.inner_steps} per model step, a frame saved every model step)")
    print(f"plain jax-cfd jit loop : {statistics.median(rates_plain) / 1e6:8.2f} Mcell-steps/s "
          f"({statistics.median(rates_plain) / args.fine_size ** 2:,.0f} sample-steps/s)")
    print(f"neuralpde pipeline     : {statistics.median(rates_pipe) / 1e6:8.2f} Mcell-steps/s "
          f"({statistics.median(rates_pipe) / args.fine_size ** 2:,.0f} sample-steps/s)")
    print(f"pipeline / plain (median of {args.repeats}): {statistics.median(ratios):.3f}  "
          f"(all: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
