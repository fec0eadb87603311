"""Helpers shared by the typed, frozen dataclass configs of the package.

Every config is a frozen dataclass that validates itself in ``__post_init__``
and round-trips through plain JSON (``to_dict`` / ``from_dict``) so it can be
stored in a trajectory store's attrs or a run folder.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


class UserInputError(Exception):
    """Base of the errors caused by the user's input; the CLI prints them and exits with 2."""


class ConfigError(UserInputError, ValueError):
    """A configuration value is outside its accepted range."""


def require(condition: bool, name: str, value: Any, accepted: str) -> None:
    """Raise :class:`ConfigError` naming ``name=value`` and the accepted range."""
    if not condition:
        raise ConfigError(f"invalid {name}={value!r}: accepted {accepted}")


def require_positive(name: str, value: float) -> None:
    require(isinstance(value, (int, float)) and math.isfinite(value) and value > 0,
            name, value, "a finite number > 0")


def require_positive_int(name: str, value: int) -> None:
    require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
            name, value, "an integer >= 1")


def to_dict(config) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) config dataclass, tagged with its kind."""
    out: dict[str, Any] = {"kind": type(config).__name__}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[field.name] = value
    return out


def fields_from_dict(cls, data: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``cls`` found in ``data`` (unknown keys are an error)."""
    data = {k: v for k, v in data.items() if k != "kind"}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s) {unknown}: accepted {sorted(names)}")
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = data[f.name]
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out
