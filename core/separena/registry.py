"""The Registry: find plugins, load each on its own, collect what they provide.

Discovery follows flake8's finder rather than pluggy's ``load_setuptools_entrypoints``:
each entry point is loaded and each hook implementation called inside its own
``try``, so one broken plugin is recorded as failed (with its error) and every other plugin
keeps working. Presets and suites come from the core ``registry.yaml``, then each plugin's
``separena_preset_files``, then the user's ``--registry`` files; later definitions win.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import importlib.metadata
import importlib.resources
import importlib.util
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, RegistryFileError, SeparenaError, UnknownNameError, suggestion
from .presets import RegistryText, check_params, load_registry_texts, normalize_name
from .specs import (
    FAMILIES, ArchitectureSpec, DatasetSpec, LossSpec, MetricSpec, Preset, Suite, objective_terms, source_names_problem,
)

__all__ = ["Registry", "PluginInfo", "ModelConfig", "default_registry", "ENV_PLUGINS", "ENV_REGISTRY"]

log = logging.getLogger(__name__)
ENV_PLUGINS = "SEPARENA_PLUGINS"  # comma-separated modules or .py files to load as plugins
ENV_REGISTRY = "SEPARENA_REGISTRY"  # os.pathsep-separated extra registry files
ENTRY_POINT_GROUP = "separena"
_HOOKS = {  # hook name -> (record type, what it registers)
    "separena_register_architectures": (ArchitectureSpec, "architecture"),
    "separena_register_losses": (LossSpec, "loss"),
    "separena_register_datasets": (DatasetSpec, "dataset"),
    "separena_register_metrics": (MetricSpec, "metric"),
}
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass
class PluginInfo:
    """What `separena plugins` shows for one plugin."""

    name: str  # display name: "dist[entry]" for entry points, the module name otherwise
    dist: str | None = None  # distribution that ships it
    version: str | None = None  # its version
    hooks: list[str] = field(default_factory=list)  # hooks it implements
    provides: dict[str, list[str]] = field(default_factory=dict)  # kind -> names it registered
    errors: list[str] = field(default_factory=list)  # one line per failure

    @property
    def status(self) -> str:
        if not self.errors:
            return "ok"
        return "failed" if not any(self.provides.values()) else "partial"


@dataclass(frozen=True)
class ModelConfig:
    """A resolved preset: everything needed to build, train and reload one model."""

    name: str  # preset name
    architecture: str  # architecture name
    params: dict[str, Any]  # every builder parameter, defaults filled in
    objective: dict[str, float]  # loss name -> weight
    trainable: bool
    family: str
    tasks: tuple[str, ...]
    plugin: str  # display name of the plugin that provides the architecture
    spec: ArchitectureSpec
    losses: dict[str, LossSpec] = field(default_factory=dict)  # the objective's losses, resolved

    def build(self) -> Any:
        """Build the :class:`~separena.Separator` with these parameters."""
        model = self.spec.builder()(**self.params)
        return model


@dataclass
class _Collected:
    architectures: dict[str, tuple[ArchitectureSpec, str]] = field(default_factory=dict)
    losses: dict[str, tuple[LossSpec, str]] = field(default_factory=dict)
    datasets: dict[str, tuple[DatasetSpec, str]] = field(default_factory=dict)
    metrics: dict[str, tuple[MetricSpec, str]] = field(default_factory=dict)
    preset_files: list[RegistryText] = field(default_factory=list)
    presets: dict[str, Preset] = field(default_factory=dict)
    suites: dict[str, Suite] = field(default_factory=dict)


def _core_registry_text() -> RegistryText:
    resource = importlib.resources.files("separena") / "registry.yaml"
    return RegistryText(str(_display_path(resource)), resource.read_text(encoding="utf-8"))


def _display_path(resource: Any) -> str:
    try:
        path = Path(str(resource)).resolve()
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except (OSError, ValueError):
        return str(resource)


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


class Registry:
    """Plugins, architectures, losses, datasets, presets and suites, with their provenance.

    Args:
        entry_points: discover installed plugins in the ``separena`` entry-point group.
        plugins: extra plugin modules (``"pkg.module"``) or ``.py`` files to load.
        registry_files: extra registry YAML files, layered last.
        core_registry: layer the core ``registry.yaml`` first.
        check_params: check each preset's parameters against its builder's signature when the
            presets load, which imports every builder's module (torch and the model code); False
            only for listing names quickly (shell completion): a preset with bad parameters then
            fails when it is built.

    Use a fresh instance in tests; the CLI uses :func:`default_registry`.
    """

    def __init__(
        self,
        *,
        entry_points: bool = True,
        plugins: Iterable[str] = (),
        registry_files: Iterable[str | Path] = (),
        core_registry: bool = True,
        check_params: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._core_registry = core_registry
        self._check_params = check_params
        self._registry_files = [Path(p) for p in registry_files]
        self._collected: _Collected | None = None
        from ._plugins import builtin

        self.register(builtin, name="separena[builtin]", dist="separena", version=_version("separena"))
        if entry_points:
            self.load_entry_points()
        for target in plugins:
            self.load_module(target)

    # -- finding and loading -------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Load every plugin in the ``separena`` entry-point group, each on its own."""
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            display = f"{dist}[{ep.name}]" if dist else ep.name
            if display in self.plugins:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not hide the others
                self._failed(display, "import", exc, dist=dist, version=ep.dist.version if ep.dist else None)
                continue
            self.register(plugin, name=display, dist=dist, version=ep.dist.version if ep.dist else None)

    def load_module(self, target: str) -> None:
        """Load a plugin from a module name or a ``.py`` file path (development without packaging)."""
        display = target
        try:
            if target.endswith(".py") or os.sep in target:
                path = Path(target)
                if not path.is_file():
                    raise SeparenaError(f"plugin file {target}: not found")
                spec = importlib.util.spec_from_file_location(f"separena_local_{path.stem}", path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(target)
        except Exception as exc:
            self._failed(display, "import", exc)
            return
        self.register(module, name=display)

    def register(self, plugin: object, name: str | None = None, dist: str | None = None,
                 version: str | None = None) -> None:
        """Register a plugin object (usually a module); recorded as failed if pluggy rejects it."""
        name = name or getattr(plugin, "__name__", None) or repr(plugin)
        info = PluginInfo(name=name, dist=dist, version=version)
        self.plugins[name] = info
        self._collected = None
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # e.g. a hook implementation with a wrong signature
            info.errors.append(str(PluginError(name, "registration", exc)))
            return
        unknown = self._unknown_hooks(plugin)
        if unknown:
            # A misspelled hook would otherwise register silently and provide nothing: the
            # plugin is taken out again and reported, every other plugin keeps working.
            self.pm.unregister(plugin, name=name)
            info.errors.append(str(PluginError(name, "registration", "; ".join(unknown))))
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])

    def _unknown_hooks(self, plugin: object) -> list[str]:
        """One line per hook implementation of ``plugin`` that no hook spec declares.

        What pluggy's ``PluginManager.check_pending`` checks, for this plugin only, so that one
        plugin's misspelled hook fails that plugin alone; each line names the hook and the
        closest known hook names.
        """
        known = sorted(n for n, caller in vars(self.pm.hook).items() if not n.startswith("_") and caller.has_spec())
        problems = []
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.has_spec() or all(impl.optionalhook for impl in caller.get_hookimpls()
                                        if impl.plugin is plugin):
                continue
            did = suggestion(caller.name, known) or f"; expected one of {', '.join(known)}"
            problems.append(f"unknown hook {caller.name!r}{did}")
        return sorted(problems)

    def _failed(self, name: str, stage: str, exc: BaseException, dist: str | None = None,
                version: str | None = None) -> None:
        log.warning("%s", PluginError(name, stage, exc))
        info = self.plugins.setdefault(name, PluginInfo(name=name, dist=dist, version=version))
        info.errors.append(str(PluginError(name, stage, exc)))
        self._collected = None

    # -- collecting --------------------------------------------------------------------
    def _collect(self) -> _Collected:
        if self._collected is not None:
            return self._collected
        out = _Collected()
        for hook_name, (record_type, kind) in _HOOKS.items():
            store = getattr(out, {"architecture": "architectures", "loss": "losses", "dataset": "datasets",
                                "metric": "metrics"}[kind])
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self.plugins[impl.plugin_name]
                try:
                    result = impl.function()
                    records = list(result or [])
                    bad = [r for r in records if not isinstance(r, record_type)]
                    if bad:
                        raise TypeError(f"expected {record_type.__name__} items, got {type(bad[0]).__name__}")
                except Exception as exc:
                    info.errors.append(str(PluginError(info.name, hook_name, exc)))
                    continue
                for record in records:
                    problem = self._check_record(record, kind)
                    key = normalize_name(record.name)
                    if problem is None and key in store:
                        problem = f"{kind} {key!r} is already provided by plugin {store[key][1]}"
                    if problem is not None:
                        info.errors.append(str(PluginError(info.name, hook_name, problem)))
                        continue
                    store[key] = (record, info.name)
                    info.provides.setdefault(kind, []).append(key)
        for impl in self.pm.hook.separena_preset_files.get_hookimpls():
            info = self.plugins[impl.plugin_name]
            try:
                for resource in impl.function() or []:
                    out.preset_files.append(RegistryText(_display_path(resource), resource.read_text(encoding="utf-8")))
            except Exception as exc:
                info.errors.append(str(PluginError(info.name, "separena_preset_files", exc)))
        self._collected = out
        self._load_presets(out)
        return out

    @staticmethod
    def _check_record(record: Any, kind: str) -> str | None:
        if not isinstance(record.name, str) or not _KEBAB.match(record.name):
            return f"{kind} name {record.name!r} is not kebab-case (expected e.g. 'my-model')"
        if kind == "architecture":
            if record.family not in FAMILIES:
                return f"architecture {record.name!r}: family expected one of {', '.join(FAMILIES)}, got {record.family!r}"
            if not record.summary:
                return f"architecture {record.name!r}: summary is empty; expected one line"
            if record.trainable and not record.objective:
                return f"architecture {record.name!r}: trainable but objective is empty; expected a loss name"
        if kind == "dataset" and record.source_names and (problem := source_names_problem(record.source_names)):
            return f"dataset {record.name!r}: source_names: {problem}"
        return None

    def _load_presets(self, out: _Collected) -> None:
        texts: list[RegistryText] = []
        if self._core_registry:
            texts.append(_core_registry_text())
        texts.extend(out.preset_files)
        for path in self._registry_files:
            try:
                texts.append(RegistryText(str(path), path.read_text(encoding="utf-8")))
            except OSError as exc:
                raise RegistryFileError([f"{path}: cannot read registry file: {exc.strerror or exc}"]) from None
        loaded = load_registry_texts(
            texts,
            {name: spec for name, (spec, _) in out.architectures.items()},
            out.losses,
            out.datasets,
            out.metrics,
            check_params=self._check_params,
        )
        # Every architecture is also a preset of the same name, built from its defaults.
        presets = {
            name: Preset(name=name, architecture=name, sources=(f"plugin {plugin}",))
            for name, (spec, plugin) in out.architectures.items()
        }
        for name, preset in loaded.presets.items():
            earlier = presets.get(name)
            sources = (earlier.sources if earlier else ()) + preset.sources
            presets[name] = Preset(**{**preset.__dict__, "sources": sources})
        out.presets, out.suites = presets, loaded.suites

    # -- lookups -----------------------------------------------------------------------
    @property
    def architectures(self) -> dict[str, ArchitectureSpec]:
        return {n: s for n, (s, _) in self._collect().architectures.items()}

    @property
    def losses(self) -> dict[str, LossSpec]:
        return {n: s for n, (s, _) in self._collect().losses.items()}

    @property
    def datasets(self) -> dict[str, DatasetSpec]:
        return {n: s for n, (s, _) in self._collect().datasets.items()}

    @property
    def metrics(self) -> dict[str, MetricSpec]:
        return {n: s for n, (s, _) in self._collect().metrics.items()}

    @property
    def presets(self) -> dict[str, Preset]:
        return dict(self._collect().presets)

    @property
    def suites(self) -> dict[str, Suite]:
        return dict(self._collect().suites)

    @property
    def tasks(self) -> list[str]:
        """Every task some architecture, preset or dataset serves (speech, music, ...), sorted."""
        c = self._collect()
        found = {t for spec, _ in c.architectures.values() for t in spec.tasks}
        found |= {t for preset in c.presets.values() for t in preset.tasks or ()}
        found |= {t for spec, _ in c.datasets.values() for t in spec.tasks}
        return sorted(found)

    def plugin_of(self, architecture: str) -> str:
        return self._collect().architectures[normalize_name(architecture)][1]

    def plugin_of_dataset(self, dataset: str) -> str:
        return self._collect().datasets[normalize_name(dataset)][1]

    def preset(self, name: str) -> Preset:
        key = normalize_name(name)
        presets = self._collect().presets
        if key not in presets:
            raise UnknownNameError("model", name, presets, hint="see `separena list`")
        return presets[key]

    def suite(self, name: str) -> Suite:
        key = normalize_name(name)
        suites = self._collect().suites
        if key not in suites:
            raise UnknownNameError("suite", name, suites, hint="suites are declared in registry.yaml")
        return suites[key]

    def suite_data(self, name: str, **overrides: Any) -> Any:
        """The data of suite ``name`` at its sample rate, its ``dataset_params`` updated with
        ``overrides`` (generated data is built once and cached)."""
        suite = self.suite(name)
        try:
            return self.dataset(suite.dataset).create(suite.sample_rate, {**suite.dataset_params, **overrides})
        except SeparenaError as exc:
            raise SeparenaError(f"{suite.where()}: {exc}") from None

    def loss(self, name: str) -> LossSpec:
        key = normalize_name(name)
        losses = self._collect().losses
        if key not in losses:
            raise UnknownNameError("loss", name, losses)
        return losses[key][0]

    def metric(self, name: str) -> MetricSpec:
        key = normalize_name(name)
        metrics = self._collect().metrics
        if key not in metrics:
            raise UnknownNameError("metric", name, metrics, hint="see `separena plugins`")
        return metrics[key][0]

    def dataset(self, name: str) -> DatasetSpec:
        key = normalize_name(name)
        datasets = self._collect().datasets
        if key not in datasets:
            raise UnknownNameError("dataset", name, datasets)
        return datasets[key][0]

    def unavailable_reason(self, name: str) -> str | None:
        """Why the preset ``name`` cannot be built, or None if it can (imports nothing heavy)."""
        preset = self.preset(name)
        found = self._collect().architectures.get(preset.architecture)
        if found is None:
            failed = [p.name for p in self.plugins.values() if p.errors]
            did = suggestion(preset.architecture, self._collect().architectures)
            hint = f"; failed plugins: {', '.join(failed)} (see `separena plugins`)" if failed else ""
            return f"architecture {preset.architecture!r} is not registered{did}{hint}"
        spec, plugin = found
        missing = [m for m in spec.requires if importlib.util.find_spec(m) is None]
        if missing:
            return f"{', '.join(missing)} not installed (needed by plugin {plugin})"
        return None

    def list_models(self, pattern: str = "*", task: str | None = None, *, available: bool = False,
                    trainable: bool | None = None) -> list[str]:
        """Preset names matching an ``fnmatch`` pattern (and a task), in natural order.

        Raises :class:`UnknownNameError` for a task nothing serves.
        """
        pattern = normalize_name(pattern)
        if task is not None and task not in self.tasks:
            raise UnknownNameError("task", task, self.tasks, hint=f"expected one of {', '.join(self.tasks)}")
        names = []
        for name, preset in self._collect().presets.items():
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            spec = self.architectures.get(preset.architecture)
            tasks = preset.tasks or (spec.tasks if spec else ())
            if task is not None and task not in tasks:
                continue
            if available and self.unavailable_reason(name) is not None:
                continue
            if trainable is not None and (spec is None or spec.trainable != trainable):
                continue
            names.append(name)
        return sorted(names, key=_natural_key)

    def select(self, patterns: Sequence[str], task: str | None = None) -> list[str]:
        """Presets matching any of ``patterns`` (names or fnmatch patterns), first match order."""
        out: list[str] = []
        for pattern in patterns:
            matched = self.list_models(pattern, task=task)
            if not matched and not any(c in pattern for c in "*?["):
                self.preset(pattern)  # raises UnknownNameError with suggestions
            out.extend(m for m in matched if m not in out)
        return out

    def model_config(self, name: str, **overrides: Any) -> ModelConfig:
        """Resolve a preset (plus overrides) into a :class:`ModelConfig`; checks params, builds nothing."""
        preset = self.preset(name)
        reason = self.unavailable_reason(name)
        if reason is not None:
            raise SeparenaError(f"model {preset.name!r} is unavailable: {reason}")
        spec = self.architectures[preset.architecture]
        params = {**preset.params, **overrides}
        problems = check_params(spec, params)
        if problems:
            key, msg = problems[0]
            raise SeparenaError(f"model {preset.name!r}: parameter {key}: {msg}" if key else f"model {preset.name!r}: {msg}")
        bound = spec.signature().bind(**params)
        bound.apply_defaults()
        terms = objective_terms(preset.objective or spec.objective)
        return ModelConfig(
            name=preset.name, architecture=spec.name, params=dict(bound.arguments), objective=terms,
            trainable=spec.trainable, family=spec.family, tasks=preset.tasks or spec.tasks,
            plugin=self.plugin_of(spec.name), spec=spec, losses={n: self.loss(n) for n in terms},
        )

    def create_model(self, name: str, **overrides: Any) -> Any:
        """Build the preset ``name`` with parameter overrides; returns a Separator."""
        return self.model_config(name, **overrides).build()


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _env_list(var: str, sep: str) -> list[str]:
    return [item for item in os.environ.get(var, "").split(sep) if item.strip()]


@functools.lru_cache(maxsize=None)
def _cached_default(plugins: tuple[str, ...], registry_files: tuple[str, ...], check_params: bool) -> Registry:
    return Registry(plugins=plugins, registry_files=registry_files, check_params=check_params)


def default_registry(plugins: Sequence[str] = (), registry_files: Sequence[str | Path] = (), *,
                     check_params: bool = True) -> Registry:
    """The process-wide registry: entry points, ``SEPARENA_PLUGINS`` and ``SEPARENA_REGISTRY``
    (``check_params``: see :class:`Registry`)."""
    return _cached_default(
        tuple(_env_list(ENV_PLUGINS, ",")) + tuple(plugins),
        tuple(_env_list(ENV_REGISTRY, os.pathsep)) + tuple(str(p) for p in registry_files),
        check_params,
    )
