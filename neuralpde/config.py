"""Helpers shared by the typed, frozen dataclass configs of the package.

Every config is a frozen dataclass that validates itself in ``__post_init__``
and round-trips through plain JSON (``to_dict`` / ``from_dict``) so it can be
stored in a trajectory store's attrs or a run folder.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any


class UserInputError(Exception):
    """Base of the errors caused by the user's input; the CLI prints them and exits with 2."""


class ConfigError(UserInputError, ValueError):
    """A configuration value is outside its accepted range."""


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text) -> str:
    """``text`` with every non-printable character (ESC, newlines, ...) replaced by its escape
    (``\\n``, ``\\x1b``, ``\\u200b``), so that a value read from a file or typed by a user
    cannot move the cursor, recolour or split a line it is printed in."""
    return "".join(ch if ch.isprintable() else _ESCAPES.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}" if ord(ch) < 0x10000
        else f"\\U{ord(ch):08x}") for ch in str(text))


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


def _dataclass_types(annotation) -> tuple:
    """The dataclasses a field annotation admits (``X``, ``Optional[X]``, ``Union[X, Y]``)."""
    if dataclasses.is_dataclass(annotation):
        return (annotation,)
    return tuple(t for t in typing.get_args(annotation) if dataclasses.is_dataclass(t))


def from_dict(cls, data: dict[str, Any]):
    """Inverse of :func:`to_dict`: build ``cls`` (nested configs included) from a plain dict.

    A nested field whose annotation admits several config classes (a
    ``Union``) is built from the class named by its ``kind`` tag.  Unknown
    keys raise :class:`ConfigError`; missing keys take the field defaults, so
    records written before a field existed still load.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"invalid {cls.__name__}: accepted a JSON object, got {data!r}")
    kind = data.get("kind")
    if kind is not None and kind != cls.__name__:
        raise ConfigError(f"invalid config kind {kind!r}: accepted {cls.__name__!r}")
    kwargs = fields_from_dict(cls, data)
    hints = typing.get_type_hints(cls)
    for name, value in kwargs.items():
        options = _dataclass_types(hints[name])
        if not options or not isinstance(value, dict):
            continue
        by_name = {option.__name__: option for option in options}
        chosen = by_name.get(value.get("kind")) if len(options) > 1 else options[0]
        if chosen is None:
            raise ConfigError(f"unknown {name} kind {value.get('kind')!r}: "
                              f"accepted {sorted(by_name)}")
        kwargs[name] = from_dict(chosen, value)
    return cls(**kwargs)


def with_fields(config, **fields):
    """A copy of the config dataclass ``config`` with fields replaced by name.

    A name may be a field of ``config`` or of one of its nested configs (e.g.
    ``hidden`` of ``TrainConfig.model``); ``None`` values are ignored, so the
    unset options of a command line can be passed as they are.  Unknown
    names raise :class:`ConfigError` naming the accepted ones.  (A data
    preset, whose fields are per split, has its own:
    :func:`neuralpde.store.presets.with_overrides`.)
    """
    fields = {k: v for k, v in fields.items() if v is not None}
    own = {f.name for f in dataclasses.fields(config)}
    nested = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if dataclasses.is_dataclass(getattr(config, f.name))}
    replaced = {k: v for k, v in fields.items() if k in own}
    rest = {k: v for k, v in fields.items() if k not in own}
    for name, child in nested.items():
        names = {f.name for f in dataclasses.fields(child)}
        mine = {k: v for k, v in rest.items() if k in names}
        if mine:
            replaced[name] = with_fields(replaced.get(name, child), **mine)
            rest = {k: v for k, v in rest.items() if k not in mine}
    if rest:
        accepted = sorted(own | {f.name for child in nested.values()
                                 for f in dataclasses.fields(child)})
        raise ConfigError(f"unknown {type(config).__name__} field(s) {sorted(rest)}: "
                          f"accepted {accepted}")
    return dataclasses.replace(config, **replaced)
