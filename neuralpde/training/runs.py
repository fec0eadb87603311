"""Run folders: one ``run.json`` schema for every learned kind, their metrics logs, their loaders.

A run folder holds

* ``run.json`` — the record (:func:`make_record`), format :data:`RUN_FORMAT`:

  ============================  ==============================================================
  key                           meaning
  ============================  ==============================================================
  ``format``                    :data:`RUN_FORMAT`
  ``kind``                      ``li``, ``tsm-hippo``, ``tsm-cnn`` or ``stagger``
  ``train_config``              the config (:func:`neuralpde.config.to_dict`, tagged by class)
  ``flow``                      the flow trained on
  ``model_size``                the grid the solver runs on (a staggered set: its fine grid)
  ``preset``                    the data preset of the training store (None: no store)
  ``data``                      the data folder trained on (None: none)
  ``generation_key``            what generated the training store ("" without one)
  ``fine_dt``                   staggered sub-solvers: the fine time step
  ``feature_scale``             TSM with ``feature_norm='rms'``: the per-channel scale
  ``neuralpde_version``, ...    versions: the package's, its git commit
                                (``neuralpde_git_commit``, :func:`neuralpde.provenance`;
                                ``''`` outside a checkout, absent in runs made before
                                it was recorded) and JAX's, as of the run's first start
  ``machine``, ``device``       where the run was first started: the machine
                                (:func:`neuralpde.machine`: CPU, cores, OS) and JAX's
                                devices (``'gpu: NVIDIA H100 80GB HBM3 x1'``); absent in
                                runs made before they were recorded, not compared on
                                resume (a run resumed elsewhere keeps the first values)
  ============================  ==============================================================

* ``metrics.jsonl`` — one JSON line per logged step (``step``, ``loss``,
  ``grad_norm``, ``learning_rate``, ``steps_per_s``, ``skipped`` and the
  kind's own terms) and per validation (``step``, ``validation_duration``);
* ``checkpoints/last/<step>/`` and ``checkpoints/best/<step>/`` (orbax);
* ``tensorboard/`` — the same lines as TensorBoard scalars
  (:mod:`neuralpde.training.tensorboard`);
* ``.neuralpde.lock`` — the lock of the process training there (:mod:`neuralpde.outputs`).

Run folders written before the format existed (LI/TSM records without
``format``/``kind``; staggered records with ``size`` instead of
``model_size``) are read by :func:`read_record`, which returns them in the
current format.  :func:`load_solver` turns any run folder into its trained
solver.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import xarray as xr

from neuralpde import provenance
from neuralpde.config import ConfigError, to_dict
from neuralpde.evaluation.results import results_name
from neuralpde.models.config import LIConfig, StaggerModelConfig
from neuralpde.physics.flows import flow_from_dict
from neuralpde.solvers.rollout import device_name
from neuralpde.store.reading import store_flow
from neuralpde.training.checkpoint import CheckpointError, Checkpoints
from neuralpde.training.config import train_config_from_dict
from neuralpde.training.kinds import KIND_NAMES, kind_of
from neuralpde.training.optim import make_optimizer
from neuralpde.training.run_folder import RunFolder

RUN_FORMAT = 2
RECORD_KEYS = ("train_config", "flow", "model_size")
#: Saved fields of the trained grid: a solver run on another grid (``transfer``) takes its own.
GRID_FIELDS = ("fine_dt",)


def make_record(config, fields: dict) -> dict:
    """The ``run.json`` record of a run of ``config`` with the task's ``fields``."""
    return {"format": RUN_FORMAT, "kind": config.kind,
            "train_config": json.loads(config.to_json()), **fields,
            **provenance(), "device": device_name(), "jax_version": jax.__version__}


#: What to do about a run.json that cannot be read.
_NOT_A_RUN = "; move the file away or pass another --out / run folder"


def read_record(run_dir) -> dict:
    """The ``run.json`` of a run folder, in the current format (older formats migrated).

    Raises :class:`ConfigError` naming the folder when there is no run.json,
    or the file when it is not a readable record.
    """
    path = RunFolder(run_dir).record
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a training run folder (no run.json): train one with "
                          "`neuralpde train` or `neuralpde stagger-train`")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not a readable run record: {error}{_NOT_A_RUN}") from error
    if not isinstance(record, dict):
        raise ConfigError(f"{path} is not a run record: expected a JSON object{_NOT_A_RUN}")
    if "format" not in record:  # written before RUN_FORMAT 2
        record = dict(record)
        if "model_size" not in record and "size" in record:  # a staggered run
            record["model_size"] = record.pop("size")
            record.setdefault("preset", None)
            record.setdefault("generation_key", "")
            record["kind"] = StaggerModelConfig.kind_name
        else:
            model = record.get("train_config", {}).get("model", {})
            record["kind"] = (model.get("architecture", LIConfig.kind_name)
                              if isinstance(model, dict) else LIConfig.kind_name)
        record["format"] = RUN_FORMAT
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing or record.get("kind") not in KIND_NAMES:
        raise ConfigError(f"{path} is not a run record: missing {missing or ['a known kind']} "
                          f"(kinds: {list(KIND_NAMES)}){_NOT_A_RUN}")
    return record


