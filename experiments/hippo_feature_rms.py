"""Per-channel RMS of TSM-HiPPO features on a test store's stored prefixes.

For each memory (measure, order N, LegT window θ in frames) the K-frame
history before t = 0 of every test trajectory is encoded from an empty memory,
as a TSM rollout starts, and the root mean square of each of u's N
coefficients over all cells and trajectories is printed (v's are alike).
This is what docs/tsm.md quotes to explain why LagT N = 32 and LegT over the
whole prefix make poorer features than LegT N = 8 over the last 16 frames.

Usage::

    python experiments/hippo_feature_rms.py --data data/mini
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np

from neuralpde.store import open_store
from neuralpde.models.temporal_stencil import make_encoder

MEMORIES = (("lagt", 32, None), ("legt", 32, None), ("legt", 8, None), ("legt", 8, 16.0))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/mini", help="data folder holding test.zarr")
    args = parser.parse_args(argv)
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
        window = f", theta {theta:g}" if theta else (", theta = prefix" if measure == "legt" else "")
        print(f"{measure} N = {order}{window}: u coefficient RMS by order "
              + " ".join(f"{x:.2g}" for x in rms))


if __name__ == "__main__":
    main()
