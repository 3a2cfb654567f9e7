"""The ``separena`` command line: list, info, plugins, train, evaluate, separate, bench, runs, report.

Errors the user can fix (:class:`SeparenaError`, a bad option, a path the OS refuses) print
one ``error:`` line to stderr and exit with status 2; anything else is a bug and keeps its
traceback. Options and output paths are checked before any work starts.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import SeparenaError, TrainingInterrupted
from .registry import Registry, default_registry
from .specs import BUDGET_FIELDS, BUDGET_KINDS, MAX_SEED, check_budget_value

# Piped to a file or CI log, rich would fold tables to 80 columns; keep rows on one line there.
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 250)
err_console = Console(stderr=True)


def _one_line_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
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


class _OneLineGroup(click.Group):
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


def _budget_options(fn: Callable[..., Any]) -> Callable[..., Any]:
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


def _budget_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """The budget fields the command line set: any limit replaces all of the suite's limits."""
    out = {k: options.pop(k) for k in ("batch_size", "learning_rate") if options.get(k) is not None}
    options.pop("batch_size", None), options.pop("learning_rate", None)
    limits = {k: options.pop(k) for k in BUDGET_KINDS}
    if any(v is not None for v in limits.values()):
        out.update(limits)
    return out


def _check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A device torch knows and this machine has; checked before any work."""
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


def _device_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--device", default="cpu", show_default=True, callback=_check_device,
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


def _registry(ctx: click.Context, *, strict_plugins: bool = True) -> Registry:
    """The registry with the ``--plugin`` and ``--registry`` options; a plugin named with
    ``--plugin`` that fails is an error (``strict_plugins``), one found by discovery is not."""
    obj = ctx.find_root().obj or {}
    registry = default_registry(plugins=obj.get("plugins", ()), registry_files=obj.get("registry_files", ()))
    if strict_plugins:
        for target in obj.get("plugins", ()):
            info = registry.plugins.get(target)
            fatal = [e for e in (info.errors if info else []) if " failed at import: " in e
                     or " failed at registration: " in e]  # it provides nothing (one bad record is a note)
            if fatal:
                raise SeparenaError(f"--plugin {target}: " + " ".join(fatal[0].split())
                                    + "; expected a module or .py file that imports (see `separena plugins`)")
    return registry


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


@click.group(cls=_OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.argument("pattern", default="*")
@click.option("--task", default=None, help="Only models that serve this task (speech, music).")
@click.option("--params/--no-params", "show_params", default=False,
              help="Build each model to count its parameters (imports every plugin's code).")
@click.pass_context
@_one_line_errors
def list_cmd(ctx: click.Context, pattern: str, task: str | None, show_params: bool) -> None:
    """List models (presets) matching PATTERN: name, plugin, family, tasks, params, status."""
    registry = _registry(ctx)
    table = Table(title="separena models")
    for column in ("name", "architecture", "plugin", "family", "tasks", "params", "status"):
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
                      "ok" if reason is None else f"[red]unavailable: {escape(reason)}[/red]")
    console.print(table)
    failed = [p for p in registry.plugins.values() if p.errors]
    if failed:
        err_console.print(f"[yellow]{len(failed)} plugin(s) failed; see `separena plugins`[/yellow]")


@main.command()
@click.argument("name")
@click.pass_context
@_one_line_errors
def info(ctx: click.Context, name: str) -> None:
    """Show a model's architecture spec, parameters with defaults, and preset provenance."""
    registry = _registry(ctx)
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
    import typing

    from .presets import describe_annotation

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
@_one_line_errors
def plugins(ctx: click.Context) -> None:
    """Show each plugin: distribution, version, hooks, what it registered, status and error."""
    registry = _registry(ctx, strict_plugins=False)
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


def default_data_workers(device: str, requested: int | None = None) -> int:
    """Processes building training batches: ``requested``, else none on the CPU (they would take
    cores from the model) and up to 8 on a GPU, one core left for the training loop."""
    if requested is not None:
        return requested
    if not device.startswith("cuda"):
        return 0
    return min(8, max(0, len(os.sched_getaffinity(0)) - 1))


def _suite_data(registry: Registry, suite_name: str, overrides: dict[str, Any] | None = None):
    suite = registry.suite(suite_name)
    params = {**suite.dataset_params, **(overrides or {})}
    data = registry.dataset(suite.dataset).builder()(sample_rate=suite.sample_rate, **params)
    return suite, data


