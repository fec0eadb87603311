"""Write the pretrained weights the package ships (``neuralpde/weights/<name>.npz``).

Each weights file holds one trained run's ``run.json`` record and its best
checkpoint's parameters (:mod:`neuralpde.training.pretrained`).  The shipped
ones come from the mini study's runs (``experiments/mini_li.sh``,
``experiments/mini_tsm.sh``)::

    python experiments/export_pretrained.py runs/mini/li=li-mini runs/mini/tsm-hippo=tsm-hippo-mini

``RUN=NAME`` writes ``neuralpde/weights/NAME.npz`` (``--out`` another folder);
each file's size and provenance are printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neuralpde.config import UserInputError
from neuralpde.training.pretrained import WEIGHTS_DIR, write_weights


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="+", metavar="RUN=NAME",
                        help="run folder and the weights name to write it as")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR,
                        help=f"folder of the weights files (default: {WEIGHTS_DIR})")
    parser.add_argument("--which", choices=("best", "last"), default="best",
                        help="checkpoint to export (default: best by validation duration)")
    args = parser.parse_args(argv)
    pairs = []
    for pair in args.pairs:
        run, sep, name = pair.rpartition("=")
        if not sep or not run or not name or "/" in name:
            print(f"error: {pair!r} is not RUN=NAME (a run folder and a file name without "
                  "'/')", file=sys.stderr)
            return 2
        pairs.append((run, name))
    for run, name in pairs:
        path = args.out / f"{name}.npz"
        try:
            meta = write_weights(run, path, which=args.which)
        except UserInputError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {meta['record']['kind']}, "
              f"provenance {meta['provenance']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
