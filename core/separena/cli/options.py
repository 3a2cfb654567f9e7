"""The options several commands share, and the checks that run before any work.

Budget options (``--steps``, ``--examples``, ``--macs``, ``--minutes``, ``--batch-size``,
``--learning-rate``) are checked by the schema registry.yaml's ``budget:`` uses
(:class:`BudgetValue`); ``--device`` by what torch sees on this machine (:func:`check_device`);
output paths by :func:`check_output_path` before minutes of training. Also the default number
of data workers, the ``--eval-mixtures`` option, and ``--set KEY=VALUE`` (a model parameter,
:class:`ParamAssignment`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import SeparenaError
from ..specs import BUDGET_FIELDS, BUDGET_KINDS, check_budget_value

__all__ = ["BudgetValue", "budget_options", "budget_overrides", "check_device", "device_option", "check_output_path",
           "default_data_workers", "eval_mixtures_option", "ParamAssignment", "param_option", "param_overrides"]


class BudgetValue(click.ParamType):
    """A budget option, checked by the schema registry.yaml's ``budget:`` uses (:data:`BUDGET_FIELDS`)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.integer = BUDGET_FIELDS[key][1] == "a positive integer"
        self.name = "integer" if self.integer else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        expected = BUDGET_FIELDS[self.key][1]
        if isinstance(value, str):
            try:
                value = int(value) if self.integer else float(value)
            except ValueError:
                self.fail(f"expected {expected}, got {value!r}", param, ctx)
        problem = check_budget_value(self.key, value)
        if problem is not None:
            self.fail(f"expected {problem}, got {value!r}", param, ctx)
        return value


def budget_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--steps/--examples/--macs/--minutes`` (replace the suite's limits) and
    ``--batch-size/--learning-rate`` (replace its values)."""
    helps = {"steps": "Budget in optimizer steps", "examples": "Budget in training mixtures seen",
             "macs": "Budget in training compute, e.g. 4e12", "minutes": "Budget in minutes of training"}
    for key in reversed(BUDGET_KINDS):
        fn = click.option(f"--{key}", key, type=BudgetValue(key), default=None,
                          help=f"{helps[key]} (replaces the suite's limits).")(fn)
    fn = click.option("--learning-rate", "learning_rate", type=BudgetValue("learning_rate"), default=None,
                      help="Adam's learning rate (default: the suite's).")(fn)
    return click.option("--batch-size", "batch_size", type=BudgetValue("batch_size"), default=None,
                        help="Mixtures per step (default: the suite's).")(fn)


def budget_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """The budget fields the command line set: any limit replaces all of the suite's limits."""
    out = {k: options.pop(k) for k in ("batch_size", "learning_rate") if options.get(k) is not None}
    options.pop("batch_size", None), options.pop("learning_rate", None)
    limits = {k: options.pop(k) for k in BUDGET_KINDS}
    if any(v is not None for v in limits.values()):
        out.update(limits)
    return out


def check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A device torch knows and this machine has; checked before any work."""
    if value == "cpu" or ctx.resilient_parsing:  # the default, and the shell completing a word: no torch import
        return value
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise click.BadParameter(f"expected cpu, cuda or cuda:N, got {value!r}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise click.BadParameter(f"expected cpu: torch sees no CUDA GPU on this machine, got {value!r}")
        if device.index is not None and device.index >= count:
            raise click.BadParameter(f"expected cuda:0 to cuda:{count - 1} ({count} GPU(s) seen), got {value!r}")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise click.BadParameter(f"expected cpu: torch sees no MPS device on this machine, got {value!r}")
    elif device.type != "cpu":
        raise click.BadParameter(f"expected cpu, cuda or cuda:N, got {value!r}")
    return value


def device_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--device", default="cpu", show_default=True, callback=check_device,
                        help="torch device: cpu, cuda, cuda:N.")(fn)


def check_output_path(path: Path, option: str, *, folder: bool) -> None:
    """Refuse, before any work, an output path that cannot be written: a file where a folder
    is needed (itself or on the way to it), a folder where a file is needed, or a place the
    process may not write. Creates nothing."""
    if path.is_dir() and not folder:
        raise SeparenaError(f"{option} {path}: is a folder; expected a file path (e.g. {path / 'model.pt'})")
    if path.exists():
        if folder and not path.is_dir():
            raise SeparenaError(f"{option} {path}: is a file; expected a folder (existing or to be created)")
        if not os.access(path, os.W_OK):
            raise SeparenaError(f"{option} {path}: not writable; expected a path this user may write")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise SeparenaError(f"{option} {path}: {ancestor} is a file; expected a folder there")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SeparenaError(f"{option} {path}: folder {ancestor} is not writable; expected a path this user may write")


def default_data_workers(device: str, requested: int | None = None) -> int:
    """Processes building training batches: ``requested``, else none on the CPU (they would take
    cores from the model) and up to 8 on a GPU, one core left for the training loop."""
    if requested is not None:
        return requested
    if not device.startswith("cuda"):
        return 0
    return min(8, max(0, len(os.sched_getaffinity(0)) - 1))


def eval_mixtures_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--eval-mixtures", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Score a fixed, seeded subset of N mixtures of each test set (default: all).")(fn)


class ParamAssignment(click.ParamType):
    """``KEY=VALUE``: a builder parameter and its value read as YAML (``64``, ``0.1``, ``true``,
    ``relu``, ``null``, ``[1, 2]``), as a preset's ``params:`` in a registry file would give it, and
    ``1e-3`` as the number it looks like."""

    name = "KEY=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            self.fail(f"expected KEY=VALUE with KEY a model parameter (see `separena info NAME`), got {value!r}",
                      param, ctx)
        if not text.strip():
            self.fail(f"{key}: expected a value after '=' (64, 0.1, true, relu, null, [1, 2]), got none", param, ctx)
        import yaml

        if re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\s*", text):  # YAML 1.1 reads 1e-3 as text
            return key, float(text)
        try:
            return key, yaml.safe_load(text)
        except yaml.YAMLError:
            self.fail(f"{key}: expected a YAML value (64, 0.1, true, relu, null, [1, 2]), got {text!r}", param, ctx)


def param_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--set", "param_values", type=ParamAssignment(), multiple=True,
                        help="Set a model parameter for this training, e.g. --set hidden_size=64 (a YAML value; "
                             "repeatable; `separena info NAME` lists them). The checkpoint keeps it.")(fn)


def param_overrides(values: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """``--set`` values as builder overrides; a parameter set twice is refused."""
    out: dict[str, Any] = {}
    for key, value in values:
        if key in out:
            raise SeparenaError(f"--set {key}: given twice ({out[key]!r} and {value!r}); expected it once")
        out[key] = value
    return out