def _eval_mixtures_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--eval-mixtures", type=click.IntRange(min=1), default=None, metavar="N",
                        help="Score a fixed, seeded subset of N mixtures of each test set (default: all).")(fn)


def _score_table(title: str, model: Any, data: Any, device: str, eval_mixtures: int | None) -> Table:
    """SI-SDRi of ``model`` on every test set of ``data`` (or a seeded subset of each), as a table."""
    from .data import MixtureSubset
    from .evaluation import evaluate

    table = Table(title=f"{title} on {data.name}")
    for column in ("set", "mixtures scored", "SI-SDRi mean (dB)", "median (dB)", "RTF"):
        table.add_column(column)
    for set_name, mixtures in data.test_sets().items():
        scored = MixtureSubset.seeded(mixtures, eval_mixtures) if eval_mixtures else mixtures
        scores = evaluate(model, scored, device=device, description=f"evaluate {set_name}",
                          permutation_invariant=data.permutation_invariant)
        count = f"{len(scored)} of {len(mixtures)} (seeded subset)" if len(scored) < len(mixtures) else str(len(scored))
        table.add_row(set_name, count, f"{scores.mean:.2f}", f"{scores.median:.2f}",
                      f"{scores.real_time_factor:.4f}")
    return table


def _check_serves(registry: Registry, config: Any, suite_name: str) -> Any:
    """The suite, once it is known that its data is a task the model serves (before any data is built)."""
    suite = registry.suite(suite_name)
    data_tasks = registry.dataset(suite.dataset).tasks
    if config.family not in ("oracle", "baseline") and not set(config.tasks) & set(data_tasks):
        fits = [n for n, s in registry.suites.items()
                if s.dataset in registry.datasets and set(registry.dataset(s.dataset).tasks) & set(config.tasks)]
        hint = f" (try --suite {fits[0]})" if fits else ""
        raise SeparenaError(f"--suite {suite.name}: its data ({suite.dataset}) is {'/'.join(data_tasks)}, model "
                            f"{config.name!r} serves {'/'.join(config.tasks)}; expected a suite of that task{hint}")
    return suite


@main.command()
@click.argument("name")
@click.option("--suite", "suite_name", default="speech-quick", show_default=True,
              help="Suite whose dataset, segment length and budget to use.")
@_budget_options
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@_device_option
@click.option("--data-workers", type=click.IntRange(min=0), default=None,
              help="Processes that build training batches ahead (same batches). "
                   "Default: 0 on the CPU, up to 8 on a GPU.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Checkpoint path (default runs/NAME/model.pt).")
@_eval_mixtures_option
@click.pass_context
@_one_line_errors
def train(ctx: click.Context, name: str, suite_name: str, seed: int, device: str, data_workers: int | None,
          output: Path | None, eval_mixtures: int | None, **budget_options: Any) -> None:
    """Train model NAME on a suite's data and budget; write a checkpoint and report SI-SDRi.

    Ctrl-C stops training and saves the last weights. Under
    `torchrun --nproc_per_node=N -m separena.cli train NAME` it trains with DDP
    (gloo on CPU, nccl on CUDA); rank 0 writes the checkpoint and evaluates.
    """
    from dataclasses import replace

    from .presets import normalize_name
    from .train import train as train_model

    import torch.distributed as dist

    output = output or Path("runs") / normalize_name(name) / "model.pt"
    check_output_path(output, "-o/--output", folder=False)  # before minutes of data and training
    registry = _registry(ctx)
    config = registry.model_config(name)
    if not config.trainable:
        raise SeparenaError(f"model {config.name!r} is not trained ({config.family}); expected a trainable model "
                            f"(it is scored as it is: `separena evaluate {config.name}`)")
    suite = _check_serves(registry, config, suite_name)
    budget = replace(suite.budget, **_budget_overrides(budget_options))
    rank = 0
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():  # started by torchrun
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        rank = dist.get_rank()
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    suite, data = _suite_data(registry, suite.name)
    model, result = train_model(config, data, budget, segment_seconds=suite.segment_seconds, seed=seed,
                                device=device, checkpoint_path=output,
                                data_workers=default_data_workers(device, data_workers))
    if rank != 0:
        return
    saved = result.checkpoint or output
    if result.checkpoint_note:  # -o could not be written at the end: the weights went elsewhere
        err_console.print(f"[yellow]note: {escape(result.checkpoint_note)}[/yellow]")
    console.print(f"trained {config.name}: {result.steps} steps ({result.examples} mixtures, "
                  f"{result.macs:.3g} MACs; stopped by {result.stopped_by}) in {result.seconds:.0f} s "
                  f"({result.steps_per_second:.2f} steps/s), final loss "
                  f"{result.losses[-1] if result.losses else float('nan'):.3f}; checkpoint {saved}")
    console.print(_score_table(config.name, model, data, device, eval_mixtures))


