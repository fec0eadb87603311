r"""Will a run fit, and how long will it take?  Compile-only estimates (``neuralpde plan``).

Nothing here runs a step: each jitted step of a preset (one fine DNS step of
generation, one generation block, one training update) is traced with abstract
inputs (``jax.ShapeDtypeStruct``), compiled for the local backend, and read:

* memory per device from XLA's buffer assignment
  (``Compiled.memory_analysis()``): arguments + outputs − donated aliases +
  temporaries + generated code — the peak the program needs, before the
  allocator's fragmentation and the runtime's own reserve;
* floating-point operations and bytes accessed per call from XLA's cost
  analysis (``Compiled.cost_analysis()``);
* wall time on a device class as a roofline lower bound (Williams, Waterman &
  Patterson 2009, "Roofline: an insightful visual performance model", CACM
  52(4)): ``t = max(flops / peak FLOP/s, bytes / memory bandwidth)`` per call,
  times the number of calls.  Real code reaches a fraction of the roofline
  (launch overheads, imperfect fusion); ``experiments/gpu_check.py`` prints the
  measured time beside this estimate so the ratio is known for a device.

Compiled on CPU, the memory is that of the CPU program: XLA's GPU and TPU
compilers fuse differently and may rematerialise on their own, so an
accelerator's figure can differ by tens of percent either way (not by orders
of magnitude: the buffers that dominate — activations kept for the backward
pass, the fine-grid states — are the same arrays).  Compile on the target
device for its own figure (``neuralpde plan`` there, or the GPU check).

Device classes (:data:`DEVICE_CLASSES`): peak FP32 (vector) and tensor-core
(TF32 dense for NVIDIA, bf16 for TPU) FLOP/s, memory bandwidth and memory, from
the vendors' datasheets named in each entry.  Generation (stencils) is costed at
the FP32 peak, training (convolutions, which JAX runs in TF32 on NVIDIA tensor
cores by default) at the tensor peak.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from neuralpde.config import ConfigError
from neuralpde.sharding import batch_mesh, batch_sharding, padded_batch
from neuralpde.solvers.base import history_frames
from neuralpde.store.kernels import SplitKernels
from neuralpde.store.plan import plan_split
from neuralpde.store.presets import Preset

GB = 1e9


@dataclasses.dataclass(frozen=True)
class DeviceClass:
    """Peak figures of one accelerator (per chip)."""

    name: str
    fp32_flops: float      # FLOP/s, FP32 vector units
    tensor_flops: float    # FLOP/s, matrix units (TF32 dense / bf16 on TPU)
    bandwidth: float       # bytes/s, device memory
    memory: float          # bytes
    source: str


#: Vendor datasheet figures (dense, no structured sparsity).
DEVICE_CLASSES = {
    "h100": DeviceClass("NVIDIA H100 SXM5 80GB", 67e12, 494.7e12, 3.35e12, 80e9,
                        "NVIDIA H100 Tensor Core GPU datasheet (SXM5)"),
    "h200": DeviceClass("NVIDIA H200 SXM 141GB", 67e12, 494.7e12, 4.8e12, 141e9,
                        "NVIDIA H200 Tensor Core GPU datasheet (SXM)"),
    "a100": DeviceClass("NVIDIA A100 SXM4 80GB", 19.5e12, 156e12, 2.039e12, 80e9,
                        "NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB)"),
    "l4": DeviceClass("NVIDIA L4 24GB", 30.3e12, 60e12, 0.3e12, 24e9,
                      "NVIDIA L4 Tensor Core GPU datasheet"),
    "tpu-v4": DeviceClass("Google TPU v4 (per chip)", 275e12 / 8, 275e12, 1.2e12, 32 * 2**30,
                          "Google Cloud TPU v4 documentation (bf16 peak; FP32 vector peak "
                          "taken as 1/8 of it, an assumption)"),
    "tpu-v5e": DeviceClass("Google TPU v5e (per chip)", 197e12 / 8, 197e12, 0.819e12, 16 * 2**30,
                           "Google Cloud TPU v5e documentation (bf16 peak; FP32 vector peak "
                           "taken as 1/8 of it, an assumption)"),
}


@dataclasses.dataclass(frozen=True)
class StepCost:
    """What XLA says about one compiled call (per device)."""

    name: str
    memory_bytes: float   # peak of the buffer assignment
    flops: float          # per call
    bytes_accessed: float  # per call
    calls: float          # calls in the planned job (per device)
    tensor: bool          # costed at the tensor-core peak

    def seconds(self, device: DeviceClass) -> float:
        """Roofline lower bound of the whole job on one device of ``device``'s class."""
        peak = device.tensor_flops if self.tensor else device.fp32_flops
        return self.calls * max(self.flops / peak, self.bytes_accessed / device.bandwidth)


