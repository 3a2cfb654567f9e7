"""The ``separena`` command line: list, info, suites, datasets, plugins, new-plugin, train, evaluate,
compare, separate, stream, bench, runs, report, publish, cache.

This module holds the group :func:`main` (the console entry point ``separena.cli:main`` and
``python -m separena.cli``) and the commands that describe what is registered (``list``,
``info``, ``suites``, ``datasets``, ``plugins``, ``new-plugin``); the others live by family in
:mod:`.model` (train, evaluate, separate), :mod:`.stream`, :mod:`.compare`, :mod:`.benchmark`
(bench, runs, report, publish) and :mod:`.cache` (the cache of generated data), with the shared
options in :mod:`.options`, weight loading in :mod:`.weights` and error handling in
:mod:`.common`.

Errors the user can fix (:class:`~separena.errors.SeparenaError`, a bad option, a path the
OS refuses) print one ``error:`` line to stderr and exit with status 2; anything else is a bug
and keeps its traceback. Options and output paths are checked before any work starts.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..errors import SeparenaError
from ..registry import Registry
from ..specs import Suite
from .benchmark import bench, publish, report, runs
from .cache import cache
from .common import OneLineGroup, complete_names, console, context_registry, err_console, one_line_errors
from .compare import compare
from .model import evaluate, separate, train
from .stream import stream

__all__ = ["main"]


def _format_params(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} k"


def _count_params(registry: Registry, name: str) -> int | None:
    try:
        model = registry.create_model(name)
    except Exception:
        return None
    return sum(p.numel() for p in model.parameters())


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Load a plugin from a module or .py file (also: SEPARENA_PLUGINS=a,b).")
@click.option("--registry", "registry_files", multiple=True, type=click.Path(), metavar="FILE",
              help="Extra registry YAML, layered last (also: SEPARENA_REGISTRY).")
@click.version_option(package_name="separena")
@click.pass_context
def main(ctx: click.Context, plugins: tuple[str, ...], registry_files: tuple[str, ...]) -> None:
    """separena: deep source separation architectures as plugins, and the arena that benchmarks them."""
    ctx.obj = {"plugins": plugins, "registry_files": registry_files}


@main.command("list")
@click.argument("pattern", default="*", shell_complete=complete_names("models"))
@click.option("--task", default=None, help="Only models that serve this task (speech, music).")
@click.option("--params/--no-params", "show_params", default=False,
              help="Build each model to count its parameters (imports every plugin's code).")
@click.pass_context
@one_line_errors
def list_cmd(ctx: click.Context, pattern: str, task: str | None, show_params: bool) -> None:
    """List models (presets) matching PATTERN: name, plugin, family, tasks, params, published
    weights, status."""
    from ..bench.published import PublishedStore, default_published_dir

    registry = context_registry(ctx)
    published = PublishedStore(default_published_dir())
    table = Table(title="separena models")
    for column in ("name", "architecture", "plugin", "family", "tasks", "params", "weights", "status"):
        table.add_column(column, overflow="fold")
    names = registry.list_models(pattern, task=task)
    if not names:
        wider = [] if any(c in pattern for c in "*?[") else registry.list_models(f"*{pattern}*", task=task)
        hint = (f" (patterns are globs: try '*{pattern}*', which matches {len(wider)})" if wider
                else " (see `separena list`)")
        raise SeparenaError(f"list {pattern}: no model matches" + (f" with --task {task}" if task else "")
                            + f"; expected a name or an fnmatch pattern{hint}")
    for name in names:
        preset = registry.preset(name)
        spec = registry.architectures.get(preset.architecture)
        reason = registry.unavailable_reason(name)
        plugin = registry.plugin_of(preset.architecture) if spec else "-"
        params = _format_params(_count_params(registry, name)) if show_params and reason is None else "-"
        table.add_row(name, preset.architecture, plugin.split("[")[0], spec.family if spec else "-",
                      ",".join(preset.tasks or (spec.tasks if spec else ())), params,
                      "published" if published.weights_for(name) else "-",
                      "ok" if reason is None else f"[red]unavailable: {escape(reason)}[/red]")
    console.print(table)
    failed = [p for p in registry.plugins.values() if p.errors]
    if failed:
        err_console.print(f"[yellow]{len(failed)} plugin(s) failed; see `separena plugins`[/yellow]")


def _format_budget(suite: Suite) -> str:
    """``1.2 TMACs, batch 8, lr 0.001``: a suite's budget in one cell."""
    b = suite.budget
    limits = [f"{b.steps} steps" if b.steps is not None else "",
              f"{b.examples} mixtures" if b.examples is not None else "",
              f"{b.macs / 1e12:g} TMACs" if b.macs is not None else "",
              f"{b.minutes:g} min" if b.minutes is not None else ""]
    return ", ".join([x for x in limits if x] + [f"batch {b.batch_size}", f"lr {b.learning_rate:g}"])


