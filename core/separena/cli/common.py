"""What every command shares: the consoles, errors the user can fix as one ``error:`` line, and
the registry the root options (``--plugin``, ``--registry``) describe.

:func:`one_line_errors` wraps each command: a :class:`~separena.errors.SeparenaError` or a
path the OS refuses prints one ``error:`` line and exits with status 2, Ctrl-C during training
exits with 130 after saying where the weights are; anything else is a bug and keeps its
traceback. :class:`OneLineGroup` does the same for click's usage errors.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, Literal

import click
from rich.console import Console

from ..errors import SeparenaError, TrainingInterrupted
from ..registry import Registry, default_registry

__all__ = ["console", "err_console", "one_line_errors", "OneLineGroup", "context_registry", "complete_names"]

# Piped to a file or CI log, rich would fold tables to 80 columns; keep rows on one line there.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 250)
err_console = Console(stderr=True)


def one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that errors the user can fix are one ``error:`` line (exit status 2;
    130 for an interrupted training)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TrainingInterrupted as exc:  # Ctrl-C: the weights are saved, say where
            click.echo(f"error: {exc}", err=True)
            sys.exit(130)
        except SeparenaError as exc:
            lines = str(exc).splitlines() or [type(exc).__name__]
            for line in lines:
                click.echo(f"error: {line}", err=True)
            sys.exit(2)
        except OSError as exc:  # a path the OS refuses (full disk, permissions): not a bug of ours
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            sys.exit(2)

    return wrapper


class OneLineGroup(click.Group):
    """A click group whose usage errors (unknown option, bad value, missing argument) are one
    ``error:`` line with exit status 2, like every other error the user can fix."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            message = " ".join(exc.format_message().split())
            command = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "separena"
            click.echo(f"error: {message} (see `{command} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


def context_registry(ctx: click.Context, *, strict_plugins: bool = True, check_params: bool = True) -> Registry:
    """The registry with the ``--plugin`` and ``--registry`` options; a plugin named with
    ``--plugin`` that fails is an error (``strict_plugins``), one found by discovery is not.
    ``check_params``: see :class:`~separena.registry.Registry`."""
    root = ctx.find_root()
    obj = root.obj or root.params  # the group's callback has not run while the shell completes a word
    registry = default_registry(plugins=obj.get("plugins", ()), registry_files=obj.get("registry_files", ()),
                                check_params=check_params)
    if strict_plugins:
        for target in obj.get("plugins", ()):
            info = registry.plugins.get(target)
            fatal = [e for e in (info.errors if info else []) if " failed at import: " in e
                     or " failed at registration: " in e]  # it provides nothing (one bad record is a note)
            if fatal:
                raise SeparenaError(f"--plugin {target}: " + " ".join(fatal[0].split())
                                    + "; expected a module or .py file that imports (see `separena plugins`)")
    return registry


def complete_names(kind: Literal["models", "suites", "datasets", "cache"]
                   ) -> Callable[[click.Context, click.Parameter, str], list[str]]:
    """A shell-completion callback for an argument or option that names ``kind``: ``models``
    (presets), ``suites``, ``datasets`` (of the registry the root options describe) or
    ``cache`` (the cache's entries); those that start with what was typed."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        try:
            if kind == "cache":
                from ..data.cache import cache_entries

                entries = cache_entries()
                names = [e.name for e in entries] + [e.kind for e in entries]
            else:
                # names only: no preset checked against its builder, so no model code (or torch) imported
                registry = context_registry(ctx, strict_plugins=False, check_params=False)
                names = list(getattr(registry, {"models": "presets"}.get(kind, kind)))
        except Exception:  # a word left uncompleted, never a traceback in the user's shell
            return []
        return sorted({n for n in names if n.startswith(incomplete)})

    return complete