def _weights_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--checkpoint PATH`` or ``--run REF`` (+ ``--store``): where a trained model's weights come from."""
    fn = click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
                      default=Path("results/bench.sqlite"), show_default=True,
                      help="Result store that --run looks in.")(fn)
    fn = click.option("--run", "run_ref", default=None, metavar="REF",
                      help="Weights kept by a benchmark run: a run-hash prefix or MODEL@SUITE[:SEED] "
                           "(see `separena runs`).")(fn)
    return click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
                        help="Trained weights from `separena train` (not needed for oracles).")(fn)


def _trained_model(registry: Registry, name: str, checkpoint: Path | None, run_ref: str | None, store_path: Path,
                   device: str, data: Any = None) -> tuple[Any, Any]:
    """``(config, model)`` from ``--checkpoint`` or ``--run``, or built untrained for oracles
    (fitted to ``data``'s sources and sample rate, as the benchmark fits them)."""
    from .bench.runner import fitted_config
    from .checkpoints import load_checkpoint

    config = fitted_config(registry, name, data.sample_rate, data.n_src) if data is not None \
        else registry.model_config(name)
    if checkpoint is not None and run_ref is not None:
        raise SeparenaError("--checkpoint and --run: both name weights; expected one of them, got both")
    if run_ref is not None:
        from .bench import ResultStore
        from .bench.execute import load_run_weights

        if not store_path.is_file():
            raise SeparenaError(f"--store {store_path}: file not found; expected a store written by `separena bench`")
        with ResultStore(store_path) as store:
            return load_run_weights(store, store.resolve(run_ref), registry, name=name, device=device)
    if checkpoint is not None:
        loaded, model = load_checkpoint(checkpoint, registry, name=name, device=device)
        changed = {k: (config.params.get(k), v) for k, v in loaded.params.items() if config.params.get(k) != v}
        if loaded.name != config.name or changed:
            diff = ", ".join(f"{k} {v!r} (not {a!r})" for k, (a, v) in list(changed.items())[:4])
            err_console.print(f"[yellow]note: checkpoint {escape(str(checkpoint))} holds model {loaded.name!r}"
                              + (f" with {escape(diff)}" if diff else "")
                              + f"; using the checkpoint's model, not {config.name!r} as registered[/yellow]")
        return loaded, model
    if config.trainable:
        raise SeparenaError(f"model {config.name!r} is trainable; expected --checkpoint PATH from `separena train` "
                            "or --run REF from `separena bench`")
    return config, config.build().to(device).eval()


@main.command()
@click.argument("name")
@_weights_options
@click.option("--suite", "suite_name", default="speech-quick", show_default=True)
@_device_option
@_eval_mixtures_option
@click.pass_context
@_one_line_errors
def evaluate(ctx: click.Context, name: str, checkpoint: Path | None, run_ref: str | None, store_path: Path,
             suite_name: str, device: str, eval_mixtures: int | None) -> None:
    """Evaluate model NAME on every test set of a suite's dataset."""
    registry = _registry(ctx)
    config = registry.model_config(name)
    _check_serves(registry, config, suite_name)
    if config.trainable:  # weights are checked before the data is built
        config, model = _trained_model(registry, name, checkpoint, run_ref, store_path, device)
    _, data = _suite_data(registry, suite_name)
    if not config.trainable:  # oracles and baselines take the data's sources and rate
        config, model = _trained_model(registry, name, checkpoint, run_ref, store_path, device, data)
    console.print(_score_table(config.name, model, data, device, eval_mixtures))

