"""WENO coarse solvers over 20 time units from the mini test set's initial states.

Rolls WENO5-JS, WENO5-Z (and van Leer DNS for reference) out at the model grid for
``--duration`` time units from every test trajectory's first frame and prints,
per solver, whether any sample diverged (non-finite state) and the largest speed
reached.  Usage::

    python experiments/weno_stability.py --data data/mini --duration 20
"""

from __future__ import annotations

import argparse

import numpy as np

from neuralpde.solvers.classical import classical_solver
from neuralpde.solvers.rollout import device_name, rollout
from neuralpde.store import initial_states, open_store, store_flow


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/mini")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--solvers", nargs="+", default=["weno5-js", "weno5-z", "dns"])
    args = parser.parse_args(argv)
    test = open_store(f"{args.data}/test.zarr", split="test")
    flow, size = store_flow(test), int(test.attrs["model_size"])
    uv0 = initial_states(test, size, test.sizes["sample"])
    print(f"device: {device_name()}; {uv0.shape[0]} samples of {test.attrs['preset']}, "
          f"{size}² grid, {args.duration} time units")
    for name in args.solvers:
        solver = classical_solver(name, flow, size)
        steps_per_frame = max(1, round(1.0 / solver.dt))  # a frame about every time unit
        n_frames = int(np.ceil(args.duration / (steps_per_frame * solver.dt) - 1e-9)) + 1
        result = rollout(solver, uv0, n_frames, steps_per_frame, size, flow.domain_size)
        diverged = int((result.diverged_step >= 0).sum())
        speed = np.nanmax(np.abs(result.frames))
        print(f"{solver.name:>12}: {n_frames - 1} x {steps_per_frame} steps "
              f"({(n_frames - 1) * steps_per_frame * solver.dt:.2f} time units), "
              f"diverged {diverged}/{uv0.shape[0]}, max |u| {speed:.2f}")


if __name__ == "__main__":
    main()
