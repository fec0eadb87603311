"""The ``summary.json`` of a results folder: its one owner (fields, types, reading, writing).

A summary is one row of a comparison: what was scored, how, and how long it
lasted.  :class:`ResultSummary` is that row, typed and frozen;
``neuralpde evaluate`` (:mod:`neuralpde.evaluation.evaluate`) builds one and
:func:`neuralpde.evaluation.results.write_results` writes it
(:meth:`ResultSummary.to_json`); ``neuralpde compare``
(:func:`neuralpde.evaluation.rows.load_results`) reads it back
(:meth:`ResultSummary.load`).  The folder it lies in is owned by
:mod:`neuralpde.evaluation.results`.

The file is a JSON object, written with two-space indents and a final newline,
its keys in the order of :data:`SUMMARY_FIELDS`:

* ``solver``, ``kind``, ``size`` (the solver's grid), ``duration_of_mean``
  (time units; null where an old row had none) — required (:data:`REQUIRED_FIELDS`);
* ``model_size``, ``preset``, ``n_samples``, ``threshold``, ``horizon``,
  ``dt``, ``steps_per_frame``, ``duration_mean``, ``duration_std``,
  ``duration_min``, ``duration_max``, ``latency_s_per_time_unit`` (seconds per
  simulated time unit, null when not measured), ``device``,
  ``diverged_samples``, ``diverged_times`` (one time or null per sample),
  ``compared_on``, ``reference`` (the test store, absolute), ``source``, the
  provenance ``neuralpde_version``, ``neuralpde_git_commit``, ``machine``
  (:func:`neuralpde.provenance`), and ``skipped_metrics`` (external
  vorticity-only rollouts).

Old summaries still load: every field but the required ones may be missing
(``compared_on`` and ``source`` came later, the provenance later still), and
keys this version does not know are kept.  A loaded summary remembers both, so
:meth:`ResultSummary.to_dict` gives back the object that was read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neuralpde.config import ConfigError

#: The file name of a summary inside a results folder.
SUMMARY_FILE = "summary.json"

#: Fields every summary has (the others may be missing from old ones).
REQUIRED_FIELDS = ("solver", "kind", "size", "duration_of_mean")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: What each field accepts: (test, description).
_ACCEPTED = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (_is_int, "an integer"),
    "number": (_is_number, "a number"),
    "number?": (lambda v: v is None or _is_number(v), "a number or null"),
    "times": (lambda v: isinstance(v, (list, tuple))
              and all(t is None or _is_number(t) for t in v),
              "a list of times (numbers or null)"),
    "names": (lambda v: isinstance(v, (list, tuple)) and all(isinstance(t, str) for t in v),
              "a list of strings"),
}


def _field(kind: str):
    """A dataclass field accepting ``kind`` (a key of ``_ACCEPTED``), None until given."""
    return dataclasses.field(default=None, metadata={"accepts": kind})


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResultSummary:
    """One solver's ``summary.json``: the row ``neuralpde compare`` tabulates.

    Attributes:
      solver: the row's name (its results folder's name).
      kind: ``'dns'``, ``'spectral'``, ``'weno'``, a learned kind's, ``'external'``, ...
      size: the solver's grid size N (N² cells).
      model_size: the test store's model grid size.
      preset: the test store's preset.
      n_samples: test trajectories scored.
      threshold: the high-correlation threshold.
      horizon: the time units scored.
      dt: the solver's step (time units); the frame spacing for an external rollout.
      steps_per_frame: solver steps per stored frame.
      duration_of_mean: high-correlation duration of the sample-mean curve (time
        units); None only in old rows that had none.
      duration_mean: mean over samples of the per-sample durations.
      duration_std: their population standard deviation.
      duration_min: the shortest per-sample duration.
      duration_max: the longest.
      latency_s_per_time_unit: seconds per simulated time unit, None when not measured.
      device: where the latency was measured (``''`` when unknown).
      diverged_samples: samples whose rollout diverged.
      diverged_times: per sample, the time it diverged, or None.
      compared_on: ``'model grid'`` or the view of the reference it was compared with.
      reference: the test store, an absolute path (``''`` when not given).
      source: what the solver was made from (``run:...``, ``file:...``, a classical name).
      neuralpde_version: the package version that scored it.
      neuralpde_git_commit: its commit (``''`` outside a checkout).
      machine: the machine that scored it.
      skipped_metrics: metrics a vorticity-only rollout could not have (external rows
        only; None: the row has no such field).
      absent: fields other than the required ones that the file lacked (left out of
        :meth:`to_dict`; their attributes are None); ``skipped_metrics`` is added when None.
      extra: keys this version does not know, kept as read (written after the fields).
    """

    solver: str = _field("str")
    kind: str = _field("str")
    size: int = _field("int")
    model_size: int | None = _field("int")
    preset: str | None = _field("str")
    n_samples: int | None = _field("int")
    threshold: float | None = _field("number")
    horizon: float | None = _field("number")
    dt: float | None = _field("number")
    steps_per_frame: int | None = _field("int")
    duration_of_mean: float | None = _field("number?")
    duration_mean: float | None = _field("number")
    duration_std: float | None = _field("number")
    duration_min: float | None = _field("number")
    duration_max: float | None = _field("number")
    latency_s_per_time_unit: float | None = _field("number?")
    device: str | None = _field("str")
    diverged_samples: int | None = _field("int")
    diverged_times: tuple[float | None, ...] | None = _field("times")
    compared_on: str | None = _field("str")
    reference: str | None = _field("str")
    source: str | None = _field("str")
    neuralpde_version: str | None = _field("str")
    neuralpde_git_commit: str | None = _field("str")
    machine: str | None = _field("str")
    skipped_metrics: tuple[str, ...] | None = _field("names")
    absent: frozenset[str] = frozenset()
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check every field; lists become tuples, so the summary is immutable.

        Raises:
          ConfigError: a field of the wrong type (named, with the solver), or ``absent``
            naming a required or unknown field or one with a value.
        """
        where = f"the summary of {self.solver!r}"
        if self.skipped_metrics is None:  # only rows that skipped metrics carry the field
            object.__setattr__(self, "absent", frozenset(self.absent) | {"skipped_metrics"})
        values = {name: getattr(self, name) for name in SUMMARY_FIELDS}
        check_fields(values, where, self.absent)
        for name in ("diverged_times", "skipped_metrics"):
            if values[name] is not None:
                object.__setattr__(self, name, tuple(values[name]))
        wrong = sorted(name for name in self.absent if name not in SUMMARY_FIELDS
                       or name in REQUIRED_FIELDS or values[name] is not None)
        if wrong:
            raise ConfigError(f"{where}: absent names {wrong}: accepted optional fields "
                              "left as None")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "a summary") -> ResultSummary:
        """The summary held by the JSON object ``data``.

        Args:
          data: the object as read (every field but :data:`REQUIRED_FIELDS` may be
            missing; unknown keys are kept in ``extra``).
          where: what ``data`` came from, named in errors (a file's path).

        Raises:
          ConfigError: a required field is missing or a field has the wrong type
            (the message names ``where`` and the field).
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where} must hold a JSON object, got {type(data).__name__}")
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise ConfigError(f"{where} lacks the keys {missing} (needs {list(REQUIRED_FIELDS)})")
        check_fields({k: v for k, v in data.items() if k in FIELD_TYPES}, where)
        return cls(**{name: data[name] for name in SUMMARY_FIELDS if name in data},
                   absent=frozenset(name for name in SUMMARY_FIELDS if name not in data),
                   extra={k: v for k, v in data.items() if k not in FIELD_TYPES})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this summary: the fields in :data:`SUMMARY_FIELDS` order, less
        the ``absent`` ones, then ``extra``."""
        out: dict[str, Any] = {}
        for name in SUMMARY_FIELDS:
            if name not in self.absent:
                value = getattr(self, name)
                out[name] = list(value) if isinstance(value, tuple) else value
        out.update(self.extra)
        return out

    def to_json(self) -> str:
        """The text of ``summary.json``: :meth:`to_dict` indented by two, with a final newline."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def load(cls, path: str | os.PathLike) -> ResultSummary:
        """Read and check the summary file ``path`` (:meth:`from_dict`).

        Raises:
          ConfigError: the file cannot be read or is not JSON (``is not a readable
            JSON summary``), or :meth:`from_dict` refuses it; the message names the file.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path} is not a readable JSON summary: {error}") from error
        return cls.from_dict(data, where=str(path))


