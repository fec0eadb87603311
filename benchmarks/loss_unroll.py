"""Gradient time of the training loss: the Python-unrolled loop it uses vs a ``lax.scan``.

``neuralpde.training.losses.window_loss`` unrolls the solver calls of a
training window in Python.  This script times ``jax.grad`` of the batch loss
with that loop and with the same calls in a fully unrolled
``jax.lax.scan(..., unroll=True)``, for LI and TSM-HiPPO with the tower,
memory, unroll and batch of a training preset (windows of DNS frames from a
random state on the model grid; the time does not depend on the values).
With ``quickstart`` a TSM window is one bundle, i.e. a scan of length 1.

Usage::

    python benchmarks/loss_unroll.py --preset quickstart
    python benchmarks/loss_unroll.py --preset mini
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from neuralpde.physics.flows import KolmogorovFlow
from neuralpde.solvers.base import history_frames, step_with_velocities, substeps
from neuralpde.training.config import get_train_preset
from neuralpde.training.kinds import KINDS
from neuralpde.training.losses import window_loss
from tsm_latency import MODEL_SIZES, prefix_frames


def scan_window_loss(solver, window: jax.Array) -> jax.Array:
    """``window_loss`` (mse) with the solver calls in a fully unrolled ``lax.scan``."""
    k = max(history_frames(solver), 1)
    targets = window[k:]
    state = solver.init(window[:k] if history_frames(solver) else window[0])
    _, predicted = jax.lax.scan(lambda s, _: step_with_velocities(solver, s), state, None,
                                length=targets.shape[0] // substeps(solver), unroll=True)
    return jnp.mean((predicted.reshape(targets.shape) - targets) ** 2)


def gradient_seconds(loss, params, batch, repeats: int) -> float:
    grad = jax.jit(jax.grad(lambda p: jnp.mean(jax.vmap(lambda w: loss(p, w))(batch))))
    jax.block_until_ready(grad(params))  # compile
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(grad(params))
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="quickstart", choices=sorted(MODEL_SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    flow, size = KolmogorovFlow(), MODEL_SIZES[args.preset]
    print(f"device: {jax.devices()[0].platform}, jax {jax.__version__}; preset {args.preset}, "
          f"median of {args.repeats} gradients after compiling")
    for architecture in ("li", "tsm-hippo"):
        config = get_train_preset(args.preset, architecture)
        solver = KINDS[architecture].build_solver(config.model, 0, flow, size)
        k = max(history_frames(solver), 1)
        frames = jnp.asarray(prefix_frames(flow, size, k + config.unroll))
        batch = jnp.stack([frames] * config.batch_size)
        loop = gradient_seconds(lambda p, w: window_loss(solver.with_params(p), w, "mse"),
                                solver.params, batch, args.repeats)
        scan = gradient_seconds(lambda p, w: scan_window_loss(solver.with_params(p), w),
                                solver.params, batch, args.repeats)
        calls = config.unroll // substeps(solver)
        print(f"  {architecture:<10} {calls} solver call(s) per window, batch {config.batch_size}: "
              f"python loop {loop:.4f} s, lax.scan {scan:.4f} s per gradient "
              f"(scan/loop = {scan / loop:.1f})")


if __name__ == "__main__":
    main()
