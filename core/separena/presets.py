"""Load and validate registry YAML files (presets and suites).

Validation happens at load and collects every problem, each as one line in cfgv's
"where / expected / got" order, with the line number from PyYAML's node marks::

    registry.yaml:41: presets.mi-small.params.hiden_size: unknown parameter of architecture
    'mask-inference'; expected one of hidden_size, num_layers (did you mean 'hidden_size'?)

Parameters are checked against the builder's signature (``Signature.bind``) and, where the
annotation is a simple type, against the annotation, without building anything.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import yaml

from .errors import RegistryFileError, first_line, suggestion
from .specs import (BUDGET_FIELDS, BUDGET_KINDS, ArchitectureSpec, Budget, Preset, Suite, is_positive_int,
                    is_positive_number, is_seed)

__all__ = ["RegistryText", "LoadedRegistry", "load_registry_texts", "check_params", "normalize_name"]

TOP_LEVEL_KEYS = ("presets", "suites")
PRESET_KEYS = ("architecture", "params", "objective", "tasks", "description")
SUITE_KEYS = (
    "dataset", "dataset_params", "sample_rate", "segment_seconds", "budget",
    "seeds", "models", "metrics", "description",
)
BUDGET_KEYS = tuple(BUDGET_FIELDS)


def normalize_name(name: str) -> str:
    """Lookup form of a model/loss/dataset name: case and ``_``/``-`` do not matter."""
    return str(name).strip().lower().replace("_", "-")


@dataclass(frozen=True)
class RegistryText:
    """One registry file's text and the label used in messages (its path)."""

    label: str
    text: str


@dataclass
class LoadedRegistry:
    presets: dict[str, Preset] = field(default_factory=dict)
    suites: dict[str, Suite] = field(default_factory=dict)


