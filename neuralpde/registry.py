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

from pathlib import Path

import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.evaluation.evaluate import check_same_source, evaluate_external, evaluate_solver
from neuralpde.evaluation.external import ExternalRollout, open_rollout
from neuralpde.evaluation.results import check_out_dir
from neuralpde.evaluation.scoring import check_scoreable
from neuralpde.solvers.base import Solver
from neuralpde.solvers.classical import classical_solver
from neuralpde.solvers.names import (
    CLASSICAL,
    EXTERNAL_PREFIX,
    PRETRAINED_PREFIX,
    RUN_PREFIX,
    SolverName,
    parse_solver_name,
    run_name,
)
from neuralpde.solvers.staggered import StaggeredSolver
from neuralpde.store.reading import open_store, store_flow
from neuralpde.training.pretrained import load_pretrained, weights_path
from neuralpde.training.runs import load_solver


def _classical(parsed: SolverName, store: xr.Dataset, transfer: bool) -> Solver:
    del transfer  # classical solvers always run on the store's flow and grid
    return classical_solver(parsed.target, store_flow(store), int(store.attrs["model_size"]),
                            stored_sizes=[int(m) for m in store.attrs["initial_sizes"]],
                            fine_size=int(store.attrs["fine_size"]))


def _run(parsed: SolverName, store: xr.Dataset, transfer: bool) -> Solver:
    solver = load_solver(parsed.target, store, transfer=transfer)
    if parsed.coarse is None:
        return solver
    if not isinstance(solver, StaggeredSolver):
        raise ConfigError(f"invalid solver {parsed.text!r}: #coarse takes a staggered run "
                          "(neuralpde stagger-train), not a "
                          f"{type(solver).__name__}")
    return solver.coarse(*parsed.coarse)


def _pretrained(parsed: SolverName, store: xr.Dataset, transfer: bool) -> Solver:
    return load_pretrained(parsed.target, store, transfer=transfer)


#: Scheme -> ``(parsed name, test store, transfer) -> solver``: every scheme of
#: :data:`neuralpde.solvers.names.SCHEMES` that is run (``file:`` rollouts are read, not run:
#: :func:`neuralpde.evaluation.external.open_rollout`).
MAKERS = {CLASSICAL: _classical, "run": _run, "pretrained": _pretrained}


def make_solver(name: str, store: xr.Dataset, transfer: bool = False) -> Solver:
    """The solver a name refers to, for the flow and grid of ``store``.

    Raises :class:`ConfigError` for an unknown name, a grid that is not a
    multiple of the model grid, ``#coarse`` on a run that is not a staggered
    set, a ``file:`` name (a rollout, opened by
    :func:`neuralpde.evaluation.external.open_rollout`), and the errors of
    :func:`~neuralpde.training.runs.load_solver`.
    """
    parsed = parse_solver_name(name)
    if parsed.scheme not in MAKERS:
        raise ConfigError(f"invalid solver {name!r}: a {parsed.scheme} name is not a solver "
                          f"to run; accepted the schemes {sorted(MAKERS)}")
    return MAKERS[parsed.scheme](parsed, store, transfer)


def solver_source(name: str, solver: Solver | None = None) -> str:
    """What a solver name refers to: ``run:<absolute run folder>[#coarse=a,b]``, ``file:<absolute
    path>``, ``pretrained:<absolute weights file>`` or the classical name.

    With the ``solver`` made from ``name``, spellings of one solver give one
    source: a classical name becomes its canonical name (``dns`` on a 32²
    model grid: ``dns-32``) and ``#coarse`` names its sub-field (``#coarse=1,1``).
    """
    parsed = parse_solver_name(name)
    if parsed.scheme == CLASSICAL:
        return name if solver is None else solver.name
    if parsed.scheme == "pretrained":
        return PRETRAINED_PREFIX + str(weights_path(parsed.target).resolve())
    if parsed.scheme == "file":
        return EXTERNAL_PREFIX + str(Path(parsed.target).resolve())
    coarse = parsed.coarse
    if coarse is not None and solver is not None:  # made by make_solver: a CoarseSubSolver
        coarse = (solver.a, solver.b)
    return run_name(Path(parsed.target).resolve(), coarse)


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
    if isinstance(solver_names, str):  # one name, not its characters
        raise ConfigError(f"solver_names={solver_names!r}: accepted a list of solver names "
                          f"([{solver_names!r}] for one)")
    check_out_dir(out_dir, data_dir)
    test_path = Path(data_dir) / "test.zarr"
    test = open_store(test_path, split="test", preset=preset)
    parsed = [parse_solver_name(name) for name in solver_names]
    solvers = [open_rollout(p.target, test, n_samples, horizon) if p.scheme == "file"
               else make_solver(p.text, test, transfer)
               for p in parsed]  # every name validated before the first rollout
    sources = [solver_source(name, solver) for name, solver in zip(solver_names, solvers)]
    by_name: dict[str, list[str]] = {}
    for solver, source in zip(solvers, sources):
        by_name.setdefault(solver.name, []).append(source)
    clashes = {name: found for name, found in by_name.items() if len(set(found)) > 1}
    if clashes:
        raise ConfigError(f"solvers with the same name would share a results folder: {clashes}; "
                          "rename the run folders or weights files (or give a rollout file a "
                          "`solver` attribute) or evaluate them into different --out folders")
    twice = sorted({s for s in sources if sources.count(s) > 1})
    if twice:
        raise ConfigError(f"solver(s) given twice (perhaps spelled two ways, e.g. dns and "
                          f"dns-32 on a 32² model grid): {twice}; give each once")
    for solver, source in zip(solvers, sources):
        check_same_source(Path(out_dir) / solver.name, source)
        if not isinstance(solver, ExternalRollout):
            check_scoreable(solver, test)
    return [evaluate_external(s, test, out_dir, reference_path=str(test_path), threshold=threshold)
            if isinstance(s, ExternalRollout) else
            evaluate_solver(s, test, out_dir, reference_path=str(test_path), horizon=horizon,
                            threshold=threshold, n_samples=n_samples, source=source)
            for s, source in zip(solvers, sources)]


__all__ = ["RUN_PREFIX", "MAKERS", "make_solver", "solver_source", "evaluate"]
