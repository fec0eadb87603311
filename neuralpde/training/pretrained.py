"""Pretrained weights: a trained run's record and parameters in one ``.npz`` file.

A weights file holds everything :func:`load_pretrained` needs to rebuild the
trained solver, without the run folder (orbax checkpoints, optimiser state,
logs):

==============================  ===================================================
array                           content
==============================  ===================================================
``__meta__``                    JSON text: ``format`` (:data:`WEIGHTS_FORMAT`),
                                ``record`` (the run's ``run.json``, see
                                :mod:`neuralpde.training.runs`), ``provenance``
                                (run folder name, checkpoint and step, best
                                validation duration, training data preset) and
                                ``card`` (:func:`model_card`; absent in files
                                written before cards existed)
``<key path>``                  one float array per parameter, keyed by
                                :func:`jax.tree_util.keystr` of its path in the
                                solver's ``params`` pytree
==============================  ===================================================

The package ships the weights of the ``mini`` study's runs in
``neuralpde/weights/`` (:func:`available`): ``li-mini``, ``tsm-hippo-mini``
and ``tsm-cnn-mini``, written by ``experiments/export_pretrained.py`` from the
seed-0 runs of ``experiments/mini_li.sh`` / ``experiments/mini_tsm.sh`` on the
current mini data (each file's model card says which run, data and recipe).  They are
solvers for the flow and model grid they were trained on (Kolmogorov flow,
ν = 1e-3, 32²): :func:`load_pretrained` refuses a store of another flow or
grid unless ``transfer=True``; the data preset may differ (the ``quickstart``
test set has the mini preset's flow and grid, with a 128² instead of a 256²
reference DNS).

In ``neuralpde evaluate`` a weights file is the solver ``pretrained:<name>``
(a shipped name) or ``pretrained:<path.npz>``; its results folder is
``pretrained-<name>``.

The model card (:func:`model_card`) says what the weights are and how they
were made: the kind, the training data, the recipe, the seed, the checkpoint,
the machine and devices, the package's version and commit, and the time the
updates took.  ``neuralpde pretrained [NAME] [--json]`` prints it
(:func:`weights_card`, :func:`describe_card`); for a file written before cards
existed it is derived from the file's run record, with what that record does
not hold marked ``not recorded``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from neuralpde.config import ConfigError, printable
from neuralpde.evaluation.results import results_name
from neuralpde.outputs import replaced_atomically
from neuralpde.physics.flows import flow_from_dict
from neuralpde.solvers.names import PRETRAINED_PREFIX
from neuralpde.store.reading import store_flow
from neuralpde.training.checkpoint import Checkpoints
from neuralpde.training.kinds import KIND_NAMES
from neuralpde.training.runs import (
    RECORD_KEYS,
    load_solver,
    logged_progress,
    read_metrics,
    read_record,
    run_config,
    solver_from_record,
)

WEIGHTS_FORMAT = 1
#: Folder of the weights shipped with the package (package data).
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
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
    if path.is_dir():
        what = "is a directory"
    elif path.suffix == ".npz":
        what = "not a file" if path.exists() else "no such file"
    else:  # an existing file, or a name with a suffix, is a file meant: not an .npz one
        what = "not a .npz file" if path.exists() or path.suffix else "not a shipped name"
    raise ConfigError(f"pretrained weights {text!r}: {what}; accepted a shipped name "
                      f"{available()} or the path of a .npz weights file "
                      "(experiments/export_pretrained.py writes one)")


def write_weights(run_dir, path, which: str = "best") -> dict:
    """Write the ``which`` (``best`` / ``last``) parameters of ``run_dir`` to ``path``.

    The file holds the run's record, where the parameters came from and their
    model card (:func:`model_card`, from the record and the run's
    ``metrics.jsonl``).  It is written next to ``path`` and renamed into place
    when complete, so an interrupted export leaves no partial file.  Returns the
    metadata written.  Raises :class:`ConfigError` / ``CheckpointError`` for a folder
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
    meta["card"] = model_card(record, meta["provenance"], read_metrics(run_dir))
    arrays = {jax.tree_util.keystr(key): np.asarray(leaf)
              for key, leaf in jax.tree_util.tree_leaves_with_path(solver.params)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **{_META: np.array(json.dumps(meta))}, **arrays)
    return meta


