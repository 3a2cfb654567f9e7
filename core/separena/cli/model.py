"""Commands on one model: ``train`` it on a suite's data and budget, ``evaluate`` it on every
test set of a suite, ``separate`` wav files with it.

A suite's data is built by :func:`_suite_data` only after every option, weight file and
output path is checked (tests replace it here to check that nothing is built before).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..errors import SeparenaError
from ..registry import Registry
from ..specs import MAX_SEED, MetricSpec
from .common import complete_names, console, context_registry, err_console, one_line_errors
from .options import (
    budget_options, budget_overrides, check_output_path, default_data_workers, device_option, eval_mixtures_option,
    param_option, param_overrides,
)
from .weights import initial_model, store_option, trained_model, weights_options

__all__ = ["train", "evaluate", "separate"]


def _suite_data(registry: Registry, suite_name: str, overrides: dict[str, Any] | None = None):
    return registry.suite(suite_name), registry.suite_data(suite_name, **(overrides or {}))


def _score_table(title: str, model: Any, data: Any, device: str, eval_mixtures: int | None,
                 metrics: Sequence[MetricSpec] = ()) -> Table:
    """SI-SDRi of ``model`` on every test set of ``data`` (or a seeded subset of each), as a table
    with the mean's 95 % bootstrap interval over mixtures (as the leaderboard gives it), the
    mean of each source where the sources have roles (music stems), and the mean of each of
    ``metrics`` (scored as the benchmark scores them)."""
    from ..bench.execute import metric_table
    from ..bench.stats import bootstrap_interval
    from ..data import MixtureSubset
    from ..evaluation import evaluate

    roles = list(data.source_names or [])
    table = Table(title=f"{title} on {data.name}")
    for column in ("set", "mixtures scored", "SI-SDRi mean (dB)", "95 % interval", "median (dB)",
                   *(f"{role} (dB)" for role in roles),
                   *(f"{m.label or m.name} mean" + (f" ({m.unit})" if m.unit else "") for m in metrics), "RTF"):
        table.add_column(column)
    for set_name, mixtures in data.test_sets().items():
        scored = MixtureSubset.seeded(mixtures, eval_mixtures) if eval_mixtures else mixtures
        scores = evaluate(model, scored, device=device, description=f"evaluate {set_name}",
                          permutation_invariant=data.permutation_invariant, keep_estimates=bool(metrics))
        count = f"{len(scored)} of {len(mixtures)} (seeded subset)" if len(scored) < len(mixtures) else str(len(scored))
        interval = bootstrap_interval(scores.si_sdri.mean(1).numpy())
        per_role = [f"{v:.2f}" for v in scores.si_sdri.mean(0).tolist()] if roles else []
        extra = [f"{metric_table(m, scores.estimates or [], scored, data.sample_rate, data.n_src).nanmean().item():.2f}"
                 for m in metrics]
        table.add_row(set_name, count, f"{scores.mean:.2f}", f"[{interval.low:.2f}, {interval.high:.2f}]",
                      f"{scores.median:.2f}", *per_role, *extra, f"{scores.real_time_factor:.4f}")
    return table


def _check_serves(registry: Registry, config: Any, suite_name: str) -> Any:
    """The suite, once it is known that its data is a task the model serves, at the model's
    sample rate (before any data is built). Oracles and baselines fit any suite."""
    from ..specs import BRACKETS

    suite = registry.suite(suite_name)
    if config.family in BRACKETS:
        return suite

    def hint(rate: int | None = None) -> str:  # a suite that would fit
        fits = [n for n, s in registry.suites.items() if s.dataset in registry.datasets
                and set(registry.dataset(s.dataset).tasks) & set(config.tasks) and rate in (None, s.sample_rate)]
        return f" (try --suite {fits[0]})" if fits else ""

    data_tasks = registry.dataset(suite.dataset).tasks
    if not set(config.tasks) & set(data_tasks):
        raise SeparenaError(f"--suite {suite.name}: its data ({suite.dataset}) is {'/'.join(data_tasks)}, model "
                            f"{config.name!r} serves {'/'.join(config.tasks)}; expected a suite of that task{hint()}")
    rate = config.params.get("sample_rate")
    if rate is not None and rate != suite.sample_rate:
        raise SeparenaError(f"--suite {suite.name}: its data is at {suite.sample_rate} Hz, model {config.name!r} runs "
                            f"at {rate} Hz; expected a suite at the model's rate{hint(rate)}")
    return suite


def _state_path(output: Path) -> Path:
    """Where `train -o OUTPUT` keeps an interrupted training's state: beside the weights."""
    return output.with_name(output.name + ".state")