@main.command()
@click.argument("name")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@_weights_options
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=Path("separated"), show_default=True)
@_device_option
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="Longest input accepted (the whole file is separated in one pass).")
@click.option("--resample", is_flag=True, help="Resample inputs at another rate to the model's (soxr, high quality).")
@click.pass_context
@_one_line_errors
def separate(ctx: click.Context, name: str, inputs: tuple[Path, ...], checkpoint: Path | None, run_ref: str | None,
             store_path: Path, output_dir: Path, device: str, max_seconds: float, resample: bool) -> None:
    """Separate each INPUT wav with model NAME; writes OUTPUT_DIR/<input>_s<k>.wav per source.

    Inputs must be at the model's sample rate, or are resampled with --resample; multichannel
    files are averaged to mono. Every input and the output folder are checked before any work.
    """
    import torch

    from .data.audio import audio_info, read_wav, write_wav

    check_output_path(output_dir, "-o/--output-dir", folder=True)
    registry = _registry(ctx)
    config, model = _trained_model(registry, name, checkpoint, run_ref, store_path, device)
    if model.needs_references:
        raise SeparenaError(f"model {config.name!r} is an oracle: it needs reference sources, not just a mixture")
    stems: dict[str, Path] = {}
    for path in inputs:
        if path.stem in stems and stems[path.stem].resolve() != path.resolve():
            raise SeparenaError(f"{path}: its outputs would overwrite those of {stems[path.stem]} "
                                f"({output_dir / path.stem}_s1.wav, ...); expected inputs with distinct file names")
        stems[path.stem] = path
    wavs = []
    for path in inputs:  # all checked before any work
        rate, channels, frames = audio_info(path)
        if frames > max_seconds * rate:
            raise SeparenaError(f"{path}: {frames / rate:.1f} s of audio; expected at most {max_seconds:g} s "
                                "(split the file, or raise --max-seconds)")
        wavs.append((path, read_wav(path, model.sample_rate, resample=resample)))
        if rate != model.sample_rate:
            err_console.print(f"note: {escape(str(path))}: resampled from {rate} Hz to {model.sample_rate} Hz")
        if channels > 1:
            err_console.print(f"note: {escape(str(path))}: {channels} channels averaged to mono")
    separated = []
    for path, wav in wavs:  # all separated before anything is written
        try:
            with torch.no_grad():
                estimates = model(wav.unsqueeze(0).to(device)).estimates[0].float().cpu()
        except SeparenaError as exc:  # e.g. an input shorter than the model's window
            raise SeparenaError(f"{path}: {exc}") from None
        except Exception as exc:  # a plugin's own failure: one line, whole
            reason = " ".join(str(exc).split())
            raise SeparenaError(f"{path}: model {config.name!r} failed on this input ({wav.shape[-1]} samples at "
                                f"{model.sample_rate} Hz): {type(exc).__name__}: {reason}") from None
        if not torch.isfinite(estimates).all():
            raise SeparenaError(f"{path}: model {config.name!r} produced non-finite (NaN or inf) estimates; "
                                "expected finite audio (is the checkpoint from a diverged run?)")
        separated.append((path, estimates))
    output_dir.mkdir(parents=True, exist_ok=True)
    for path, estimates in separated:
        for k, source in enumerate(estimates, start=1):
            out = output_dir / f"{path.stem}_s{k}.wav"
            write_wav(out, source, model.sample_rate)
            console.print(f"wrote {out}")


@main.command("new-plugin")
@click.argument("name")
@click.option("-d", "--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the plugin folder NAME/.")
@click.pass_context
@_one_line_errors
def new_plugin_cmd(ctx: click.Context, name: str, directory: Path) -> None:
    """Scaffold an installable plugin DIRECTORY/NAME/ (a small mask model that passes the contract kit)."""
    from .presets import normalize_name
    from .scaffold import new_plugin, plugin_names

    plugin_names(name)  # validate the name before loading any plugin
    presets = _registry(ctx).presets
    taken = [n for n in (name, f"{name}-small") if normalize_name(n) in presets]
    if taken:
        raise SeparenaError(f"new-plugin NAME: expected a name not yet registered, got {name!r} "
                            f"(taken: {', '.join(taken)}; see `separena list`)")
    path = new_plugin(name, directory)
    console.print(f"created {escape(str(path))}/ (plugin {name}, preset {name}-small). Next:\n"
                  f"  pip install -e {escape(str(path))}\n"
                  f"  separena list '{name}*'\n"
                  f"  python -m pytest -q {escape(str(path / 'tests'))}")