def compiled_cost(function, *args) -> tuple:
    """``(memory bytes, flops, bytes accessed)`` of ``jax.jit(function)`` compiled for ``args``.

    ``args``: arrays or ``jax.ShapeDtypeStruct``; nothing is executed.
    """
    jitted = function if hasattr(function, "lower") else jax.jit(function)
    compiled = jitted.lower(*args).compile()
    memory = compiled.memory_analysis()
    peak = 0.0
    if memory is not None:
        peak = float(memory.argument_size_in_bytes + memory.output_size_in_bytes
                     - memory.alias_size_in_bytes + memory.temp_size_in_bytes
                     + memory.generated_code_size_in_bytes)
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older JAX: one dict per computation
        cost = cost[0] if cost else {}
    cost = cost or {}
    return peak, float(cost.get("flops", 0.0)), float(cost.get("bytes accessed", 0.0))


def _one_device_sharding():
    return batch_sharding(batch_mesh([jax.devices()[0]]))


def generation_costs(preset: Preset, devices: int = 1) -> tuple:
    """``(costs, sizes)`` of generating every split of ``preset`` on ``devices`` devices.

    ``costs``: a :class:`StepCost` per split for the fine DNS step (FLOPs per
    call = per step of a per-device batch; the pipeline integrates
    ``batch_size`` samples at a time, padded to a multiple of the devices, so
    a batch smaller than the device count leaves devices computing padding),
    with the memory of one generation block (``time_chunk`` frames) as its
    memory; ``sizes``: bytes on disk per
    split, uncompressed float32 (u, v frames, the TSM history and the coarse
    initial states).  Raises :class:`ConfigError` for a preset whose splits
    cannot be planned.
    """
    # as the pipeline: batches of batch_size samples, each padded to a multiple of the devices
    per_device = padded_batch(preset.batch_size, devices) // devices
    sharding = _one_device_sharding()
    fine, model = preset.fine_size, preset.model_size
    costs, sizes = {}, {}
    step = None
    for split in preset.splits:
        plan = plan_split(preset, split)
        kernels = SplitKernels(preset, plan, sharding)
        if step is None:  # one fine step: the same for every split
            state = kernels.state_struct(per_device)
            step = compiled_cost(jax.vmap(kernels.reference_step), state)
            block = compiled_cost(kernels.frames(min(preset.time_chunk, plan.n_frames)), state)
        spec = preset.split(split)
        batches = math.ceil(spec.n_samples / preset.batch_size)
        fine_steps = (plan.model_steps + max(plan.history - 1, 0)) * plan.inner_steps
        costs[split] = StepCost(f"generate {split}: one {fine}² DNS step, batch {per_device}",
                                max(block[0], step[0]), step[1], step[2],
                                calls=batches * fine_steps, tensor=False)
        frames = plan.n_frames + plan.history
        initial = sum(m * m for m in preset.initial_sizes) * 2
        sizes[split] = 4.0 * spec.n_samples * (frames * 2 * model * model + initial)
    return costs, sizes


