"""Errors raised by separena, and helpers that format them as one line.

Every message follows one template, ``<where>: <what is wrong>; expected <X>, got <Y>
(did you mean <Z>?)``, so the CLI can print it on a single line and exit non-zero.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "SeparenaError",
    "UnknownNameError",
    "RegistryFileError",
    "PluginError",
    "CheckpointError",
    "AudioFileError",
    "TrainingError",
    "TrainingInterrupted",
    "did_you_mean",
    "suggestion",
    "first_line",
]


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Close matches of ``name`` among ``choices``, best first."""
    return difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)


def _format_suggestions(close: Iterable[str]) -> str:
    close = list(close)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def suggestion(name: str, choices: Iterable[str], n: int = 1) -> str:
    """The message suffix ``" (did you mean 'x'?)"`` for the ``n`` closest ``choices``, or ``""``.

    Every "did you mean" in separena's messages is written by this function (or by
    :class:`UnknownNameError`, which names up to three), so they all read the same.
    """
    return _format_suggestions(did_you_mean(name, choices, n=n))


def first_line(exc: BaseException | str, default: str | None = None) -> str:
    """The first non-blank line of an exception's message (or of a text), stripped.

    An empty message gives ``default``, or the exception's type name (``""`` for a text).
    Messages that must fit on one line (the CLI's, a run's stored error) quote this.
    """
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    if default is not None:
        return default
    return "" if isinstance(exc, str) else type(exc).__name__


class SeparenaError(Exception):
    """Base class of every error separena raises on purpose (bad input, not bugs)."""


class UnknownNameError(SeparenaError, KeyError):
    """A model, architecture, loss, dataset or suite name that is not registered."""

    def __init__(self, kind: str, name: str, choices: Iterable[str], hint: str = "") -> None:
        self.kind, self.name = kind, name
        self.suggestions = did_you_mean(name, choices)
        msg = f"unknown {kind} {name!r}" + _format_suggestions(self.suggestions)
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class RegistryFileError(SeparenaError):
    """One or more problems in a registry YAML file; each is one line ``file:line: key: ...``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PluginError(SeparenaError):
    """A plugin failed to import, register, or returned something that breaks the spec."""

    def __init__(self, plugin: str, stage: str, cause: BaseException | str) -> None:
        self.plugin, self.stage, self.cause = plugin, stage, cause
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"plugin {plugin} failed at {stage}: {reason}")


class CheckpointError(SeparenaError):
    """A checkpoint that is missing, unsafe to load, or belongs to another model."""


class AudioFileError(SeparenaError):
    """An audio file that is missing, unreadable, empty, or not what was expected."""


class TrainingError(SeparenaError):
    """Training stopped on purpose, e.g. on a non-finite loss."""


class TrainingInterrupted(TrainingError):
    """Training stopped by Ctrl-C (KeyboardInterrupt); the last weights were saved if a checkpoint
    path was given. ``checkpoint`` is where (``None``: not saved), ``steps`` the steps taken."""

    def __init__(self, message: str, *, checkpoint: Path | None = None, steps: int = 0) -> None:
        self.checkpoint, self.steps = checkpoint, steps
        super().__init__(message)