def run_config(record: dict):
    """The training config of a record (:class:`~neuralpde.training.config.TrainConfig` or
    :class:`~neuralpde.training.config.StaggerTrainConfig`; an older record's model is read
    into its kind's config, :func:`~neuralpde.training.config.train_config_from_dict`)."""
    return train_config_from_dict(record["train_config"])


def check_same_run(run_dir, existing: dict, record: dict) -> None:
    """Refuse (:class:`ConfigError`) to resume ``run_dir`` with a different run.

    Compared: the kind, the config (the model's own fields: an older record's
    fields its kind ignored are not read; fields added since the run was made
    take their defaults), the flow, the grid, and
    the training data (preset and generation key; a run made without a store
    has none).
    """
    differing = [f"{key} ({existing.get(key)} -> {record.get(key)})"
                 if key != "generation_key" else "training data (generation_key)"
                 for key in ("kind", "model_size", "generation_key")
                 if existing.get(key) != record.get(key)]
    if None not in (existing.get("preset"), record.get("preset")) \
            and existing["preset"] != record["preset"]:
        differing.append(f"preset ({existing['preset']} -> {record['preset']})")
    if flow_from_dict(existing["flow"]) != flow_from_dict(record["flow"]):
        differing.append("flow")
    changed = config_changes(run_config(existing), run_config(record))
    if changed:
        differing.insert(0, "train_config (" + ", ".join(changed) + ")")
    if differing:
        raise ConfigError(f"{run_dir} holds a run with a different {'; '.join(differing)}: "
                          "use another --out to start a new run")


def config_changes(old, new) -> list[str]:
    """``['field: old -> new', ...]`` for every (nested, dotted) field two configs differ in."""
    def flat(value, prefix=""):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                out.update(flat(item, f"{prefix}{key}."))
            return out
        return {prefix[:-1]: value}

    a, b = flat(to_dict(old)), flat(to_dict(new))
    return [f"{key}: {a.get(key)!r} -> {b.get(key)!r}" for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)]


def metric_row(line: str) -> dict | None:
    """One ``metrics.jsonl`` line as a dict with an integer ``step``, or None when the line is
    not one (a line torn by a hard kill mid-write, or damaged)."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict) or not isinstance(row.get("step"), int) \
            or isinstance(row.get("step"), bool):
        return None
    return row


def _metric_lines(path: Path) -> list[str]:
    """The non-blank lines of a ``metrics.jsonl`` (undecodable bytes replaced)."""
    return [line for line in path.read_bytes().decode("utf-8", "replace").splitlines()
            if line.strip()]


def read_metrics(run_dir) -> list[dict]:
    """Every readable line of a run's ``metrics.jsonl`` (empty if there is none).

    A line that is not a metrics record (torn by a hard kill while it was
    written, or damaged) is skipped with a one-line warning naming the file.
    """
    path = RunFolder(run_dir).metrics
    if not path.exists():
        return []
    lines = _metric_lines(path)
    rows = [metric_row(line) for line in lines]
    bad = sum(row is None for row in rows)
    if bad:
        warnings.warn(f"{path}: {bad} unreadable line(s) skipped (a line torn by a hard kill, "
                      "or damaged)", stacklevel=2)
    return [row for row in rows if row is not None]


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop metric lines written after the checkpoint a resumed run restarts from.

    Lines that are not metrics records (a line torn by a hard kill while it
    was written, or damaged) are dropped too, with a one-line warning naming
    the file: the resumed run writes its lines after the readable ones.
    """
    if not path.exists():
        return
    lines = _metric_lines(path)
    rows = [metric_row(line) for line in lines]
    kept = [line for line, row in zip(lines, rows) if row is not None and row["step"] <= last_step]
    bad = sum(row is None for row in rows)
    if bad:
        warnings.warn(f"{path}: {bad} unreadable line(s) dropped (a line torn by a hard kill, "
                      f"or damaged); the run resumes from the checkpoint of step {last_step}",
                      stacklevel=2)
    if len(kept) < len(lines):  # leave a finished run's log untouched
        path.write_text("".join(line + "\n" for line in kept))


