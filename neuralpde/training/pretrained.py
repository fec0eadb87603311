"""Pretrained weights: a trained run's record and parameters in one ``.npz`` file.

A weights file holds everything :func:`load_pretrained` needs to rebuild the
trained solver, without the run folder (orbax checkpoints, optimiser state,
logs):

==============================  ===================================================
array                           content
==============================  ===================================================
``__meta__``                    JSON text: ``format`` (:data:`WEIGHTS_FORMAT`),
                                ``record`` (the run's ``run.json``, see
                                :mod:`neuralpde.training.runs`) and ``provenance``
                                (run folder name, checkpoint and step, best
                                validation duration, training data preset)
``<key path>``                  one float array per parameter, keyed by
                                :func:`jax.tree_util.keystr` of its path in the
                                solver's ``params`` pytree
==============================  ===================================================

The package ships the weights of the ``mini`` study's runs in
``neuralpde/weights/`` (:func:`available`): ``li-mini`` and
``tsm-hippo-mini``, written by ``experiments/export_pretrained.py`` from the
runs of ``experiments/mini_li.sh`` / ``experiments/mini_tsm.sh``.  They are
solvers for the flow and model grid they were trained on (Kolmogorov flow,
ν = 1e-3, 32²): :func:`load_pretrained` refuses a store of another flow or
grid unless ``transfer=True``; the data preset may differ (the ``quickstart``
test set has the mini preset's flow and grid, with a 128² instead of a 256²
reference DNS).

In ``neuralpde evaluate`` a weights file is the solver ``pretrained:<name>``
(a shipped name) or ``pretrained:<path.npz>``; its results folder is
``pretrained-<name>``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from neuralpde.config import ConfigError
from neuralpde.evaluation.results import results_name
from neuralpde.outputs import replaced_atomically
from neuralpde.physics.flows import flow_from_dict
from neuralpde.store.reading import store_flow
from neuralpde.training.checkpoint import Checkpoints
from neuralpde.training.kinds import KIND_NAMES
from neuralpde.training.runs import (
    RECORD_KEYS,
    load_solver,
    logged_progress,
    read_record,
    run_config,
    solver_from_record,
)

WEIGHTS_FORMAT = 1
#: Folder of the weights shipped with the package (package data).
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
PRETRAINED_PREFIX = "pretrained:"
_META = "__meta__"


def available() -> list[str]:
    """Names of the shipped weights (``neuralpde/weights/<name>.npz``), sorted."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.npz"))


def weights_path(name_or_path) -> Path:
    """The file of a shipped name or of a path ending in ``.npz``.

    Raises :class:`ConfigError` naming the argument and the shipped names when
    it is neither.
    """
    text = str(name_or_path)
    if text in available():
        return WEIGHTS_DIR / f"{text}.npz"
    path = Path(text)
    if path.suffix == ".npz" and path.is_file():
        return path
    if "#" in text:
        raise ConfigError(f"pretrained weights {text!r}: a '#' suffix is not accepted for weights "
                          "files; one sub-solver of a staggered set alone is evaluated from its "
                          "run folder, run:<folder>#coarse")
    what = ("not a file" if path.exists() else "no such file") if path.suffix == ".npz" \
        else "not a shipped name"
    raise ConfigError(f"pretrained weights {text!r}: {what}; accepted a shipped name "
                      f"{available()} or the path of a .npz weights file "
                      "(experiments/export_pretrained.py writes one)")


