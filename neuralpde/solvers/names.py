"""Solver names: the one table of the name schemes ``--solver`` accepts, and their parser.

A solver name is one of (:data:`SCHEMES` maps each prefix to its scheme):

* a classical name — ``dns[-N]``, ``weno5-js[-N]``, ``weno5-z[-N]``,
  ``spectral[-N]`` (parsed further by
  :func:`neuralpde.solvers.classical.classical_solver`);
* ``run:<folder>`` — a trained run folder; ``run:<folder>#coarse`` or
  ``run:<folder>#coarse=a,b`` — one staggered sub-solver of it alone;
* ``pretrained:<name or file.npz>`` — shipped or exported weights;
* ``file:<path>`` — a rollout made elsewhere (scored, not run).

Whoever builds, labels or compares solvers by name (the registry, the
results folders, the CLI, the quickstart) reads the scheme from
:func:`parse_solver_name` and writes names with :func:`run_name`; nothing
else spells the prefixes.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from neuralpde.config import ConfigError

RUN_PREFIX = "run:"
PRETRAINED_PREFIX = "pretrained:"
EXTERNAL_PREFIX = "file:"
#: Prefix -> scheme; a name without one of these prefixes is a classical name.
SCHEMES = {RUN_PREFIX: "run", PRETRAINED_PREFIX: "pretrained", EXTERNAL_PREFIX: "file"}
CLASSICAL = "classical"
_COARSE = re.compile(r"^(?P<folder>.*)#coarse(?:=(?P<a>\d+),(?P<b>\d+))?$")


@dataclasses.dataclass(frozen=True)
class SolverName:
    """A parsed solver name.

    Attributes:
        text: the name as given.
        scheme: ``'classical'``, ``'run'``, ``'pretrained'`` or ``'file'``.
        target: what the scheme points to: the classical name, the run folder
            (without ``#coarse``), the weights name or file, the rollout path.
        coarse: ``run`` only: None (the whole run), ``()`` (``#coarse``: the
            default sub-field) or ``(a, b)`` (``#coarse=a,b``).
    """

    text: str
    scheme: str
    target: str
    coarse: tuple | None = None

    @property
    def prefix(self) -> str:
        """The scheme's prefix (``''`` for a classical name)."""
        return next((p for p, s in SCHEMES.items() if s == self.scheme), "")


def parse_solver_name(name: str) -> SolverName:
    """The scheme and target of a solver name (see the module docstring).

    Raises:
        ConfigError: a prefix with nothing after it, or a ``run:`` name with a
            ``#`` suffix other than ``#coarse[=a,b]`` (unless the folder itself
            contains ``#``).
    """
    prefix = next((p for p in SCHEMES if name.startswith(p)), "")
    if not prefix:
        return SolverName(name, CLASSICAL, name)
    body = name[len(prefix):]
    if not body or body.startswith("#"):
        what = {"run": "<run folder>", "pretrained": "<name or file.npz>",
                "file": "<rollout .zarr or .nc>"}[SCHEMES[prefix]]
        raise ConfigError(f"invalid solver {name!r}: nothing after {prefix!r}; accepted "
                          f"{prefix}{what}")
    if SCHEMES[prefix] != "run":
        return SolverName(name, SCHEMES[prefix], body)
    match = _COARSE.match(body)
    if match is None:
        if "#" in body and not Path(body).is_dir():
            raise ConfigError(f"invalid solver {name!r}: the part after '#' is not a known "
                              "suffix; accepted run:<folder>, run:<folder>#coarse or "
                              "run:<folder>#coarse=a,b (integers 0 <= a, b < s)")
        return SolverName(name, "run", body)
    coarse = (int(match["a"]), int(match["b"])) if match["a"] is not None else ()
    return SolverName(name, "run", match["folder"], coarse)


def run_name(folder, coarse: tuple | None = None) -> str:
    """The solver name of a run folder: ``run:<folder>``, with ``#coarse`` (``coarse=()``)
    or ``#coarse=a,b`` (``coarse=(a, b)``)."""
    suffix = "" if coarse is None else "#coarse" + (f"={coarse[0]},{coarse[1]}" if coarse else "")
    return f"{RUN_PREFIX}{folder}{suffix}"


def source_scheme(source: str) -> str:
    """The scheme of a recorded ``source`` (a summary's), as :func:`parse_solver_name`'s."""
    return SCHEMES.get(next((p for p in SCHEMES if source.startswith(p)), ""), CLASSICAL)


__all__ = ["RUN_PREFIX", "PRETRAINED_PREFIX", "EXTERNAL_PREFIX", "SCHEMES", "CLASSICAL",
           "SolverName", "parse_solver_name", "run_name", "source_scheme"]