#: The fields of a summary file, in the order they are written.
SUMMARY_FIELDS = tuple(f.name for f in dataclasses.fields(ResultSummary) if "accepts" in f.metadata)
#: Field name → the type it accepts (checked by :func:`check_fields`).
FIELD_TYPES = {f.name: f.metadata["accepts"] for f in dataclasses.fields(ResultSummary)
               if "accepts" in f.metadata}


def check_fields(values: Mapping[str, Any], where: str,
                 absent: frozenset[str] = frozenset()) -> None:
    """Check summary field values by name (:data:`FIELD_TYPES`); names in ``absent`` may be None.

    Raises:
      ConfigError: ``'<where>: field 'size' is 'abc': accepted an integer'`` for the
        first value of the wrong type.
    """
    for name, value in values.items():
        if name in absent and value is None:
            continue
        test, accepted = _ACCEPTED[FIELD_TYPES[name]]
        if not test(value):
            raise ConfigError(f"{where}: field {name!r} is {value!r}: accepted {accepted}")


def read_summary(folder) -> dict:
    """``folder/summary.json`` as a dict, unchecked beyond being a JSON object (what the
    replace check of :func:`neuralpde.evaluation.results.check_replaceable` needs).

    Raises:
      ConfigError: naming the file if it is not a readable JSON object.
    """
    path = Path(folder) / SUMMARY_FILE
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"{path} is not a readable neuralpde summary "
                          f"({type(error).__name__}: {str(error)[:120]})") from None
    if not isinstance(summary, dict):
        raise ConfigError(f"{path} is not a neuralpde summary (a JSON object was expected)")
    return summary


__all__ = ["SUMMARY_FILE", "REQUIRED_FIELDS", "SUMMARY_FIELDS", "FIELD_TYPES", "ResultSummary",
           "check_fields", "read_summary"]