def write_weights(run_dir, path, which: str = "best") -> dict:
    """Write the ``which`` (``best`` / ``last``) parameters of ``run_dir`` to ``path``.

    The file is written next to ``path`` and renamed into place when complete,
    so an interrupted export leaves no partial file.  Returns the metadata
    written.  Raises :class:`ConfigError` / ``CheckpointError`` for a folder
    that is not a run or has no checkpoint (:func:`load_solver`), and
    :class:`ConfigError` when ``path`` does not end in ``.npz``.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ConfigError(f"weights file {str(path)!r}: accepted a file name ending in .npz "
                          "(e.g. li.npz)")
    if path.is_dir():
        raise ConfigError(f"weights file {str(path)!r} is a folder: give a file name")
    record = read_record(run_dir)
    solver = load_solver(run_dir, which=which)
    if record.get("data"):  # the folder trained on, without this machine's path
        record = {**record, "data": Path(record["data"]).name}
    checkpoints = Checkpoints(run_dir, run_config(record).keep_last)
    try:
        best = checkpoints.best_step()
        used = "best" if which == "best" and best is not None else "last"  # as load_solver
        step = best if used == "best" else checkpoints.latest_step()
    finally:
        checkpoints.close()
    _, best_validation = logged_progress(run_dir)
    meta = {"format": WEIGHTS_FORMAT, "record": record, "provenance": {
        "run": Path(run_dir).resolve().name, "checkpoint": used, "step": step,
        "best_validation_duration": best_validation, "data_preset": record.get("preset")}}
    arrays = {jax.tree_util.keystr(key): np.asarray(leaf)
              for key, leaf in jax.tree_util.tree_leaves_with_path(solver.params)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{_META: np.array(json.dumps(meta))}, **arrays)
    return meta


def read_weights(path) -> tuple[dict, dict]:
    """``(metadata, {key path: array})`` of a weights file.

    Raises :class:`ConfigError` naming the file when it is not a readable
    weights file of format :data:`WEIGHTS_FORMAT`, or a weight is not a
    number or not finite (a damaged file is refused, never scored as a
    model that diverged at once).
    """
    hint = "; write one with experiments/export_pretrained.py"
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{path} is not a neuralpde weights file (not an .npz archive: "
                          f"empty, truncated or another format){hint}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
        if _META not in arrays:
            raise ValueError(f"no {_META} entry (an .npz written by something else)")
        meta = json.loads(str(arrays.pop(_META)))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not a neuralpde weights file ({type(error).__name__}: "
                          f"{error}){hint}") from error
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise ConfigError(f"{path} is not a neuralpde weights file of format {WEIGHTS_FORMAT}"
                          f"{hint}")
    record = meta.get("record")
    missing = ([key for key in RECORD_KEYS if key not in record]
               if isinstance(record, dict) else list(RECORD_KEYS))
    if missing or record.get("kind") not in KIND_NAMES:
        raise ConfigError(f"{path}: its run record lacks {missing or ['a known kind']} (kinds: "
                          f"{list(KIND_NAMES)}): a damaged or hand-edited file{hint}")
    for key, array in arrays.items():  # a damaged file, not a model that diverges
        if array.dtype.kind not in "fiu":
            raise ConfigError(f"{path}: weight {key} holds {array.dtype} values: accepted "
                              f"numbers (a damaged or hand-edited file){hint}")
        if not np.all(np.isfinite(array)):
            raise ConfigError(f"{path}: weight {key} holds a non-finite value (NaN or inf): "
                              f"accepted finite weights (a damaged or hand-edited file){hint}")
    return meta, arrays


def pretrained_name(name_or_path) -> str:
    """The solver (and results folder) name: ``pretrained-<file stem>``."""
    return results_name(f"pretrained-{weights_path(name_or_path).stem}")


def check_fits(name_or_path, store: xr.Dataset) -> str | None:
    """Why the weights do not run on ``store`` as trained (other flow or model grid), or None."""
    path = weights_path(name_or_path)
    return _fit_reason(path, read_weights(path)[0]["record"], store)


def _fit_reason(path: Path, record: dict, store: xr.Dataset) -> str | None:
    """:func:`check_fits` for a record already read from ``path``."""
    try:
        trained = flow_from_dict(record["flow"]), int(record["model_size"])
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"{path}: its run record's flow or grid cannot be read "
                          f"({type(error).__name__}: {error}): a damaged or hand-edited "
                          "file") from error
    found = store_flow(store), int(store.attrs["model_size"])
    if trained[1] != found[1]:
        return f"they were trained on a {trained[1]}² grid, the store has {found[1]}²"
    if trained[0] != found[0]:
        return f"they were trained on the flow {trained[0]}, the store holds {found[0]}"
    return None


def load_pretrained(name_or_path, store: xr.Dataset | None = None, transfer: bool = False):
    """The trained solver of a weights file (a shipped name or a ``.npz`` path).

    Without ``transfer`` a ``store`` of another flow or model grid raises
    :class:`ConfigError`; with it the network runs on the store's flow and
    grid (as :func:`~neuralpde.training.runs.load_solver`).  A file whose
    arrays do not match the parameters its record describes raises
    :class:`ConfigError` naming the file.
    """
    path = weights_path(name_or_path)
    meta, arrays = read_weights(path)
    record = meta["record"]
    flow = size = None
    if store is not None and transfer:
        flow, size = store_flow(store), int(store.attrs["model_size"])
    elif store is not None:
        reason = _fit_reason(path, record, store)
        if reason:
            raise ConfigError(f"pretrained weights {path.stem}: {reason} (evaluate with --transfer "
                              "to run them on it anyway)")
    try:
        solver = solver_from_record(record, flow, size, name=pretrained_name(path))
    except (KeyError, TypeError, ValueError) as error:  # ConfigError included
        raise ConfigError(f"{path}: its run record does not describe a model "
                          f"({type(error).__name__}: {error}): a damaged or hand-edited "
                          "file") from error
    template = jax.tree_util.tree_leaves_with_path(solver.params)
    keys = [jax.tree_util.keystr(key) for key, _ in template]
    if sorted(keys) != sorted(arrays) or any(
            arrays[k].shape != leaf.shape for k, (_, leaf) in zip(keys, template)):
        raise ConfigError(f"{path}: its arrays do not match the parameters of the model its "
                          "record describes (a damaged or hand-edited file)")
    leaves = [jnp.asarray(arrays[k], dtype=leaf.dtype) for k, (_, leaf) in zip(keys, template)]
    treedef = jax.tree_util.tree_structure(solver.params)
    return solver.with_params(jax.tree_util.tree_unflatten(treedef, leaves))


__all__ = ["WEIGHTS_FORMAT", "WEIGHTS_DIR", "PRETRAINED_PREFIX", "available", "weights_path",
           "write_weights", "read_weights", "pretrained_name", "check_fits", "load_pretrained"]