def describe_annotation(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return " or ".join(describe_annotation(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is bool:
        return "true or false"
    if annotation is str:
        return "a string"
    return getattr(annotation, "__name__", str(annotation))


def _value_fits(value: Any, annotation: Any) -> bool | None:
    """True/False where the annotation is simple enough to check, None where it is not."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return value in typing.get_args(annotation)
    if origin is Union or type(annotation).__name__ == "UnionType":
        answers = [_value_fits(value, a) for a in typing.get_args(annotation)]
        if any(a is True for a in answers):
            return True
        return None if any(a is None for a in answers) else False
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    return None


def check_params(spec: ArchitectureSpec, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems of ``params`` for ``spec``'s builder as ``(param, message)`` pairs; empty if fine."""
    builder = spec.builder()
    signature = inspect.signature(builder)
    known = spec.params()
    problems: list[tuple[str, str]] = []
    for key in params:
        if key not in known:
            problems.append((key, f"unknown parameter of architecture {spec.name!r}; expected one of "
                                  f"{', '.join(known) or '(none)'}" + suggestion(key, known)))
    if problems:
        return problems
    try:
        signature.bind(**params)
    except TypeError as exc:
        return [("", f"does not fit the builder of {spec.name!r}: {exc}")]
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # unresolvable annotations: only names were checkable
        hints = {}
    for key, value in params.items():
        annotation = hints.get(key)
        if annotation is not None and _value_fits(value, annotation) is False:
            problems.append((key, f"expected {describe_annotation(annotation)}, got {value!r}"))
    return problems


class _Located:
    """Line numbers of every key path in one YAML document (1-based), and its repeated keys.

    YAML loaders keep the last of two equal keys in a mapping without a word, so a pasted suite
    or preset would silently replace the first; ``duplicates`` lists ``(path, line, first line)``.
    """

    def __init__(self, node: yaml.Node | None) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        self.duplicates: list[tuple[tuple[str, ...], int, int]] = []
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: tuple[str, ...]) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                sub = path + (str(key.value),)
                if str(key.value) in seen:
                    self.duplicates.append((sub, key.start_mark.line + 1, seen[str(key.value)]))
                seen.setdefault(str(key.value), key.start_mark.line + 1)
                self.lines[sub] = key.start_mark.line + 1
                self._walk(value, sub)
                self.lines[sub] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, path + (str(i),))

    def line(self, path: tuple[str, ...]) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


class _Loader:
    """Validates one file; problems are appended as finished one-line messages."""

    def __init__(self, source: RegistryText, problems: list[str]) -> None:
        self.label, self.problems = source.label, problems
        self.located = _Located(None)
        self.data: Any = None
        # Safe: no tags that construct Python objects. One parse gives the node tree (for line
        # numbers) and the data built from it; libyaml's parser where PyYAML has it (20x faster).
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(source.text)
        try:
            node = loader.get_single_node()
            self.located = _Located(node)
            self.data = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            what = getattr(exc, "problem", None) or first_line(exc)
            self.problems.append(f"{self.label}:{line}: not valid YAML: {what}")
            self.data = None
        finally:
            loader.dispose()
        for path, line, first in self.located.duplicates:
            self.problems.append(f"{self.label}:{line}: {'.'.join(path)}: repeats the key of line {first}; "
                                 "expected each key once (YAML would keep only the last)")

    def where(self, path: tuple[str, ...]) -> str:
        return f"{self.label}:{self.located.line(path)}: {'.'.join(path)}"

    def error(self, path: tuple[str, ...], message: str) -> None:
        self.problems.append(f"{self.where(path)}: {message}")

    def mapping(self, value: Any, path: tuple[str, ...], allowed: tuple[str, ...] | None) -> dict | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {value!r}")
            return None
        good = {}
        for key, item in value.items():
            if allowed is not None and key not in allowed:
                self.error(path + (str(key),), f"unknown key; expected one of {', '.join(allowed)}"
                           + suggestion(str(key), allowed))
            else:
                good[key] = item
        return good

    def typed(self, value: Any, path: tuple[str, ...], check: Callable[[Any], bool], expected: str) -> bool:
        if check(value):
            return True
        self.error(path, f"expected {expected}, got {value!r}")
        return False

    def names(self, value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.error(path, f"expected a list of names, got {value!r}")
            return None
        return tuple(value)


def _objective(ld: _Loader, value: Any, path: tuple[str, ...], losses: Mapping[str, Any]) -> Any:
    terms = {value: 1.0} if isinstance(value, str) else value
    if not isinstance(terms, dict) or not terms:
        ld.error(path, f"expected a loss name or a mapping of loss name to weight, got {value!r}")
        return None
    ok = True
    for name, weight in terms.items():
        if normalize_name(name) not in losses:
            ld.error(path, f"unknown loss {name!r}; expected one of {', '.join(sorted(losses))}"
                     + suggestion(normalize_name(name), losses))
            ok = False
        elif not is_positive_number(weight):
            ld.error(path + (str(name),), f"expected a positive weight, got {weight!r}")
            ok = False
    if not ok:
        return None
    return normalize_name(value) if isinstance(value, str) else {normalize_name(k): float(v) for k, v in terms.items()}


def _load_preset(ld: _Loader, name: str, body: Any, architectures: Mapping[str, ArchitectureSpec | None],
                 losses: Mapping[str, Any], params_checked: bool = True) -> Preset | None:
    path = ("presets", name)
    body = ld.mapping(body, path, PRESET_KEYS)
    if body is None:
        return None
    n_before = len(ld.problems)
    arch = body.get("architecture")
    if not isinstance(arch, str) or not arch:
        ld.error(path + ("architecture",), f"expected an architecture name, got {arch!r}")
        return None
    arch = normalize_name(arch)
    params = ld.mapping(body.get("params"), path + ("params",), None)
    if params is None:
        return None
    spec = architectures.get(arch)
    if spec is not None and params_checked:  # a missing or broken plugin is not a load error: shown as unavailable
        try:
            param_problems = check_params(spec, params)
        except Exception:  # builder cannot be imported: the preset is unavailable, reported on use
            param_problems = []
        for key, msg in param_problems:
            ld.error(path + ("params", key) if key else path + ("params",), msg)
    objective = None
    if "objective" in body:
        objective = _objective(ld, body["objective"], path + ("objective",), losses)
    tasks = None
    if "tasks" in body:
        tasks = ld.names(body["tasks"], path + ("tasks",))
    description = body.get("description", "")
    if not isinstance(description, str):
        ld.error(path + ("description",), f"expected a string, got {description!r}")
    if len(ld.problems) > n_before:
        return None
    return Preset(name=name, architecture=arch, params=dict(params), objective=objective, tasks=tasks,
                  description=description or "", sources=(f"{ld.label}:{ld.located.line(path)}",))


def _load_suite(ld: _Loader, name: str, body: Any, datasets: Mapping[str, Any],
                metrics: Mapping[str, Any] | None = None) -> Suite | None:
    path = ("suites", name)
    body = ld.mapping(body, path, SUITE_KEYS)
    if body is None:
        return None
    n_before = len(ld.problems)
    kw: dict[str, Any] = {}
    dataset = body.get("dataset")
    if not isinstance(dataset, str) or not dataset:
        ld.error(path + ("dataset",), f"expected a dataset name, got {dataset!r}")
    elif normalize_name(dataset) not in datasets:
        ld.error(path + ("dataset",), f"unknown dataset {dataset!r}; expected one of "
                 f"{', '.join(sorted(datasets))}" + suggestion(normalize_name(dataset), datasets))
    else:
        kw["dataset"] = normalize_name(dataset)
    dparams = ld.mapping(body.get("dataset_params"), path + ("dataset_params",), None)
    if dparams is not None:
        kw["dataset_params"] = dparams
    if "sample_rate" in body and ld.typed(body["sample_rate"], path + ("sample_rate",), is_positive_int,
                                          "a positive integer (Hz)"):
        kw["sample_rate"] = body["sample_rate"]
    if "segment_seconds" in body and ld.typed(body["segment_seconds"], path + ("segment_seconds",),
                                              is_positive_number, "a positive number of seconds"):
        kw["segment_seconds"] = float(body["segment_seconds"])
    budget = ld.mapping(body.get("budget"), path + ("budget",), BUDGET_KEYS)
    if budget is not None:
        bkw: dict[str, Any] = {}
        for key, value in budget.items():
            check, expected = BUDGET_FIELDS[key]
            if ld.typed(value, path + ("budget", key), check, expected):
                bkw[key] = float(value) if key == "macs" else value
        if not any(budget.get(k) for k in BUDGET_KINDS):
            ld.error(path + ("budget",), "expected at least one limit of steps, examples, macs or minutes, got none")
        kw["budget"] = Budget(**bkw)
    if "seeds" in body:
        seeds = body["seeds"]
        if ld.typed(seeds, path + ("seeds",),
                    lambda v: isinstance(v, list) and v and all(is_seed(s) for s in v),
                    "a non-empty list of integers from 0 to 2**32-1"):
            kw["seeds"] = tuple(seeds)
    for key in ("models", "metrics"):
        if key in body:
            names = ld.names(body[key], path + (key,))
            if names is not None:
                kw[key] = names
    for metric in kw.get("metrics", ()) if metrics is not None else ():
        if normalize_name(metric) not in metrics:
            ld.error(path + ("metrics",), f"unknown metric {metric!r}; expected one of {', '.join(sorted(metrics))}"
                     + suggestion(normalize_name(metric), metrics))
    if "metrics" in kw:
        kw["metrics"] = tuple(normalize_name(m) for m in kw["metrics"])
    if not isinstance(body.get("description", ""), str):
        ld.error(path + ("description",), f"expected a string, got {body['description']!r}")
    else:
        kw["description"] = body.get("description", "")
    if len(ld.problems) > n_before:
        return None
    return Suite(name=name, sources=(f"{ld.label}:{ld.located.line(path)}",), **kw)


def load_registry_texts(
    texts: list[RegistryText],
    architectures: Mapping[str, ArchitectureSpec | None],
    losses: Mapping[str, Any],
    datasets: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    check_params: bool = True,
) -> LoadedRegistry:
    """Load files in order (later definitions win); raise RegistryFileError listing every problem.

    ``metrics`` (the registered metric names) checks each suite's ``metrics:``; None skips that check.
    ``check_params`` checks each preset's ``params`` against its builder (importing the builder).
    """
    problems: list[str] = []
    out = LoadedRegistry()
    for source in texts:
        ld = _Loader(source, problems)
        top = ld.mapping(ld.data, (), TOP_LEVEL_KEYS) if ld.data is not None or not problems else None
        if top is None:
            continue
        for section, loader in (("presets", "preset"), ("suites", "suite")):
            entries = ld.mapping(top.get(section), (section,), None)
            for raw_name, body in (entries or {}).items():
                if not isinstance(raw_name, str) or not raw_name:
                    ld.error((section,), f"expected a {loader} name, got {raw_name!r}")
                    continue
                name = normalize_name(raw_name)
                if loader == "preset":
                    item = _load_preset(ld, raw_name, body, architectures, losses, check_params)
                    store: dict = out.presets
                else:
                    item = _load_suite(ld, raw_name, body, datasets, metrics)
                    store = out.suites
                if item is None:
                    continue
                earlier = store.get(name)
                sources = (earlier.sources if earlier else ()) + item.sources
                store[name] = type(item)(**{**item.__dict__, "name": name, "sources": sources})
    if problems:
        raise RegistryFileError(problems)
    return out