def logged_progress(run_dir) -> tuple:
    """``(last logged loss, best validation duration)`` of a run's log (nan / None if absent).

    A resumed or already finished run reports what its log holds for the steps
    it does not repeat.
    """
    loss, best = float("nan"), None
    for row in read_metrics(run_dir):
        if "loss" in row:
            loss = float(row["loss"])
        if "validation_duration" in row:
            duration = float(row["validation_duration"])
            best = duration if best is None else max(best, duration)
    return loss, best


def solver_from_record(record: dict, flow=None, size: int | None = None, name: str = ""):
    """The untrained solver of a record (initial weights), on ``flow``/``size`` if given.

    Built by the kind's builder (:data:`~neuralpde.training.kinds.KINDS`) from the
    config and the kind's saved fields of the record (on another flow, without those of
    the trained grid, :data:`GRID_FIELDS`).
    """
    config = run_config(record)
    kind = kind_of(config)
    transfer = flow is not None
    flow = flow if transfer else flow_from_dict(record["flow"])
    size = int(record["model_size"]) if size is None else size
    saved = {key: record[key] for key in kind.saved_fields
             if record.get(key) is not None and not (transfer and key in GRID_FIELDS)}
    return kind.build_solver(config.model, config.seed, flow, size, name=name, **saved)


def load_solver(run_dir, store: xr.Dataset | None = None, which: str = "best",
                transfer: bool = False):
    """The trained solver of a run folder of any kind (``best`` checkpoint, else ``last``).

    Without ``transfer``, raises :class:`ConfigError` when ``store`` was made
    for another preset, grid or flow than the run's training data.  With
    ``transfer=True`` the trained network runs on the store's flow
    (viscosity, forcing, domain) and model grid instead — the generalisation
    experiments: the towers are periodic convolutions, so they apply to any
    grid with the same cells per unit length.  A run without a best
    checkpoint (no validation) loads its last one, with a warning when the run
    validates (its best checkpoint is then missing);
    :class:`~neuralpde.training.checkpoint.CheckpointError` when there is none.
    """
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    config = run_config(record)
    flow, size = None, None
    if store is not None and transfer:
        flow, size = store_flow(store), int(store.attrs["model_size"])
    elif store is not None:
        found = {"preset": store.attrs["preset"], "model_size": store.attrs["model_size"]}
        for key, value in found.items():
            if record.get(key) is not None and record[key] != value:
                raise ConfigError(f"run {run_dir} was trained for {key}={record[key]!r}; the "
                                  f"store has {key}={value!r} (evaluate with --transfer to run "
                                  "the trained model on it anyway)")
        trained_on = flow_from_dict(record["flow"])
        if store_flow(store) != trained_on:
            raise ConfigError(f"run {run_dir} was trained on the flow {trained_on}; the store "
                              f"holds {store_flow(store)} (evaluate with --transfer to run the "
                              "trained model on it anyway)")
    solver = solver_from_record(record, flow, size, name=results_name(run_dir.resolve().name))
    checkpoints = Checkpoints(run_dir, config.keep_last)
    try:
        if checkpoints.latest_step() is None and checkpoints.best_step() is None:
            raise CheckpointError(f"no checkpoint in {run_dir / 'checkpoints'}: the run has not "
                                  "finished a checkpoint yet")
        source = which if (which == "last" or checkpoints.best_step() is not None) else "last"
        if source != which and record.get("data"):  # validated runs always save a best one
            warnings.warn(f"run {run_dir} has no best checkpoint (checkpoints/best is empty or "
                          "missing: validation never finished, or it was removed): using its "
                          f"last checkpoint, step {checkpoints.latest_step()}", stacklevel=2)
        target = {"params": solver.params}
        if source == "last":  # the last checkpoints also hold the optimiser state and extras
            target.update(opt_state=make_optimizer(config).init(solver.params), step=0,
                          skipped=jnp.int32(0),
                          **kind_of(config).checkpoint_extras(config, int(record["model_size"])))
        restored = checkpoints.restore(source, target)
    finally:
        checkpoints.close()
    return solver.with_params(restored["params"])


__all__ = ["RUN_FORMAT", "RECORD_KEYS", "GRID_FIELDS", "make_record", "read_record",
           "run_config", "check_same_run", "config_changes", "metric_row", "read_metrics",
           "truncate_metrics", "logged_progress", "solver_from_record", "load_solver"]