@main.command()
@click.option("--suite", "suite_name", default="speech-quick", show_default=True, help="Suite to run.")
@click.option("--models", "models", multiple=True, metavar="PATTERN",
              help="Names or fnmatch patterns replacing the suite's models (oracles are always added); repeatable.")
@click.option("--seeds", "seeds", multiple=True, type=click.IntRange(min=0), metavar="N",
              help="Seeds replacing the suite's (e.g. one seed of a two-seed suite; stored runs are shared); repeatable.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store (resumed).")
@_device_option
@_budget_options
@click.option("--fresh", is_flag=True, help="Re-run stored runs of this suite (old results are archived, not lost).")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: one run at a time in this process; ray: runs as Ray tasks (pip install 'separena[ray]').")
@click.option("--address", default=None, metavar="ADDR",
              help="Ray cluster to join (e.g. auto, ray://head:10001); default: start a local one.")
@click.option("--num-cpus", type=click.IntRange(min=1), default=None,
              help="CPUs of the local Ray cluster (default: all); not with --address.")
@click.option("--gpus-per-run", type=click.FloatRange(min=0), default=None,
              help="GPUs each Ray run asks for (default: 1 with --device cuda, else 0).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local runs executing at once, each in a worker process "
                   "(default: one per core on the CPU, 1 on a GPU).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads of each local run (default: 1 on the CPU, every core on a GPU).")
@click.option("--data-workers", type=click.IntRange(min=0), default=None,
              help="Processes that build training batches ahead (same batches). "
                   "Default: 0 on the CPU or with Ray, up to 8 on a GPU.")
@click.pass_context
@_one_line_errors
def bench(ctx: click.Context, suite_name: str, models: tuple[str, ...], seeds: tuple[int, ...], store_path: Path,
          device: str,
          fresh: bool, executor_name: str, address: str | None, num_cpus: int | None,
          gpus_per_run: float | None, jobs: int | None, threads: int | None, data_workers: int | None,
          **budget_options: Any) -> None:
    """Benchmark a suite: train and evaluate every model and seed, resuming from the store.

    Budget options replace the suite's budget; such runs get their own hashes and rows.
    """
    from .bench import LocalExecutor, ResultStore, leaderboard, rich_table, run_suite
    from .bench.executor import RegistryRecipe
    from .bench.runner import suite_models

    check_output_path(store_path, "--store", folder=False)
    budget = _budget_overrides(budget_options)
    if executor_name == "local" and (address is not None or num_cpus is not None or gpus_per_run is not None):
        raise SeparenaError("--address/--num-cpus/--gpus-per-run: Ray options; expected --executor ray with them")
    if executor_name == "ray" and jobs is not None:
        raise SeparenaError("--jobs: a local option; expected it without --executor ray (Ray runs as many runs "
                            "at once as the cluster has CPUs: --num-cpus)")
    registry = _registry(ctx)
    suite_models(registry, registry.suite(suite_name), list(models) or None)  # before the store is created
    obj = ctx.find_root().obj or {}
    recipe = RegistryRecipe.of(plugins=obj.get("plugins", ()), registry_files=obj.get("registry_files", ()),
                               environment=True)
    on_gpu = device.startswith("cuda")
    cores = len(os.sched_getaffinity(0))
    if executor_name == "ray":
        from .bench.ray_executor import RayExecutor

        if gpus_per_run is None:
            gpus_per_run = 1.0 if on_gpu else 0.0
        executor = RayExecutor(recipe, address=address, num_cpus=num_cpus, gpus_per_run=gpus_per_run)
    else:
        # One thread per run and one run per core: a run's numbers then do not depend on the
        # machine's core count or load (tests/test_bench.py), and a busy machine slows the
        # suite down instead of starving one run (docs/benchmark.md).
        jobs = jobs or (1 if on_gpu else cores)
        executor = LocalExecutor(registry, jobs=jobs, recipe=recipe)
    try:
        with ResultStore(store_path) as store:
            result = run_suite(registry, suite_name, models=list(models) or None, seeds=list(seeds) or None,
                               store=store, device=device, fresh=fresh, executor=executor,
                               threads=threads or (cores if on_gpu else 1),
                               # a Ray task has its own CPU share: no extra processes unless asked
                               data_workers=default_data_workers(device, data_workers)
                               if executor_name == "local" else data_workers or 0, budget=budget)
            hashes = result.run_hashes
            rows = leaderboard(store.runs(run_hashes=hashes), store.failures(run_hashes=hashes))
    finally:
        executor.close()
    console.print(rich_table(rows, f"{result.suite.name} on {result.data_name}"))
    console.print(f"{len(result.executed)} run(s) executed, {len(result.reused)} reused, "
                  f"{len(result.failed)} failed in {result.seconds:.0f} s; store {escape(str(store_path))}; "
                  f"`separena report --store {escape(str(store_path))} -o DIR` writes md/csv/json/html")
    if result.failed:  # a broken plugin costs only its own rows; the benchmark itself succeeded
        err_console.print(f"[red]{len(result.failed)} run(s) failed; their errors are in the table and "
                          "they are retried on the next invocation[/red]")


