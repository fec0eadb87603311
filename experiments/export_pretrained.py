"""Write the pretrained weights the package ships (``neuralpde/weights/<name>.npz``).

Each weights file holds one trained run's ``run.json`` record and its best
checkpoint's parameters (:mod:`neuralpde.training.pretrained`).  The shipped
ones come from the mini study's seed-0 runs (``experiments/mini_li.sh``,
``experiments/mini_tsm.sh``); re-making them replaces the shipped files, hence
``--force``::

    python experiments/export_pretrained.py --force \\
        runs/mini/li=li-mini runs/mini/tsm-hippo=tsm-hippo-mini runs/mini/tsm-cnn=tsm-cnn-mini

``RUN=NAME`` writes ``NAME.npz`` into ``--out`` (default: the package's
``neuralpde/weights/``); an existing file is refused without ``--force``.
Each file's size and its model card in one line are printed (kind, seed,
checkpoint, data, machine, update time; ``neuralpde pretrained NAME`` prints
the whole card).  Bad input: one line, exit 2,
nothing written; Ctrl-C / SIGTERM: exit 130 / 143, no partial file.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from neuralpde.config import UserInputError
from neuralpde.training.pretrained import WEIGHTS_DIR, card_summary, write_weights


def _pairs(texts) -> list[tuple[str, str]]:
    pairs = []
    for pair in texts:
        run, sep, name = pair.rpartition("=")
        if not sep or not run or not name or "/" in name or name.endswith(".npz"):
            raise UserInputError(f"{pair!r} is not RUN=NAME: accepted a run folder, '=', and a "
                                 "file name without '/' or '.npz' (li-mini writes li-mini.npz)")
        pairs.append((run, name))
    names = [name for _, name in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserInputError(f"the names {twice} are given more than once: one file per name")
    return pairs


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(signum)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="+", metavar="RUN=NAME",
                        help="run folder and the weights name to write it as")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR,
                        help=f"folder of the weights files (default: {WEIGHTS_DIR})")
    parser.add_argument("--which", choices=("best", "last"), default="best",
                        help="checkpoint to export (default: best by validation duration)")
    parser.add_argument("--force", action="store_true",
                        help="replace existing weights files (the shipped ones included)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        pairs = _pairs(args.pairs)
        paths = [args.out / f"{name}.npz" for _, name in pairs]
        existing = [str(p) for p in paths if p.exists() and not args.force]
        if existing:
            raise UserInputError(f"{', '.join(existing)} exist(s): pass --force to replace, or "
                                 "another NAME / --out")
        if args.out.exists() and not args.out.is_dir():
            raise UserInputError(f"--out {args.out} is not a folder")
        for (run, _), path in zip(pairs, paths):
            meta = write_weights(run, path, which=args.which)
            print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {card_summary(meta['card'])}")
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot write {error.filename or args.out}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        signum = stop.args[0] if stop.args else signal.SIGINT
        print("interrupted: the file being written was removed; files printed above are "
              "complete", file=sys.stderr)
        return 128 + int(signum)
    return 0


if __name__ == "__main__":
    sys.exit(main())
