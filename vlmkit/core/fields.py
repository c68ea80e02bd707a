"""Dataclass fields checked against their type hints: one rule for model configs and recipes,
whose values arrive from JSON files, ``--set key=value`` and notebook overrides."""

from __future__ import annotations

import types
import typing


def type_problems(cls: type, values: dict[str, object]) -> list[str]:
    """``"name=value is not TYPE"`` for each of ``values`` that does not fit the type hint of
    that field of dataclass ``cls``; ints pass for floats, bools never for numbers (JSON
    ``true`` is no layer count, nor a learning rate)."""
    hints = typing.get_type_hints(cls)
    return [f"{name}={value!r} is not {_type_name(hints[name])}" for name, value in values.items()
            if not _has_type(value, hints[name])]


def _options(hint: object) -> tuple:
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)


def _has_type(value: object, hint: object) -> bool:
    for option in _options(hint):
        if option is type(None) and value is None:
            return True
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option in (int, str, dict) and isinstance(value, option) and not (option is int and isinstance(value, bool)):
            return True
        if option is bool and isinstance(value, bool):
            return True
    return False


def _type_name(hint: object) -> str:
    return " or ".join("None" if o is type(None) else getattr(o, "__name__", str(o)) for o in _options(hint))
