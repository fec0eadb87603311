"""Check that two data folders hold the same trajectories (up to float32 round-off).

Two stores generated with the same seeds and warm-up start from the same states;
they differ only by round-off (the integrations compile differently: ~1e-6 at
t = 0, growing chaotically along the trajectory).  For each split given, the
first trajectories of the smaller store are compared with the larger one's:
the frames at t = 0, the history frames both keep, and any frame (printed, not
checked: it grows by chaos).  Exits 1 when the starts differ by more than
``--tolerance``, so a study never pairs scores of different trajectories.

Usage::

    python experiments/same_trajectories.py data/mini data/mini-h131 --splits validation test
"""

from __future__ import annotations

import argparse

import numpy as np
import xarray as xr


def max_difference(a: xr.Dataset, b: xr.Dataset, variable: str, **index) -> float:
    """Largest |a - b| of ``variable`` (u-type name; its v partner too) over ``index``."""
    partner = variable.replace("u", "v", 1)
    return max(float(np.abs(a[name].isel(**index).values - b[name].isel(**index).values).max())
               for name in (variable, partner))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", help="data folder")
    parser.add_argument("second", help="data folder")
    parser.add_argument("--splits", nargs="+", default=["train", "validation", "test"])
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args(argv)
    for split in args.splits:
        a, b = (xr.open_zarr(f"{folder}/{split}.zarr", consolidated=False)
                for folder in (args.first, args.second))
        k = min(a.sizes["sample"], b.sizes["sample"])
        a, b = a.isel(sample=slice(0, k)), b.isel(sample=slice(0, k))
        start = max_difference(a, b, "u", time=0)
        drift = max_difference(a, b, "u")
        line = (f"{split}: the first {k} trajectories of {args.first} and {args.second}: "
                f"max |difference| at t = 0 {start:.1e}")
        lag = min(a.sizes.get("lag", 0), b.sizes.get("lag", 0))
        history = 0.0
        if lag:  # the history frames both keep, up to t = 0
            history = max(float(np.abs(a[name].values[:, -lag:] - b[name].values[:, -lag:]).max())
                          for name in ("u_history", "v_history"))
            line += f", last {lag} history frames {history:.1e}"
        print(f"{line}, any frame {drift:.1e} (velocity RMS ~1)")
        if max(start, history) > args.tolerance:
            raise SystemExit(f"{split}: {args.first} and {args.second} do not start from the same "
                             f"states (tolerance {args.tolerance:g})")


if __name__ == "__main__":
    main()