def read_weights(path) -> tuple[dict, dict]:
    """``(metadata, {key path: array})`` of a weights file; the metadata hold the model card
    as ``card`` when the file has one (files written before cards have none, and load).

    Raises :class:`ConfigError` naming the file when it is not a readable
    weights file of format :data:`WEIGHTS_FORMAT`, or a weight is not a
    number or not finite (a damaged file is refused, never scored as a
    model that diverged at once).
    """
    hint = "; write one with experiments/export_pretrained.py"
    shown = printable(path)
    try:  # is_zipfile answers False for a file it cannot open: say why instead
        with open(path, "rb"):
            pass
    except OSError as error:
        reason = "permission denied" if isinstance(error, PermissionError) else \
            (error.strerror or str(error)).lower()
        raise ConfigError(f"cannot read {shown}: {reason}; accepted a readable .npz weights "
                          "file") from error
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{shown} is not a neuralpde weights file (not an .npz archive: "
                          f"empty, truncated or another format){hint}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: np.asarray(data[key]) for key in data.files}
        if _META not in arrays:
            raise ValueError(f"no {_META} entry (an .npz written by something else)")
        meta = json.loads(str(arrays.pop(_META)))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ConfigError(f"{shown} is not a neuralpde weights file ({type(error).__name__}: "
                          f"{printable(error)}){hint}") from error
    if not isinstance(meta, dict) or meta.get("format") != WEIGHTS_FORMAT:
        raise ConfigError(f"{shown} is not a neuralpde weights file of format {WEIGHTS_FORMAT}"
                          f"{hint}")
    record = meta.get("record")
    missing = ([key for key in RECORD_KEYS if key not in record]
               if isinstance(record, dict) else list(RECORD_KEYS))
    if missing or record.get("kind") not in KIND_NAMES:
        raise ConfigError(f"{shown}: its run record lacks {missing or ['a known kind']} (kinds: "
                          f"{list(KIND_NAMES)}): a damaged or hand-edited file{hint}")
    for key, array in arrays.items():  # a damaged file, not a model that diverges
        if array.dtype.kind not in "fiu":
            raise ConfigError(f"{shown}: weight {printable(key)} holds {array.dtype} values: "
                              f"accepted numbers (a damaged or hand-edited file){hint}")
        if not np.all(np.isfinite(array)):
            raise ConfigError(f"{shown}: weight {printable(key)} holds a non-finite value (NaN or "
                              f"inf): accepted finite weights (a damaged or hand-edited "
                              f"file){hint}")
    return meta, arrays


#: The training config's fields a card's recipe names (those the config has; the model
#: config's own fields follow, under ``model``).
RECIPE_FIELDS = ("steps", "batch_size", "unroll", "peak_lr", "optimizer", "loss")
NOT_RECORDED = "not recorded"


def model_card(record: dict, source: dict, metrics: list[dict] | None = None) -> dict:
    """The model card of a weights file: what the weights are and how they were made.

    Args:
      record: the run's ``run.json`` record (:func:`~neuralpde.training.runs.read_record`).
      source: where the parameters came from, as the file's ``provenance``
        (``run``, ``checkpoint``, ``step``, ``best_validation_duration``).
      metrics: the run's ``metrics.jsonl`` rows
        (:func:`~neuralpde.training.runs.read_metrics`); None when not at hand
        (a card derived from a file written before cards).

    Returns a JSON-ready dict:

    * ``model`` — the kind (``li``, ``tsm-hippo``, ``tsm-cnn``, ``stagger``);
    * ``run`` — the run folder's name;
    * ``data`` — ``preset`` and ``folder`` of the training store, the
      ``model_size`` trained on, and from the store's generation key its reference
      (``reference_solver``, ``fine_size``), ``train_trajectories`` (the
      trajectories actually used: the config's ``train_trajectories``, else all
      the store held) and ``trajectories_in_store``; a run without a store (a
      staggered set trained on its state pool alone) has ``folder`` None and no
      store keys;
    * ``recipe`` — the training config's :data:`RECIPE_FIELDS` it has, and
      ``model``: every field of the model config (tower ``hidden``/``depth``,
      the kind's own: ``prefix``, ``bundle``, ``hippo_measure``, ...);
    * ``seed`` — the seed of the initial weights and the data order;
    * ``checkpoint`` — ``which`` (``best``/``last``), its ``step``, and the run's
      ``best_validation_duration`` (None without validation);
    * ``trained_on`` — the machine of the run's first start (``machine`` of the
      record, :func:`neuralpde.machine`), ``device`` — its JAX devices;
      ``'not recorded'`` for runs made before they were recorded;
    * ``neuralpde`` — ``version`` and ``git_commit`` of the package that
      trained it (``''``: an installed package; ``'not recorded'``: older runs);
    * ``update_seconds`` — :func:`update_seconds` of the metrics (None when not
      at hand or not measurable).
    """
    config = run_config(record)
    model = {f.name: getattr(config.model, f.name) for f in dataclasses.fields(config.model)}
    return {
        "model": record["kind"],
        "run": source.get("run"),
        "data": _data_card(record, config),
        "recipe": {**{field: getattr(config, field) for field in RECIPE_FIELDS
                      if hasattr(config, field)}, "model": model},
        "seed": config.seed,
        "checkpoint": {"which": source.get("checkpoint"), "step": source.get("step"),
                       "best_validation_duration": source.get("best_validation_duration")},
        "trained_on": record.get("machine") or NOT_RECORDED,
        "device": record.get("device") or NOT_RECORDED,
        "neuralpde": {"version": record.get("neuralpde_version", NOT_RECORDED),
                      "git_commit": record.get("neuralpde_git_commit", NOT_RECORDED)},
        "update_seconds": None if metrics is None else update_seconds(metrics),
    }


def _data_card(record: dict, config) -> dict:
    """The ``data`` of :func:`model_card`: the training store, from the record's generation
    key (the train split's) and the config's ``train_trajectories``."""
    text = record.get("generation_key") or ""
    try:
        key = json.loads(text) if text else None
    except ValueError:
        key = None
    data = {"preset": record.get("preset"), "folder": record.get("data"),
            "model_size": int(record["model_size"])}
    if not isinstance(key, dict):  # trained without a store (a staggered set's state pool)
        return data
    split = key.get("split") if isinstance(key.get("split"), dict) else {}
    held = split.get("n_samples")
    return {**data, "reference_solver": key.get("reference_solver", "fv"),  # the key names
            "fine_size": key.get("fine_size"),                            # only the others
            "train_trajectories": getattr(config, "train_trajectories", 0) or held,
            "trajectories_in_store": held}


def update_seconds(metrics: list[dict]) -> float | None:
    """Seconds the training updates took, from the rates a run logged (``metrics.jsonl``).

    Each logged line closes an interval of updates since the line before; the
    interval took ``updates / steps_per_s`` seconds.  An interval that also holds
    the first update (its compilation) or a validation (a validation line of a
    step from the interval's first to its last update but one) is counted at the
    median rate of the other intervals instead, so compilation and validation
    are excluded; checkpoint writes and logging are not, and a resumed run's
    recompilation after each restart is not told apart.  None when there is no
    rate, or no interval free of compilation and validation.
    """
    validations = [row["step"] for row in metrics if "validation_duration" in row]
    intervals, previous = [], 0
    for row in sorted((r for r in metrics if "steps_per_s" in r), key=lambda r: r["step"]):
        rate = row["steps_per_s"]
        if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0 \
                or row["step"] <= previous:
            continue
        clean = previous > 0 and not any(previous <= v < row["step"] for v in validations)
        intervals.append((row["step"] - previous, float(rate), clean))
        previous = row["step"]
    clean_rates = [rate for _, rate, clean in intervals if clean]
    if not clean_rates:
        return None
    typical = statistics.median(clean_rates)
    return sum(updates / (rate if clean else typical) for updates, rate, clean in intervals)


def weights_card(name_or_path) -> tuple[dict, bool]:
    """``(card, stored)`` of a weights file (a shipped name or a ``.npz`` path): its model
    card and True, or, for a file written before cards existed, the card derived from its
    run record (:func:`model_card` without metrics) and False.  Errors as
    :func:`weights_path` and :func:`read_weights`."""
    path = weights_path(name_or_path)
    meta, _ = read_weights(path)
    if isinstance(meta.get("card"), dict):
        return meta["card"], True
    try:
        return model_card(meta["record"], meta.get("provenance") or {}), False
    except (KeyError, TypeError, ValueError) as error:  # ConfigError included
        raise ConfigError(f"{printable(path)}: its run record does not describe a model "
                          f"({type(error).__name__}: {error}): a damaged or hand-edited "
                          "file") from error


def _number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}" if isinstance(value, float) \
        else str(value)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.2g} s"


