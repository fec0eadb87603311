"""Solver names → solvers, and evaluating solvers by name on a data folder.

Names (the ``--solver`` of ``neuralpde evaluate``):

* ``dns``, ``dns-N`` — the reference scheme (van Leer) on the model grid or
  an N² grid; ``weno5-js[-N]``, ``weno5-z[-N]`` — the WENO baselines;
  ``spectral``, ``spectral-N`` — the pseudo-spectral solver (any even N >= 8
  up to the reference grid) (:func:`neuralpde.solvers.classical.classical_solver`);
* ``run:<folder>`` — the trained solver of any run folder (LI, TSM, a
  staggered set; :func:`neuralpde.training.runs.load_solver`);
* ``run:<folder>#coarse`` / ``run:<folder>#coarse=a,b`` — one staggered
  sub-solver alone on (N/s)², sub-field ``(a, b)`` (default ``(s-1, s-1)``),
  compared with the same sub-field of the reference;
* ``pretrained:<name>`` / ``pretrained:<file.npz>`` — shipped or exported
  pretrained weights (:mod:`neuralpde.training.pretrained`), results folder
  ``pretrained-<name>``;
* ``file:<path>`` — a rollout produced elsewhere, read from a zarr folder or
  netCDF file (:mod:`neuralpde.evaluation.external`): scored, not run.

This module sits above training and evaluation: evaluation never imports
training; this is where the two meet.
"""

from __future__ import annotations

import re
from pathlib import Path

import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.evaluation.evaluate import check_same_source, evaluate_external, evaluate_solver
from neuralpde.evaluation.external import EXTERNAL_PREFIX, ExternalRollout, open_rollout
from neuralpde.evaluation.results import check_out_dir
from neuralpde.solvers.base import Solver
from neuralpde.solvers.classical import classical_solver
from neuralpde.solvers.staggered import StaggeredSolver
from neuralpde.store.reading import open_store, store_flow
from neuralpde.training.pretrained import PRETRAINED_PREFIX, load_pretrained, weights_path
from neuralpde.training.runs import load_solver

RUN_PREFIX = "run:"
_COARSE = re.compile(r"^(?P<folder>.*)#coarse(?:=(?P<a>\d+),(?P<b>\d+))?$")


def _split_run_name(name: str) -> tuple[str, tuple | None]:
    """``run:<folder>[#coarse[=a,b]]`` -> (folder, None | () | (a, b))."""
    body = name[len(RUN_PREFIX):]
    match = _COARSE.match(body)
    if match is None:
        if "#" in body and not Path(body).is_dir():
            raise ConfigError(f"invalid solver {name!r}: the part after '#' is not a known "
                              "suffix; accepted run:<folder>, run:<folder>#coarse or "
                              "run:<folder>#coarse=a,b (integers 0 <= a, b < s)")
        return body, None
    sub = (int(match["a"]), int(match["b"])) if match["a"] is not None else ()
    return match["folder"], sub


def make_solver(name: str, store: xr.Dataset, transfer: bool = False) -> Solver:
    """The solver a name refers to, for the flow and grid of ``store``.

    Raises :class:`ConfigError` for an unknown name, a grid that is not a
    multiple of the model grid, ``#coarse`` on a run that is not a staggered
    set, and the errors of :func:`~neuralpde.training.runs.load_solver`.
    """
    if name.startswith(PRETRAINED_PREFIX):
        return load_pretrained(name[len(PRETRAINED_PREFIX):], store, transfer=transfer)
    if not name.startswith(RUN_PREFIX):
        return classical_solver(name, store_flow(store), int(store.attrs["model_size"]),
                                stored_sizes=[int(m) for m in store.attrs["initial_sizes"]],
                                fine_size=int(store.attrs["fine_size"]))
    folder, sub = _split_run_name(name)
    solver = load_solver(folder, store, transfer=transfer)
    if sub is None:
        return solver
    if not isinstance(solver, StaggeredSolver):
        raise ConfigError(f"invalid solver {name!r}: #coarse takes a staggered run "
                          "(neuralpde stagger-train), not a "
                          f"{type(solver).__name__}")
    return solver.coarse(*sub)


