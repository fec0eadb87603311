"""New extrema of van Leer / WENO5-JS / WENO5-Z, with and without the MP bound.

Advects the square wave (indicator of [1/4, 3/4), jump 1) and the smooth wave
``sin(2 pi x)`` once around the periodic unit interval (velocity 1, SSP-RK3,
``neuralpde.numerics.advection_1d``) and prints, per face scheme, the largest
new extremum of the square wave (relative to the jump of 1) and the L1 errors,
for the WENO face values as they are and with the Suresh--Huynh
monotonicity-preserving bound (``monotone=True``) at ``mp_alpha = 1/CFL - 1``
(the largest value that satisfies the bound's CFL condition; capped at 4)
and at the paper's ``mp_alpha = 4``.  Usage::

    python experiments/weno_square_wave.py                 # N=128, CFL 0.4, float32
    python experiments/weno_square_wave.py --n 64 --cfl 0.2 --x64
    python experiments/weno_square_wave.py --mp-eps 1e-10   # the paper's threshold
"""

from __future__ import annotations

import argparse
import math

import jax

from neuralpde.numerics import advection_1d as a1
from neuralpde.numerics.weno import mp_alpha_for_courant


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=128, help="cells")
    parser.add_argument("--cfl", type=float, default=0.4, help="Courant number bound")
    parser.add_argument("--x64", action="store_true", help="float64 instead of float32")
    parser.add_argument("--mp-eps", type=float, default=0.0,
                        help="threshold of the bound's 'needs limiting' test (default 0)")
    args = parser.parse_args(argv)

    with jax.enable_x64(args.x64):
        dtype = "float64" if args.x64 else "float32"
        n, dx = args.n, 1.0 / args.n
        steps = int(math.ceil(n / args.cfl - 1e-9))
        dt = 1.0 / steps
        courant = dt / dx
        auto = mp_alpha_for_courant(courant)
        waves = {"square": a1.square_wave(n, dtype=dtype),
                 "smooth": a1.smooth_wave(n, dtype=dtype)}
        variants = [("unbounded", dict(monotone=False))]
        variants.append((f"MP a={auto:g}", dict(monotone=True, mp_alpha=auto,
                                                  mp_eps=args.mp_eps)))
        if auto != 4.0:
            variants.append(("MP a=4", dict(monotone=True, mp_alpha=4.0,
                                            mp_eps=args.mp_eps)))
        print(f"N={n}, {steps} SSP-RK3 steps, Courant number {courant:.4f}, {dtype}, "
              f"mp_eps {args.mp_eps:g}, one period; "
              f"overshoot = max new extremum of the square wave / jump")
        print(f"{'scheme':<10} {'bound':<12} {'overshoot':>10} {'L1 square':>10} "
              f"{'L1 smooth':>10}")
        for scheme in a1.SCHEMES:
            for label, kw in variants:
                if scheme == "van_leer" and kw["monotone"]:
                    continue  # the bound applies to WENO face values only
                err = {name: a1.profile_errors(
                    a1.advect_1d(c0, 1.0, dx, dt, steps, scheme, **kw), c0, dx)
                    for name, c0 in waves.items()}
                print(f"{scheme:<10} {label:<12} {err['square']['overshoot']:>10.2e} "
                      f"{err['square']['l1']:>10.3e} {err['smooth']['l1']:>10.3e}")


if __name__ == "__main__":
    main()