@main.command()
@click.argument("pattern", default="*")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store to read.")
@click.option("--suite", "suite_name", default=None, metavar="NAME", help="Only runs this suite asked for.")
@_one_line_errors
def runs(pattern: str, store_path: Path, suite_name: str | None) -> None:
    """List the stored runs of models matching PATTERN: the REF to pass to --run, budget, score, weights."""
    import fnmatch
    import time

    from .bench import ResultStore
    from .bench.leaderboard import latest_runs

    if not store_path.is_file():
        raise SeparenaError(f"--store {store_path}: file not found; expected a store written by `separena bench`")
    with ResultStore(store_path) as store:
        if suite_name is not None and suite_name not in store.suites():
            raise SeparenaError(f"--suite {suite_name}: no runs in {store_path}; expected one of "
                                f"{', '.join(store.suites()) or '(none)'}")
        suites = [suite_name] if suite_name else store.suites()
        table = Table(title=f"runs in {store_path}")
        for column in ("run", "REF", "steps", "stopped by", "train MACs", "SI-SDRi test", "weights", "finished"):
            table.add_column(column, overflow="fold")
        for suite in suites:
            for run in sorted(latest_runs(store.runs(suite=suite)), key=lambda r: (r.model, r.seed)):
                if not fnmatch.fnmatchcase(run.model, pattern):
                    continue
                t, test = run.payload["train"], run.payload["sets"].get("test", {})
                macs = t.get("macs")
                table.add_row(run.run_hash[:12], f"{run.model}@{suite}:{run.seed}", str(t["steps"]),
                              t["stopped_by"], f"{macs:.3g}" if isinstance(macs, float) and macs == macs else "-",
                              f"{test.get('si_sdri_mean', float('nan')):.2f}",
                              "yes" if run.payload.get("weights") else "-",
                              time.strftime("%Y-%m-%d %H:%M", time.localtime(run.finished_at)))
    console.print(table)


@main.command()
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store to read.")
@click.option("--suite", "suites", multiple=True, metavar="NAME", help="Only these suites (default: all stored).")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for leaderboard.md/.csv/.json and index.html (portable: relative links).")
@_one_line_errors
def report(store_path: Path, suites: tuple[str, ...], output_dir: Path) -> None:
    """Write the stored leaderboard as Markdown, CSV, JSON and a static HTML page with plots and audio."""
    from .bench import ResultStore, write_report
    from .bench.report import collect, ranking_agreements

    if not store_path.is_file():
        raise SeparenaError(f"--store {store_path}: file not found; expected a store written by `separena bench`")
    check_output_path(output_dir, "-o/--output-dir", folder=True)
    with ResultStore(store_path) as store:
        unknown = [s for s in suites if s not in store.suites()]
        if unknown:
            raise SeparenaError(f"--suite {unknown[0]}: no runs in {store_path}; expected one of "
                                f"{', '.join(store.suites()) or '(none)'}")
        written = write_report(store, output_dir, list(suites) or None)
        agreements = ranking_agreements(collect(store, list(suites) or None))
    for path in written:
        console.print(f"wrote {escape(str(path))}")
    for agreement in agreements:
        console.print(escape(agreement.line()))


if __name__ == "__main__":  # pragma: no cover
    main()