@click.command()
@click.argument("name", shell_complete=complete_names("models"))
@click.option("--suite", "suite_name", default="speech-quick", show_default=True,
              shell_complete=complete_names("suites"),
              help="Suite whose dataset, segment length and budget to use.")
@budget_options
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@param_option
@device_option
@click.option("--data-workers", type=click.IntRange(min=0), default=None,
              help="Processes that build training batches ahead (same batches). "
                   "Default: 0 on the CPU, up to 8 on a GPU.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Checkpoint path (default runs/NAME/model.pt).")
@click.option("--init", "init_source", default=None, metavar="SOURCE",
              help="Fine-tune: start from these weights, not random ones: `published`, a checkpoint file, "
                   "or a run REF in --store (MODEL@SUITE[:SEED] or a run-hash prefix).")
@store_option
@eval_mixtures_option
@click.pass_context
@one_line_errors
def train(ctx: click.Context, name: str, suite_name: str, seed: int, param_values: tuple[tuple[str, Any], ...],
          device: str, data_workers: int | None, output: Path | None, init_source: str | None, store_path: Path,
          eval_mixtures: int | None, **budget_values: Any) -> None:
    """Train model NAME on a suite's data and budget; write a checkpoint and report SI-SDRi.

    With --init it fine-tunes weights trained before (e.g. `--init published` on your own
    suite's data, often with a lower --learning-rate); the checkpoint records their digest.
    With --set KEY=VALUE it trains a variant of the preset (`--set hidden_size=64`); the
    checkpoint keeps its parameters, so evaluate and separate rebuild the variant from it.

    Ctrl-C stops training after the step under way and saves the last weights and the training
    state (OUTPUT.state); the same command then resumes from that step. Under
    `torchrun --nproc_per_node=N -m separena.cli train NAME` it trains with DDP
    (gloo on CPU, nccl on CUDA); rank 0 writes the checkpoint and evaluates.
    """
    from dataclasses import replace

    from ..bench.runner import fitted_config
    from ..presets import normalize_name
    from ..train import train as train_model

    import torch.distributed as dist

    output = output or Path("runs") / normalize_name(name) / "model.pt"
    check_output_path(output, "-o/--output", folder=False)  # before minutes of data and training
    registry = context_registry(ctx)
    overrides = param_overrides(param_values)
    if "n_src" in overrides:  # as in the benchmark: a model separates as many sources as its data has
        raise SeparenaError(f"--set n_src={overrides['n_src']!r}: the suite's data sets the number of sources; "
                            "expected another parameter (or a --suite with that many)")
    if overrides and init_source is not None:
        raise SeparenaError(f"--set {next(iter(overrides))}: the weights of --init fix the model's parameters; "
                            "expected --set or --init, not both")
    config = registry.model_config(name)  # an unknown or unavailable model is its own error, not --set's
    if overrides:
        try:
            config = registry.model_config(name, **overrides)
        except SeparenaError as exc:
            raise SeparenaError(f"--set: {exc}") from None
    if not config.trainable:
        raise SeparenaError(f"model {config.name!r} is not trained ({config.family}); expected a trainable model "
                            f"(it is scored as it is: `separena evaluate {config.name}`)")
    initial_weights = None
    if init_source is not None:  # read and checked before any data is built
        if output.is_file() and Path(init_source).is_file() and output.samefile(init_source):
            raise SeparenaError(f"--init {init_source}: is also the -o/--output path, which the training overwrites "
                                "(and a resumed run could no longer find its start); expected another -o")
        config, start = initial_model(registry, name, init_source, store_path)
        initial_weights = start.state_dict()
    suite = _check_serves(registry, config, suite_name)
    budget = replace(suite.budget, **budget_overrides(budget_values))
    rank = 0
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():  # started by torchrun
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        rank = dist.get_rank()
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    suite, data = _suite_data(registry, suite.name)
    if initial_weights is None:  # e.g. 3 sources for a suite of 3-speaker data, as the benchmark trains it
        config = fitted_config(registry, config.name, data.sample_rate, data.n_src, **overrides)
    model, result = train_model(config, data, budget, segment_seconds=suite.segment_seconds, seed=seed,
                                device=device, checkpoint_path=output, state_path=_state_path(output),
                                data_workers=default_data_workers(device, data_workers),
                                initial_weights=initial_weights)
    if rank != 0:
        return
    saved = result.checkpoint or output
    if result.checkpoint_note:  # -o could not be written at the end: the weights went elsewhere
        err_console.print(f"[yellow]note: {escape(result.checkpoint_note)}[/yellow]")
    resumed = f", resumed from step {result.resumed_from}" if result.resumed_from else ""
    start = f" from --init {escape(init_source)}" if init_source else ""
    variant = f" ({', '.join(f'{k}={v!r}' for k, v in overrides.items())})" if overrides else ""
    console.print(f"trained {config.name}{escape(variant)}{start}: {result.steps} steps{resumed} "
                  f"({result.examples} mixtures, {result.macs:.3g} MACs; stopped by {result.stopped_by}) in "
                  f"{result.seconds:.0f} s ({result.steps_per_second:.2f} steps/s), final loss "
                  f"{result.losses[-1] if result.losses else float('nan'):.3f}; checkpoint {saved}")
    console.print(_score_table(config.name, model, data, device, eval_mixtures))