def training_cost(config, flow, size: int, devices: int = 1, updates: int | None = None):
    """The :class:`StepCost` of ``config``'s training update on ``size``² data, per device.

    The per-device batch is ``batch_size / devices`` (data parallel; the
    gradient all-reduce is not counted).  ``updates`` defaults to
    ``config.steps``.  The update is compiled with its solver calls in a rolled
    ``lax.scan`` (``window_loss(scan_unroll=...)``): the memory of a plain scan
    is that of the Python-unrolled loop training runs (every call's activations
    are kept for the backward pass) and it compiles in seconds, where the
    unrolled 32-step update of the ``paper`` preset takes many minutes on a CPU.
    XLA's cost analysis counts a loop body once, so the FLOPs come from two
    compilations: rolled (F1 = body + rest) and two calls per iteration
    (F2 = 2 body + rest): ``calls × (F2 − F1) + 2 F1 − F2``; bytes alike.
    Raises :class:`ConfigError` when the batch does not split.
    """
    from neuralpde.solvers.base import substeps
    from neuralpde.training.kinds import kind_of
    from neuralpde.training.optim import make_optimizer
    from neuralpde.training.windowed import make_windowed_step

    if config.batch_size % devices:
        raise ConfigError(f"invalid batch_size={config.batch_size}: accepted a multiple of "
                          f"--devices {devices}")
    per_device = config.batch_size // devices
    kind = kind_of(config)
    saved = {}
    if kind.history_encoder is not None and config.model.feature_norm == "rms":
        saved["feature_scale"] = (1.0,) * kind.history_encoder(config.model).channels
    solver = kind.build_solver(config.model, config.seed, flow, size, **saved)
    optimizer = make_optimizer(config)
    params = jax.eval_shape(lambda: solver.params)
    opt_state = jax.eval_shape(optimizer.init, params)
    window = max(history_frames(solver), 1) + config.unroll
    batch = jax.ShapeDtypeStruct((per_device, window, 2, size, size), jnp.float32)
    scalar = jax.ShapeDtypeStruct((), jnp.int32)
    args = (params, opt_state, {}, scalar, batch, scalar)
    calls = config.unroll // substeps(solver)

    def cost(unroll):
        step = make_windowed_step(solver, optimizer, config.loss, config.remat,
                                  scan_unroll=unroll)
        return compiled_cost(step, *args)

    memory, flops, accessed = cost(1)
    if calls > 1:
        # an odd count leaves a remainder loop beside the unrolled one: unroll it all
        _, flops2, accessed2 = cost(2 if calls % 2 == 0 else calls)
        if calls % 2 == 0:
            flops = calls * (flops2 - flops) + 2 * flops - flops2
            accessed = calls * (accessed2 - accessed) + 2 * accessed - accessed2
        else:
            flops, accessed = flops2, accessed2
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))
    remat = "on" if config.remat else "off"
    return StepCost(f"train {config.kind}: one update, batch {per_device}, unroll "
                    f"{config.unroll}, remat {remat} ({n_params:,} parameters)",
                    memory, flops, accessed, calls=updates or config.steps, tensor=True)


def format_bytes(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def format_seconds(s: float) -> str:
    if s >= 86400:
        return f"{s / 86400:.3g} d"
    if s >= 3600:
        return f"{s / 3600:.3g} h"
    if s >= 60:
        return f"{s / 60:.3g} min"
    return f"{s:.3g} s"


def plan_table(costs, device_names) -> str:
    """A Markdown table: one row per cost, memory, FLOPs and the estimate per device class."""
    names = [DEVICE_CLASSES[d] for d in device_names]
    head = ["step (per device)", "memory", "GFLOP/call", "GB accessed/call", "calls"]
    head += [f"{d.name.split(' (')[0]}" for d in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cost in costs:
        row = [cost.name, format_bytes(cost.memory_bytes), f"{cost.flops / 1e9:.4g}",
               f"{cost.bytes_accessed / 1e9:.4g}", f"{cost.calls:,.0f}"]
        for d in names:
            fits = "" if cost.memory_bytes <= d.memory else " (does not fit)"
            row.append(format_seconds(cost.seconds(d)) + fits)
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


__all__ = ["DeviceClass", "DEVICE_CLASSES", "StepCost", "compiled_cost", "generation_costs",
           "training_cost", "plan_table", "format_bytes", "format_seconds"]
