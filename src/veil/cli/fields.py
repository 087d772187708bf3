"""Command-line options derived from typed settings fields, so each default and help text lives once.

A command declares its own parameters and takes ``**settings``; :func:`with_field_options`
appends one ``--flag`` per pydantic field to the signature Typer reads. The field's
description is the help text; its default is shown as is, or, where the default
is None, the description says what unset means.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

import typer
from pydantic.fields import FieldInfo

F = TypeVar("F", bound=Callable[..., Any])


def with_field_options(
    fields: Iterable[tuple[str, FieldInfo]], panel: str, *, env_prefix: str | None = None
) -> Callable[[F], F]:
    """Add a keyword-only ``--name`` option for every field to the decorated command's signature.

    With ``env_prefix``, the flag's default is left unset (None) and the help names the
    variable (``VEIL_NAME``) the setting is otherwise read from, with its real default.
    """
    parameters = [_parameter(name, info, panel, env_prefix) for name, info in fields]

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        command.__signature__ = signature.replace(parameters=[*own, *parameters])  # type: ignore[attr-defined]
        return command

    return decorate


def _parameter(name: str, info: FieldInfo, panel: str, env_prefix: str | None) -> inspect.Parameter:
    default = _cli_default(info.get_default(call_default_factory=True))
    help_text = info.description or ""
    if env_prefix is not None:
        shown = (
            "" if default is None else f"; default: {str(default).lower() if isinstance(default, bool) else default}"
        )
        help_text = f"{help_text} (env {env_prefix}{name.upper()}{shown})"
        default = None  # unset on the command line: the environment or the setting's default decides
    option = typer.Option(
        f"--{name.replace('_', '-')}", help=help_text, show_default=default is not None, rich_help_panel=panel
    )
    python_type = _cli_type(info.annotation)
    if default is None:
        python_type = python_type | None
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[python_type, option]
    )


def _cli_type(annotation: Any) -> Any:
    """The type Typer parses a field as: its own, but text for tuples (comma-separated) and no None."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _cli_type(typing.get_args(annotation)[0])
    if origin is tuple:
        return str
    if origin in (types.UnionType, typing.Union):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return _cli_type(args[0])
    return annotation


def _cli_default(value: object) -> object:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return value