@click.command()
@click.argument("name", shell_complete=complete_names("models"))
@weights_options
@click.option("--suite", "suite_name", default="speech-quick", show_default=True,
              shell_complete=complete_names("suites"))
@device_option
@eval_mixtures_option
@click.option("--metric", "metric_names", multiple=True, metavar="NAME",
              help="Also score this registered metric, e.g. sir, sar, usdr (repeatable; `separena plugins` lists "
                   "them).")
@click.pass_context
@one_line_errors
def evaluate(ctx: click.Context, name: str, checkpoint: Path | None, run_ref: str | None, store_path: Path,
             suite_name: str, device: str, eval_mixtures: int | None, metric_names: tuple[str, ...]) -> None:
    """Evaluate model NAME on every test set of a suite's dataset."""
    from ..bench.runner import installed_metric

    registry = context_registry(ctx)
    config = registry.model_config(name)
    _check_serves(registry, config, suite_name)
    metrics = list({m.name: m for m in (installed_metric(registry, n, "--metric") for n in metric_names)}.values())
    if config.trainable:  # weights are checked before the data is built
        config, model = trained_model(registry, name, checkpoint, run_ref, store_path, device)
    _, data = _suite_data(registry, suite_name)
    if not config.trainable:  # oracles and baselines take the data's sources and rate
        config, model = trained_model(registry, name, checkpoint, run_ref, store_path, device, data)
    elif model.n_src != data.n_src:
        raise SeparenaError(f"--suite {suite_name}: its mixtures hold {data.n_src} sources and these weights of "
                            f"{config.name!r} separate {model.n_src}; expected weights trained on it (--checkpoint "
                            f"from `separena train {config.name} --suite {suite_name}`, or --run REF)")
    console.print(_score_table(config.name, model, data, device, eval_mixtures, metrics))