def solver_source(name: str, solver: Solver | None = None) -> str:
    """What a solver name refers to: ``run:<absolute run folder>[#coarse=a,b]``, ``file:<absolute
    path>``, ``pretrained:<absolute weights file>`` or the classical name.

    With the ``solver`` made from ``name``, spellings of one solver give one
    source: a classical name becomes its canonical name (``dns`` on a 32²
    model grid: ``dns-32``) and ``#coarse`` names its sub-field (``#coarse=1,1``).
    """
    if solver is not None and not name.startswith((PRETRAINED_PREFIX, EXTERNAL_PREFIX,
                                                    RUN_PREFIX)):
        return solver.name
    if name.startswith(PRETRAINED_PREFIX):
        return PRETRAINED_PREFIX + str(weights_path(name[len(PRETRAINED_PREFIX):]).resolve())
    if name.startswith(EXTERNAL_PREFIX):
        return EXTERNAL_PREFIX + str(Path(name[len(EXTERNAL_PREFIX):]).resolve())
    if not name.startswith(RUN_PREFIX):
        return name
    folder, sub = _split_run_name(name)
    suffix = name[len(RUN_PREFIX) + len(folder):]
    if sub is not None and solver is not None and hasattr(solver, "a"):
        suffix = f"#coarse={solver.a},{solver.b}"
    return RUN_PREFIX + str(Path(folder).resolve()) + suffix


def evaluate(
    solver_names,
    data_dir,
    out_dir,
    horizon: float | None = None,
    threshold: float = 0.8,
    n_samples: int | None = None,
    preset: str | None = None,
    transfer: bool = False,
) -> list[dict]:
    """Evaluate named solvers on ``data_dir/test.zarr`` into ``out_dir``; returns their summaries.

    Every name is resolved (and every clash of results folders refused)
    before the first rollout; ``out_dir`` may not be or contain ``data_dir``
    (:func:`neuralpde.evaluation.results.check_out_dir`), and an existing
    folder there is replaced only when it holds this package's results of the
    same solver (:mod:`neuralpde.evaluation.results`).  ``transfer``: run trained models on the
    store's flow and grid even if they were trained on another
    (generalisation tests).  ``preset``: refuse a store made for another one.
    """
    check_out_dir(out_dir, data_dir)
    test_path = Path(data_dir) / "test.zarr"
    test = open_store(test_path, split="test", preset=preset)
    solvers = [open_rollout(name[len(EXTERNAL_PREFIX):], test, n_samples, horizon)
               if name.startswith(EXTERNAL_PREFIX) else make_solver(name, test, transfer)
               for name in solver_names]  # every name validated before the first rollout
    sources = [solver_source(name, solver) for name, solver in zip(solver_names, solvers)]
    by_name: dict[str, list[str]] = {}
    for solver, source in zip(solvers, sources):
        by_name.setdefault(solver.name, []).append(source)
    clashes = {name: found for name, found in by_name.items() if len(set(found)) > 1}
    if clashes:
        raise ConfigError(f"solvers with the same name would share a results folder: {clashes}; "
                          "rename the run folders or weights files (or give a rollout file a "
                          "`solver` attribute) or evaluate them into different --out folders")
    for solver, source in zip(solvers, sources):
        check_same_source(Path(out_dir) / solver.name, source)
    return [evaluate_external(s, test, out_dir, reference_path=str(test_path), threshold=threshold)
            if isinstance(s, ExternalRollout) else
            evaluate_solver(s, test, out_dir, reference_path=str(test_path), horizon=horizon,
                            threshold=threshold, n_samples=n_samples, source=source)
            for s, source in zip(solvers, sources)]


__all__ = ["RUN_PREFIX", "make_solver", "solver_source", "evaluate"]