def card_summary(card: dict) -> str:
    """A card in one line: kind, seed, checkpoint, data, machine, update time (control
    characters escaped)."""
    point = card.get("checkpoint") or {}
    recipe = card.get("recipe") or {}
    steps = recipe.get("steps")
    best = point.get("best_validation_duration")
    seconds = card.get("update_seconds")
    return printable(
        f"{card.get('model')}, seed {card.get('seed')}, {point.get('which')} checkpoint at "
        f"update {point.get('step')}" + (f" of {steps}" if steps is not None else "")
        + (f" (validation duration {best:.3f})" if best is not None else "")
        + f"; data: {_data_line(card.get('data'))}; trained on {card.get('trained_on')}"
        + f"; updates {'–' if seconds is None else _seconds(seconds)}")


def _data_line(data: dict | None) -> str:
    if not data or not data.get("folder"):
        return "no training store" + (f", {data['model_size']}² grid" if data else "")
    line = f"{data.get('preset')} preset (folder {data.get('folder')})"
    if data.get("fine_size") is not None:
        used, held = data.get("train_trajectories"), data.get("trajectories_in_store")
        line += (f", {used} training trajectories" + (f" of {held}" if held != used else "")
                 + f", {data.get('model_size')}² from a {data.get('fine_size')}² "
                 f"{data.get('reference_solver')} reference")
    else:
        line += f", {data.get('model_size')}²"
    return line