@main.command("suites")
@click.argument("pattern", default="*", shell_complete=complete_names("suites"))
@click.option("--task", default=None, help="Only suites whose dataset serves this task (speech, music).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True,
              help="Result store whose finished runs to count (left out where the file does not exist).")
@click.pass_context
@one_line_errors
def suites_cmd(ctx: click.Context, pattern: str, task: str | None, store_path: Path) -> None:
    """List benchmark suites matching PATTERN: dataset, models, budget, seeds, metrics, the runs
    published with the repository and those in --store; `separena bench --suite NAME` runs one."""
    import contextlib
    import fnmatch

    from ..bench import ResultStore
    from ..bench.published import PublishedStore, default_published_dir

    registry = context_registry(ctx)
    suites = registry.suites
    names = [n for n in suites if fnmatch.fnmatchcase(n, pattern.strip().lower())]

    def serves(suite: Suite) -> bool:
        try:
            return task in registry.dataset(suite.dataset).tasks
        except SeparenaError:  # a dataset no plugin registers: shown as such below, not filtered
            return True

    names = [n for n in names if task is None or serves(suites[n])]
    if not names:
        raise SeparenaError(f"suites {pattern}: no suite matches" + (f" with --task {task}" if task else "")
                            + f"; expected a name or an fnmatch pattern, one of {', '.join(sorted(suites))}")
    published = PublishedStore(default_published_dir())
    table = Table(title="separena suites (`separena bench --suite NAME`)")
    columns = ["suite", "dataset", "models", "budget per model and seed", "seeds", "metrics", "published"]
    with ResultStore(store_path) if store_path.is_file() else contextlib.nullcontext() as store:
        for column in columns + (["stored"] if store is not None else []) + ["description"]:
            # names and counts whole; the lists and the prose take the wrapping
            table.add_column(column, overflow="fold", no_wrap=column in ("suite", "dataset", "seeds", "published",
                                                                         "stored"))
        for name in names:
            suite = suites[name]
            try:
                registry.dataset(suite.dataset)
                dataset = suite.dataset
            except SeparenaError:
                dataset = f"[red]{escape(suite.dataset)} (not registered)[/red]"
            own = [len(published.runs(suite=name))] + ([len(store.runs(suite=name))] if store is not None else [])
            table.add_row(name, dataset, escape(", ".join(suite.models)), _format_budget(suite),
                          ", ".join(map(str, suite.seeds)), ", ".join(suite.metrics),
                          *(f"{n} runs" if n else "-" for n in own), escape(suite.description))
    console.print(table)


@main.command("datasets")
@click.argument("pattern", default="*", shell_complete=complete_names("datasets"))
@click.option("--task", default=None, help="Only datasets that serve this task (speech, music).")
@click.pass_context
@one_line_errors
def datasets_cmd(ctx: click.Context, pattern: str, task: str | None) -> None:
    """List datasets matching PATTERN: the plugin that registers each, its tasks and sources, the
    suites that use it; docs/data.md gives each one's parameters."""
    import fnmatch

    registry = context_registry(ctx)
    datasets = registry.datasets
    names = [n for n in datasets if fnmatch.fnmatchcase(n, pattern.strip().lower())
             and (task is None or task in datasets[n].tasks)]
    if not names:
        raise SeparenaError(f"datasets {pattern}: no dataset matches" + (f" with --task {task}" if task else "")
                            + f"; expected a name or an fnmatch pattern, one of {', '.join(sorted(datasets))}")
    used: dict[str, list[str]] = {}
    for suite in registry.suites.values():
        used.setdefault(suite.dataset, []).append(suite.name)
    table = Table(title="separena datasets (suites name them; docs/data.md)")
    for column in ("dataset", "plugin", "tasks", "sources", "suites", "description"):
        table.add_column(column, overflow="fold", no_wrap=column in ("dataset", "tasks"))
    for name in sorted(names):
        spec = datasets[name]
        table.add_row(name, registry.plugin_of_dataset(name).split("[")[0], ", ".join(spec.tasks),
                      ", ".join(spec.source_names) or "speakers", ", ".join(used.get(name, [])) or "-",
                      escape(spec.summary))
    console.print(table)


def _streams(registry: Registry, name: str) -> str:
    """Whether the preset runs block by block (``separena stream``), or why not."""
    from ..streaming import StreamingSeparator

    try:
        StreamingSeparator(registry.create_model(name).eval())
    except SeparenaError as error:
        return f"no ({error})"
    return f"yes: `separena stream {name}` (docs/streaming.md)"


