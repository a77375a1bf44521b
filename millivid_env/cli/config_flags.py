"""Command-line flags generated from a config dataclass, so each field is declared once.

Every field becomes `--field-name` typed from its default (a bool gets `--x/--no-x`) with the
field's own comment as help. A flag left out is None, which keeps the base config's value (a
preset, a run being fine-tuned or resumed); the dataclass validates the values it is given.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from typing import Any
_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:[^=]+=[^#]*#\s*(.+)$")


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> the comment on the field's line, or the comment lines just above it."""
    names = {f.name for f in dataclasses.fields(cls)}
    comments, above = {}, []
    for line in inspect.getsource(cls).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = _FIELD_LINE.match(line)
        name = match.group(1) if match else stripped.split(":")[0].strip()
        if name in names and (match or above):
            comments[name] = match.group(2) if match else " ".join(above)
        above = []
    return comments


def add_config_flags(parser: argparse.ArgumentParser, cls: type, exclude: tuple[str, ...] = ()) -> None:
    """One flag per field of the dataclass `cls`, except `exclude`."""
    comments = field_comments(cls)
    group = parser.add_argument_group(f"{cls.__name__} fields (in brackets the field's default; a flag left out "
                                      "keeps the base config's value)")
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        flag, default = "--" + f.name.replace("_", "-"), f.default
        help_text = f"{comments.get(f.name, f.name)} [{default}]".replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif isinstance(default, tuple):
            group.add_argument(flag, type=_tuple_of(type(default[0])), default=None, metavar="A,B,...", help=help_text)
        else:
            group.add_argument(flag, type=type(default), default=None, metavar=type(default).__name__.upper(), help=help_text)


def _tuple_of(kind: type):
    def parse(text: str) -> tuple:
        try:
            return tuple(kind(part) for part in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__} values, got {text!r}") from None
    return parse


def config_overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}


def with_flags(base: Any, args: argparse.Namespace) -> Any:
    """`base` with the fields given on the command line (the dataclass rejects invalid values)."""
    return dataclasses.replace(base, **config_overrides(args, type(base)))