def describe_card(name: str, card: dict, stored: bool = True) -> str:
    """A card as a readable block of lines (what ``neuralpde pretrained`` prints); control
    characters in its strings are escaped (:func:`~neuralpde.config.printable`)."""
    recipe = dict(card.get("recipe") or {})
    model = recipe.pop("model", {}) or {}
    point = card.get("checkpoint") or {}
    package = card.get("neuralpde") or {}
    commit = package.get("git_commit")
    seconds = card.get("update_seconds")
    best = point.get("best_validation_duration")
    lines = [
        ("model", f"{card.get('model')} (run folder {card.get('run')})"),
        ("data", _data_line(card.get("data"))),
        ("recipe", ", ".join(f"{k} {_number(v, 4)}" for k, v in recipe.items())),
        ("network", ", ".join(f"{k} {_number(v, 4)}" for k, v in model.items())),
        ("seed", str(card.get("seed"))),
        ("checkpoint", f"{point.get('which')}, update {point.get('step')}"
                       + ("" if best is None else f" (best validation duration {best:.3f})")),
        ("trained on", str(card.get("trained_on"))),
        ("devices", str(card.get("device"))),
        ("neuralpde", f"{package.get('version')}, git "
                      + (commit or "none (an installed package)")),
        ("update time", NOT_RECORDED if seconds is None and not stored else
         "not measurable from the log" if seconds is None else
         f"{_seconds(seconds)} (the updates at their logged rates; compilation and "
         "validation excluded)"),
    ]
    if not stored:
        lines.append(("card", "none in the file (written before model cards): derived from "
                              "its run record"))
    # a card's strings come from a file: a control character in them is shown escaped
    return "\n".join([printable(name)] + [f"  {label + ':':<13} {printable(text)}"
                                          for label, text in lines])


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
        raise ConfigError(f"{printable(path)}: its run record's flow or grid cannot be read "
                          f"({type(error).__name__}: {error}): a damaged or hand-edited "
                          "file") from error
    found = store_flow(store), int(store.attrs["model_size"])
    if trained[1] != found[1]:
        return f"they were trained on a {trained[1]}² grid, the store has {found[1]}²"
    if trained[0] != found[0]:
        return f"they were trained on the flow {trained[0]}, the store holds {found[0]}"
    return None


def _first(names: list, count: int = 3) -> str:
    """The first ``count`` of ``names``, and how many more."""
    shown = ", ".join(names[:count])
    return shown + (f" and {len(names) - count} more" if len(names) > count else "")


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
        raise ConfigError(f"{printable(path)}: its run record does not describe a model "
                          f"({type(error).__name__}: {error}): a damaged or hand-edited "
                          "file") from error
    template = jax.tree_util.tree_leaves_with_path(solver.params)
    keys = [jax.tree_util.keystr(key) for key, _ in template]
    damaged = "(a damaged or hand-edited file)"
    missing = [key for key in keys if key not in arrays]
    unexpected = sorted(key for key in arrays if key not in set(keys))
    if missing or unexpected:
        raise ConfigError(f"{printable(path)}: its arrays do not match the parameters of the "
                          "model its record describes: " + "; ".join(
                              f"{what} {printable(_first(names))}" for what, names in
                              (("missing", missing), ("unexpected", unexpected)) if names)
                          + f" {damaged}")
    for key, (_, leaf) in zip(keys, template):
        array = arrays[key]
        if array.shape != leaf.shape:
            raise ConfigError(f"{printable(path)}: array {printable(key)} has shape "
                              f"{array.shape}, the parameter {tuple(leaf.shape)} {damaged}")
        if array.dtype != leaf.dtype:
            raise ConfigError(f"{printable(path)}: array {printable(key)} holds {array.dtype} "
                              f"values: accepted {leaf.dtype}, the parameter's dtype {damaged}")
    leaves = [jnp.asarray(arrays[k], dtype=leaf.dtype) for k, (_, leaf) in zip(keys, template)]
    treedef = jax.tree_util.tree_structure(solver.params)
    return solver.with_params(jax.tree_util.tree_unflatten(treedef, leaves))


__all__ = ["WEIGHTS_FORMAT", "WEIGHTS_DIR", "PRETRAINED_PREFIX", "RECIPE_FIELDS", "NOT_RECORDED",
           "available", "weights_path", "write_weights", "read_weights", "model_card",
           "update_seconds", "weights_card", "card_summary", "describe_card", "pretrained_name",
           "check_fits", "load_pretrained"]
