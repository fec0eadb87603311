"""Inference latency per simulated time unit: TSM-HiPPO (bundled) vs LI vs DNS, side by side.

Latency does not depend on the weights, so the models are freshly initialised
with the tower and memory sizes of a training preset.  Every solver rolls out
(batch 1) from the same random state — TSM from a 32-frame prefix of DNS
frames — for ``--duration`` time units after a compile-and-warm-up run; the
solvers are timed in interleaved rounds and the median of ``--repeats`` rounds
is reported, with ratios to LI and to DNS on the model grid.  The published
claim is TSM-HiPPO (B = 4) at <= 0.8x LI.  Then the network call alone is
timed (per model step) for LI and TSM-HiPPO: bundling divides only that part
of a model step, the finite-volume step with learned stencils stays; that step
is timed too, with the stencils of one network call held fixed, beside the DNS
step (van Leer) on the same grid.

Usage::

    python benchmarks/tsm_latency.py                      # mini sizes: 32², 4 x 32 tower, N = 32
    python benchmarks/tsm_latency.py --preset paper       # 64², 6 x 256 tower, N = 256 (GPU)
    python benchmarks/tsm_latency.py --count-only         # multiply-adds per cell and step only
    python benchmarks/tsm_latency.py --hippo-measure legt --hippo-order 8 --hippo-theta 16
    python benchmarks/tsm_latency.py --decompose 2        # also both towers on the 4 sub-fields

With ``--decompose S`` the LI and TSM-HiPPO towers run a second time on the s²
interleaved sub-fields at N/S (the model configs' ``decompose``), in the same
interleaved rounds, and their ratios to the undecomposed models are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import with_fields
from neuralpde.physics import dns
from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.base import history_frames, substeps
from neuralpde.solvers.classical import classical_solver
from neuralpde.solvers.learned import learned_convection
from neuralpde.solvers.rollout import device_name, measure_latency
from neuralpde.training.config import get_train_preset
from neuralpde.training.kinds import KINDS

MODEL_SIZES = {"quickstart": 32, "mini": 32, "paper": 64}


def prefix_frames(flow, size: int, k: int) -> np.ndarray:
    """``k`` consecutive DNS frames on the model grid from a random state."""
    step = jax.jit(dns.finite_volume_step(flow, size, dns.model_time_step(flow, size)))
    frames = [dns.random_initial_velocity(jax.random.PRNGKey(0), flow, size)]
    for _ in range(k - 1):
        frames.append(step(frames[-1]))
    return np.asarray(jnp.stack(frames))


def multiply_adds_per_cell_step(solver) -> int:
    """Network multiply-adds per cell and model step: every conv kernel's size, divided by
    the steps one network call serves (1 for LI, B for TSM); the HiPPO update adds 2N²."""
    kernels = [leaf for leaf in jax.tree.leaves(solver.params) if getattr(leaf, "ndim", 0) == 4]
    per_call = sum(int(np.prod(kernel.shape)) for kernel in kernels)
    hippo = getattr(solver, "encoder", None)
    memory = 2 * hippo.hippo.order ** 2 if hasattr(hippo, "hippo") else 0
    return per_call // substeps(solver) + memory


def median_seconds(run, x, repeats: int) -> float:
    """Median wall-clock of ``run(x)`` over ``repeats`` calls after one compile-and-warm-up call."""
    jax.block_until_ready(run(x))
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run(x))
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def network_seconds_per_model_step(solver, inputs, calls: int = 64, repeats: int = 3) -> float:
    """Wall-clock of the network call alone, per model step (one call serves ``substeps``).

    ``calls`` calls inside one compiled scan, each input nudged by the previous
    output so the call cannot be hoisted out of the loop; median of ``repeats``.
    """
    model = solver.model()
    if hasattr(solver, "encoder"):  # TSM: the features of the encoded prefix
        x = solver.encoder.features(solver.init(jnp.asarray(inputs)).memory)
    else:  # LI: the velocity
        x = jnp.asarray(inputs)

    @jax.jit
    def run(x):
        def body(x, _):
            out = model(x)
            first = jax.tree.leaves(out)[0]
            return x + 1e-12 * jnp.mean(first), None
        return jax.lax.scan(body, x, None, length=calls)[0]

    return median_seconds(run, x, repeats) / calls / substeps(solver)


def fixed_stencil_step_seconds(solver, inputs, steps: int = 64, repeats: int = 3) -> float:
    """Wall-clock of one finite-volume step with fixed learned stencils (no network), per step.

    The coefficients of one network call (LI: of the input velocity; TSM: the
    first of its bundle) are held fixed and ``steps`` steps run inside one
    compiled scan: the learned convection (the stencils, the van Leer limiter),
    the explicit terms and the pressure projection, which bundling does not divide.
    """
    model = solver.model()
    if hasattr(solver, "encoder"):  # TSM
        state = solver.init(jnp.asarray(inputs))
        coefficients, uv = model(solver.encoder.features(state.memory))[0], state.velocity
        dt = solver.dt_model
    else:
        uv = jnp.asarray(inputs)
        coefficients, dt = model(uv), solver.dt
    step = dns.finite_volume_step(solver.flow, solver.size, dt,
                                  convect=learned_convection(coefficients, limiter=solver.limiter))

    @jax.jit
    def run(uv):
        return jax.lax.scan(lambda u, _: (step(u), None), uv, None, length=steps)[0]

    return median_seconds(run, uv, repeats) / steps


def memory_label(model) -> str:
    """``'legt N = 8, theta 16'``: the HiPPO memory of a TSM model config."""
    theta = f", theta {model.hippo_theta:g}" if model.hippo_theta else ""
    return f"{model.hippo_measure} N = {model.hippo_order}{theta}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="mini", choices=sorted(MODEL_SIZES),
                        help="training preset whose model sizes are timed")
    parser.add_argument("--bundle", type=int, default=4, help="TSM temporal bundle B")
    parser.add_argument("--hippo-measure", choices=("lagt", "legt", "legs"),
                        help="HiPPO measure (default: the preset's)")
    parser.add_argument("--hippo-order", type=int, help="HiPPO order N (default: the preset's)")
    parser.add_argument("--hippo-theta", type=float, help="LegT window in frames (0: the prefix)")
    parser.add_argument("--duration", type=float, default=0.5, help="simulated time units per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--decompose", type=int, default=1,
                        help="also time both towers on the S^2 interleaved sub-fields (1: no)")
    parser.add_argument("--count-only", action="store_true",
                        help="print the multiply-add counts and stop (no timing)")
    args = parser.parse_args(argv)

    flow, size = KolmogorovFlow(), MODEL_SIZES[args.preset]
    base = get_train_preset(args.preset)
    configs = {"li": base.model,
               "tsm-hippo": with_fields(
                   get_train_preset(args.preset, "tsm-hippo"), bundle=args.bundle,
                   hippo_measure=args.hippo_measure, hippo_order=args.hippo_order,
                   hippo_theta=args.hippo_theta).model}
    if args.decompose > 1:
        for name in ("li", "tsm-hippo"):
            configs[f"{name}-decompose{args.decompose}"] = with_fields(
                configs[name], decompose=args.decompose)
    solvers = {"dns": classical_solver("dns", flow, size)}
    for name, model in configs.items():
        solvers[name] = KINDS[model.kind_name].build_solver(model, 0, flow, size,
                                                            name=f"{name}-{size}")
    macs = {name: multiply_adds_per_cell_step(solvers[name]) for name in configs}
    print(f"network multiply-adds per cell and model step: LI {macs['li']:,}, TSM-HiPPO "
          f"{macs['tsm-hippo']:,} (incl. the HiPPO update) = "
          f"x{macs['tsm-hippo'] / macs['li']:.2f} LI")
    if args.count_only:
        return
    prefix = prefix_frames(flow, size, configs["tsm-hippo"].prefix)
    inputs = {name: prefix if history_frames(solvers[name]) else prefix[-1] for name in configs}
    inputs["dns"] = prefix[-1]

    print(f"device: {device_name()}, jax {jax.__version__}")
    print(f"preset {args.preset}: {size}², tower {base.model.depth} x {base.model.hidden}, "
          f"HiPPO {memory_label(configs['tsm-hippo'])}, "
          f"prefix {configs['tsm-hippo'].prefix}, bundle {args.bundle}; batch 1, "
          f"{args.duration} time units per run, median of {args.repeats} interleaved rounds")
    samples = {name: [] for name in solvers}
    for name, solver in solvers.items():  # compile + warm-up
        measure_latency(solver, inputs[name], duration=args.duration, repeats=1)
    for _ in range(args.repeats):
        for name, solver in solvers.items():
            samples[name].append(measure_latency(solver, inputs[name], duration=args.duration,
                                                 repeats=1))
    median = {name: statistics.median(values) for name, values in samples.items()}
    for name, solver in solvers.items():
        print(f"  {solver.name:<24} {median[name]:.4g} s per time unit   "
              f"x{median[name] / median['li']:.3f} LI   x{median[name] / median['dns']:.2f} DNS   "
              f"(dt {solver.dt:.5g}; all: {', '.join(f'{v:.4g}' for v in samples[name])})")
    for name in configs:
        network = network_seconds_per_model_step(solvers[name], inputs[name])
        step = median[name] * solvers[name].dt / substeps(solvers[name])  # s per model step
        fixed = fixed_stencil_step_seconds(solvers[name], inputs[name])
        print(f"  {solvers[name].name:<24} network alone {network * 1e3:.3f} ms per model step = "
              f"{100 * network / step:.0f}% of its {step * 1e3:.3f} ms model step; the step with "
              f"fixed stencils {fixed * 1e3:.3f} ms = {100 * fixed / step:.0f}% (DNS step "
              f"{median['dns'] * solvers['dns'].dt * 1e3:.3f} ms)")
    for name in configs:
        if "-decompose" in name:
            plain = name.split("-decompose")[0]
            print(f"{name} / {plain} = {median[name] / median[plain]:.3f}")
    ratio = median["tsm-hippo"] / median["li"]
    print(f"TSM-HiPPO (B = {args.bundle}) / LI = {ratio:.3f}  (published claim <= 0.8: "
          f"{'met' if ratio <= 0.8 else 'not met'} here)")


if __name__ == "__main__":
    main()