@click.command()
@click.argument("name", shell_complete=complete_names("models"))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@weights_options
@click.option("-o", "--output-dir", type=click.Path(path_type=Path), default=Path("separated"), show_default=True)
@device_option
@click.option("--max-seconds", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True,
              help="Longest input accepted (inputs and outputs are held in memory).")
@click.option("--chunk-seconds", type=click.FloatRange(min=0), default=8.0, show_default=True,
              help="Separate longer inputs in cross-faded chunks of this length (memory of one chunk); 0: in one pass.")
@click.option("--overlap", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.25,
              show_default=True, help="Part of a chunk shared with the next one, where the two are cross-faded.")
@click.option("--resample", is_flag=True,
              help="Resample inputs at another rate to the model's, and their sources back to the input's rate "
                   "(soxr, high quality).")
@click.option("--mono", is_flag=True,
              help="Average the channels of a multichannel input and write mono sources (one pass, not one per "
                   "channel).")
@click.option("--float", "float32", is_flag=True,
              help="Write 32-bit float wavs: the sources' levels as the model gave them, never clipped or scaled.")
@click.pass_context
@one_line_errors
def separate(ctx: click.Context, name: str, inputs: tuple[Path, ...], checkpoint: Path | None, run_ref: str | None,
             store_path: Path, output_dir: Path, device: str, max_seconds: float, chunk_seconds: float,
             overlap: float, resample: bool, mono: bool, float32: bool) -> None:
    """Separate each INPUT wav with model NAME; writes OUTPUT_DIR/<input>_<source>.wav per source.

    Sources are named by their roles where the weights were trained on data that has them
    (song_vocals.wav, song_bass.wav, ...), else numbered (mix_s1.wav, mix_s2.wav).

    Inputs must be at the model's sample rate, or are resampled with --resample (and their
    sources back to the input's rate, sample for sample beside it). Each channel of
    a multichannel file is separated on its own, so the sources keep the input's channels and
    their place between them (--mono averages the channels first). Every input and the output
    folder are checked before any work. Inputs longer than --chunk-seconds are separated chunk by
    chunk; a speech model's speakers are kept in one order across chunks and channels (music
    stems keep theirs by role). Sources are written as 16-bit wavs; when one would exceed full
    scale, all the sources of that input are scaled down by one factor (keeping their balance),
    with a note; --float writes them as they are.
    """
    from ..data.audio import audio_info, read_wav, write_wav
    from ..model import chunk_starts
    from ..progress import progress_bar

    check_output_path(output_dir, "-o/--output-dir", folder=True)
    registry = context_registry(ctx)
    config, model = trained_model(registry, name, checkpoint, run_ref, store_path, device)
    if model.needs_references:
        raise SeparenaError(f"model {config.name!r} is an oracle: it needs reference sources, not just a mixture")
    chunk = round(chunk_seconds * model.sample_rate)
    if chunk_seconds and not 0 < round(overlap * chunk) < chunk:
        raise SeparenaError(f"--chunk-seconds {chunk_seconds:g} with --overlap {overlap:g}: chunks of {chunk} samples "
                            f"at {model.sample_rate} Hz that share {round(overlap * chunk)}; expected chunks that "
                            "share at least one sample and not all of them")
    suffixes = model.source_names or [f"s{k}" for k in range(1, model.n_src + 1)]  # e.g. song_vocals.wav
    stems: dict[str, Path] = {}
    for path in inputs:
        if path.stem in stems and stems[path.stem].resolve() != path.resolve():
            raise SeparenaError(f"{path}: its outputs would overwrite those of {stems[path.stem]} "
                                f"({output_dir / path.stem}_{suffixes[0]}.wav, ...); expected inputs with distinct "
                                "file names")
        stems[path.stem] = path
    wavs = []
    for path in inputs:  # all checked before any work
        rate, channels, frames = audio_info(path)
        if frames > max_seconds * rate:
            raise SeparenaError(f"{path}: {frames / rate:.1f} s of audio; expected at most {max_seconds:g} s "
                                "(split the file, or raise --max-seconds)")
        wav = read_wav(path, None if resample else model.sample_rate, mono=mono)  # at its own rate
        wavs.append((path, rate, wav if wav.dim() == 2 else wav.unsqueeze(0)))  # [channels, time]
        if rate != model.sample_rate:
            err_console.print(f"note: {escape(str(path))}: resampled from {rate} Hz to {model.sample_rate} Hz "
                              f"and its sources back to {rate} Hz")
        if channels > 1:
            how = "averaged to mono" if mono else "separated one by one"
            err_console.print(f"note: {escape(str(path))}: {channels} channels {how}")
    separated = []
    with progress_bar() as bar:  # the time left, chunk by chunk (an hour of audio takes a while)
        for path, rate, wav in wavs:  # all separated before anything is written
            length = round(wav.shape[-1] * model.sample_rate / rate)  # at the model's rate
            chunks = len(chunk_starts(length, chunk, round(overlap * chunk))) if chunk else 1
            task = bar.add_task(f"separate {escape(path.name)}", total=chunks)
            separated.append((path, rate, _separate_one(path, rate, wav, model, config, device, chunk_seconds,
                                                        overlap, float32, on_chunk=lambda: bar.advance(task))))
    output_dir.mkdir(parents=True, exist_ok=True)
    for path, rate, estimates in separated:
        for suffix, source in zip(suffixes, estimates):
            out = output_dir / f"{path.stem}_{suffix}.wav"
            write_wav(out, source, rate, float32=float32)  # [channels, time], at the input's rate
            console.print(f"wrote {out}")