@main.command()
@click.argument("name", shell_complete=complete_names("models"))
@click.pass_context
@one_line_errors
def info(ctx: click.Context, name: str) -> None:
    """Show a model's architecture spec, parameters with defaults, and preset provenance."""
    registry = context_registry(ctx)
    preset = registry.preset(name)
    spec = registry.architectures.get(preset.architecture)
    console.print(f"[bold]{preset.name}[/bold]  {preset.description or (spec.summary if spec else '')}")
    console.print(f"architecture: {preset.architecture}")
    reason = registry.unavailable_reason(name)
    if spec is None or reason is not None:
        console.print(f"status: [red]unavailable: {escape(str(reason))}[/red]")
        return
    console.print(f"plugin: {escape(registry.plugin_of(spec.name))}")
    console.print(f"family: {spec.family}   tasks: {', '.join(preset.tasks or spec.tasks)}   "
                  f"trainable: {spec.trainable}")
    objective = preset.objective or spec.objective
    console.print(f"objective: {objective if spec.trainable else '- (not trained)'}")
    console.print(f"reference: {spec.reference}")
    if spec.trainable:
        from ..bench.published import PublishedStore, default_published_dir, describe, recorded_params

        run = PublishedStore(default_published_dir()).weights_for(
            preset.name, recorded_params(registry.model_config(preset.name)))
        console.print("published weights: " + (escape(describe(run)) if run else "none (train it, or pass "
                                                "--checkpoint / --run to `separena separate`)"))
        if run is not None and "lookahead_seconds" in run.payload["cost"]:
            from ..bench.leaderboard import format_lookahead

            seconds = run.payload["cost"]["lookahead_seconds"]
            console.print(f"lookahead: {format_lookahead(math.inf if seconds is None else seconds)} "
                          "(measured on the published run; docs/benchmarks/lookahead.md)")
    console.print(f"streams: {escape(_streams(registry, preset.name))}")
    import typing

    from ..presets import describe_annotation

    try:
        hints = typing.get_type_hints(spec.builder())
    except Exception:  # unresolvable annotations: show them as written
        hints = {}
    descriptions = spec.param_descriptions()
    table = Table(title="parameters")
    for column in ("name", "type (allowed values)", "default", "preset value", "description"):
        table.add_column(column, overflow="fold")
    for pname, param in spec.params().items():
        annotation = hints.get(pname, param.annotation)
        shown = annotation if isinstance(annotation, str) else describe_annotation(annotation)
        value = repr(preset.params[pname]) if pname in preset.params else ""
        table.add_row(pname, escape(shown), repr(param.default), value, escape(descriptions.get(pname, "")))
    console.print(table)
    console.print("defined in (later wins): " + escape("; ".join(preset.sources)))


@main.command()
@click.pass_context
@one_line_errors
def plugins(ctx: click.Context) -> None:
    """Show each plugin: distribution, version, hooks, what it registered, status and error."""
    registry = context_registry(ctx, strict_plugins=False)
    registry.architectures  # collect, so registration errors are recorded
    table = Table(title="separena plugins")
    for column in ("plugin", "version", "hooks", "provides", "status"):
        table.add_column(column, overflow="fold")
    for info in registry.plugins.values():
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in info.provides.items())
        status = "ok" if not info.errors else f"[red]{info.status}: {escape(' | '.join(info.errors))}[/red]"
        table.add_row(escape(info.name), info.version or "-",
                      ", ".join(h.removeprefix("separena_") for h in info.hooks), escape(provides or "-"), status)
    console.print(table)


@main.command("new-plugin")
@click.argument("name")
@click.option("-d", "--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the plugin folder NAME/.")
@click.pass_context
@one_line_errors
def new_plugin_cmd(ctx: click.Context, name: str, directory: Path) -> None:
    """Scaffold an installable plugin DIRECTORY/NAME/ (a small mask model that passes the contract kit)."""
    from ..presets import normalize_name
    from ..scaffold import new_plugin, plugin_names

    plugin_names(name)  # validate the name before loading any plugin
    presets = context_registry(ctx).presets
    taken = [n for n in (name, f"{name}-small") if normalize_name(n) in presets]
    if taken:
        raise SeparenaError(f"new-plugin NAME: expected a name not yet registered, got {name!r} "
                            f"(taken: {', '.join(taken)}; see `separena list`)")
    path = new_plugin(name, directory)
    console.print(f"created {escape(str(path))}/ (plugin {name}, preset {name}-small). Next:\n"
                  f"  pip install -e {escape(str(path))}\n"
                  f"  separena list '{name}*'\n"
                  f"  python -m pytest -q {escape(str(path / 'tests'))}")


for _command in (train, evaluate, compare, separate, stream, bench, runs, report, publish, cache):
    main.add_command(_command)
