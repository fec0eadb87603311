"""Per-channel RMS of TSM-HiPPO features on a test store's stored prefixes.

For each memory (measure, order N, LegT window θ in frames) the K-frame
history before t = 0 of every test trajectory is encoded from an empty memory,
as a TSM rollout starts, and the root mean square of each of u's N
coefficients over all cells and trajectories is printed (v's are alike).
This is what docs/tsm.md quotes to explain why LagT N = 32 and LegT over the
whole prefix make poorer features than LegT N = 8 over the last 16 frames.

Usage::

    python experiments/hippo_feature_rms.py --data data/mini
    python experiments/hippo_feature_rms.py --needed-history     # no data needed

``--needed-history`` prints, for each measure and order, the frames of
history a memory must be encoded over before its per-order statistics match
those it carries along a long rollout (:meth:`neuralpde.models.hippo.HiPPO.memory_frames`,
tail fraction 1 %), against the 32-frame prefix TSM encodes from zero.
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

from neuralpde.models.temporal_stencil import make_encoder
from neuralpde.store import open_store

MEMORIES = (("lagt", 32, None), ("legt", 32, None), ("legt", 8, None), ("legt", 8, 16.0))


NEEDED = (("lagt", 8, None), ("lagt", 32, None), ("lagt", 256, None), ("legt", 8, 16.0),
          ("legt", 32, 32.0), ("legs", 8, None))


def print_needed_history(prefix: int = 32) -> None:
    """One line per memory: the history it needs (frames, dt = 1) vs a ``prefix``-frame start."""
    from neuralpde.models.hippo import make_hippo

    print(f"history a memory needs (frames; tail fraction <= 1 % per order) vs the "
          f"{prefix}-frame prefix a TSM rollout starts from:")
    for measure, order, theta in NEEDED:
        frames = make_hippo(measure, order, theta=theta).memory_frames()
        label = f"{measure} N={order}" + (f" theta={theta:g}" if theta else "")
        if frames is None:
            print(f"  {label:>22}: never stationary (weighs the whole history uniformly)")
        else:
            verdict = "covered" if frames <= prefix else f"{frames / prefix:.1f}x the prefix"
            print(f"  {label:>22}: {frames:5d} frames ({verdict})")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/mini", help="data folder holding test.zarr")
    parser.add_argument("--needed-history", action="store_true",
                        help="print the history each memory needs, and stop")
    args = parser.parse_args(argv)
    if args.needed_history:
        print_needed_history()
        return
    test = open_store(f"{args.data}/test.zarr", split="test")
    history = np.stack([test.u_history.values, test.v_history.values], axis=2)  # (S, K, 2, n, n)
    k = history.shape[1]
    print(f"{args.data}/test.zarr: {history.shape[0]} trajectories, {k}-frame prefixes; "
          f"velocity RMS {np.sqrt(np.mean(history ** 2)):.3f}")
    for measure, order, theta in MEMORIES:
        encoder = make_encoder("hippo", k, measure, order, theta)
        features = np.stack([np.asarray(encoder.features(encoder.encode(jnp.asarray(h))))
                             for h in history])
        rms = np.sqrt(np.mean(features[..., :order] ** 2, axis=(0, 1, 2)))
        window = (f", theta {theta:g}" if theta
                  else (", theta = prefix" if measure == "legt" else ""))
        print(f"{measure} N = {order}{window}: u coefficient RMS by order "
              + " ".join(f"{x:.2g}" for x in rms))


if __name__ == "__main__":
    main()