def _separate_one(path: Path, rate: int, wav: Any, model: Any, config: Any, device: str, chunk_seconds: float,
                  overlap: float, float32: bool, on_chunk: Any) -> Any:
    """The sources ``[n_src, channels, time]`` of one input ``[channels, time]`` at ``rate`` Hz,
    ready to write (scaled into 16-bit range unless ``float32``), or a one-line error naming
    the input."""
    import torch

    from ..model import separate_audio

    try:
        with torch.no_grad():
            # Speakers have no fixed order from chunk to chunk or channel to channel; music
            # stems keep theirs by role.
            estimates = separate_audio(model, wav.to(device), rate, chunk_seconds, overlap,
                                       "speech" in config.tasks, on_chunk=on_chunk).cpu()
    except SeparenaError as exc:  # e.g. an input (or a chunk) shorter than the model's window
        chunked = 0 < chunk_seconds < wav.shape[-1] / rate
        where = f" (in a chunk of --chunk-seconds {chunk_seconds:g})" if chunked else ""
        raise SeparenaError(f"{path}: {exc}{where}") from None
    except Exception as exc:  # a plugin's own failure: one line, whole
        reason = " ".join(str(exc).split())
        raise SeparenaError(f"{path}: model {config.name!r} failed on this input ({wav.shape[-1]} samples at "
                            f"{rate} Hz): {type(exc).__name__}: {reason}") from None
    if not torch.isfinite(estimates).all():
        raise SeparenaError(f"{path}: model {config.name!r} produced non-finite (NaN or inf) estimates; "
                            "expected finite audio (is the checkpoint from a diverged run?)")
    peak = estimates.abs().max().item()
    if peak > 1.0 and not float32:  # clipping would distort; one factor keeps the sources' balance
        estimates = estimates / peak
        err_console.print(f"note: {escape(str(path))}: its sources peak at {peak:.2f}, over 16-bit full scale; "
                          f"all scaled by {1 / peak:.3f} (--float keeps their levels)")
    return estimates
