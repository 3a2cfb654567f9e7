"""Where a trained model's weights come from: ``--checkpoint PATH`` (from ``separena train``),
``--run REF`` (kept by a benchmark run, looked up in ``--store``), or else the weights published
with the repository (``published/``), saying which; oracles and baselines need none and are
built as they are, fitted to the data as the benchmark fits them. ``train --init SOURCE`` names
the weights a fine-tuning starts from in one option: ``published``, a checkpoint file or a REF.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from ..errors import SeparenaError
from ..registry import Registry
from .common import err_console

if TYPE_CHECKING:
    from ..bench.store import StoredRun

__all__ = ["weights_options", "store_option", "trained_model", "initial_model", "published_model", "published_run_of",
           "stored_weights", "stored_runs", "stored_model", "looks_like_run_ref"]

_HASH_DIGITS = set("0123456789abcdef")


def looks_like_run_ref(text: str) -> bool:
    """Whether ``text`` has the form of a run REF: ``MODEL@SUITE[:SEED]`` or a run-hash prefix."""
    return "@" in text or (len(text) >= 4 and set(text.lower()) <= _HASH_DIGITS)


def store_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--store FILE``: the result store in which run REFs are looked up."""
    return click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
                        default=Path("results/bench.sqlite"), show_default=True,
                        help="Result store in which a run REF is looked up.")(fn)


def weights_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--checkpoint PATH`` or ``--run REF`` (+ ``--store``): where a trained model's weights come from."""
    fn = store_option(fn)
    fn = click.option("--run", "run_ref", default=None, metavar="REF",
                      help="Weights kept by a benchmark run: a run-hash prefix or MODEL@SUITE[:SEED] "
                           "(see `separena runs`), looked up in --store, then in the published runs.")(fn)
    return click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
                        help="Trained weights from `separena train` (default: the published weights, if any; "
                             "oracles need none).")(fn)


def trained_model(registry: Registry, name: str, checkpoint: Path | None, run_ref: str | None, store_path: Path,
                  device: str, data: Any = None, option: str = "--run") -> tuple[Any, Any]:
    """``(config, model)`` from ``--checkpoint`` or ``--run``, else the published weights, or
    built untrained for oracles (fitted to ``data``'s sources and sample rate, as the benchmark
    fits them)."""
    from ..bench.runner import fitted_config

    config = fitted_config(registry, name, data.sample_rate, data.n_src) if data is not None \
        else registry.model_config(name)
    if checkpoint is not None and run_ref is not None:
        raise SeparenaError("--checkpoint and --run: both name weights; expected one of them, got both")
    if run_ref is not None:
        return _run_weights(registry, run_ref, store_path, device, option, config.name)
    if checkpoint is not None:
        return _checkpoint_weights(registry, checkpoint, device, config)
    if config.trainable:
        return published_model(registry, config.name, device, "",
                               "--checkpoint PATH from `separena train` or --run REF from `separena bench`")
    return config, config.build().to(device).eval()


def published_model(registry: Registry, name: str, device: str, where: str, expected: str) -> tuple[Any, Any]:
    """``(config, model)`` with the weights of ``name`` published with the repository, saying
    which; without any, one line that starts with ``where`` and says what was ``expected``."""
    from ..bench.published import describe, load_published

    published, _ = published_run_of(registry, name, where, expected)
    loaded, model, run = load_published(published, registry, name, device)
    err_console.print(f"note: using the published weights of {escape(describe(run))}")
    return loaded, model


def published_run_of(registry: Registry, name: str, where: str, expected: str) -> tuple[Any, StoredRun]:
    """``(published store, run)``: the published run whose weights stand for ``name`` (refused as
    :func:`published_model` refuses it), without reading the weights."""
    from ..bench.published import PublishedStore, default_published_dir, published_run

    published = PublishedStore(default_published_dir())
    if published.weights_for(name) is None:
        raise SeparenaError(f"{where}model {name!r} is trainable and has no published weights; expected {expected}")
    return published, published_run(published, registry, name)[1]


def stored_weights(registry: Registry, word: str, store_path: Path, device: str, option: str,
                   name: str | None = None, expected: str = "a checkpoint file or a REF of a stored run"
                   ) -> tuple[Any, Any] | None:
    """``(config, model)`` of the weights one word names: a checkpoint file, or a benchmark run's
    REF in ``store_path``; ``None`` if ``word`` has the form of neither. With ``name``, weights
    of another architecture are refused and another configuration of it is used with a note.
    ``option`` (``--init``, ``A``) starts the error lines, which say what was ``expected``."""
    if Path(word).is_file():
        return _checkpoint_weights(registry, Path(word), device, None if name is None else registry.model_config(name))
    runs = stored_runs(word, store_path, option, expected)
    return None if runs is None else stored_model(registry, runs[0], store_path, device, name)


def stored_runs(word: str, store_path: Path, option: str, expected: str, *,
                seeds: bool = False) -> list[StoredRun] | None:
    """The benchmark run ``word`` names as a REF in ``store_path`` (with ``seeds``, the latest run
    of each seed where ``MODEL@SUITE`` names several), or ``None`` if ``word`` does not have the
    form of a REF; a one-line error (starting with ``option``) where none is stored."""
    from ..bench import ResultStore

    if not looks_like_run_ref(word):
        return None
    if not store_path.is_file():
        raise SeparenaError(f"{option} {word}: no such file, and no store {store_path} to find it in as a run REF; "
                            f"expected {expected}")
    with ResultStore(store_path) as store:
        return store.resolve_seeds(word, option) if seeds else [store.resolve(word, option)]


def stored_model(registry: Registry, run: StoredRun, store_path: Path, device: str,
                 name: str | None = None) -> tuple[Any, Any]:
    """``(config, model)`` with the weights ``run`` kept in ``store_path``; with ``name``, refused
    if of another model."""
    from ..bench import ResultStore
    from ..bench.execute import load_run_weights

    with ResultStore(store_path) as store:
        return load_run_weights(store, run, registry, name=name, device=device)


def _run_weights(registry: Registry, ref: str, store_path: Path, device: str, option: str,
                 name: str | None) -> tuple[Any, Any]:
    """The weights a benchmark run kept: REF in ``store_path``, else among the runs published
    with the repository (saying so); with ``name``, refused if of another model."""
    from ..bench import ResultStore
    from ..bench.execute import load_run_weights
    from ..bench.published import PublishedStore, default_published_dir, describe

    missed: SeparenaError = SeparenaError(f"--store {store_path}: file not found; expected a store written by "
                                          "`separena bench` (or a REF of the published runs)")
    if store_path.is_file():
        with ResultStore(store_path) as store:
            try:
                run = store.resolve(ref, option)
            except SeparenaError as exc:
                missed = exc
            else:
                return load_run_weights(store, run, registry, name=name, device=device)
    published = PublishedStore(default_published_dir())
    try:
        run = published.resolve(ref, option)
    except SeparenaError:
        raise missed from None  # what the user's store lacks says more than what published/ lacks
    err_console.print(f"note: {option} {escape(ref)}: not in {escape(str(store_path))}; using the published weights "
                      f"of {escape(describe(run))}")
    return load_run_weights(published, run, registry, name=name, device=device)


def _checkpoint_weights(registry: Registry, checkpoint: Path, device: str, config: Any) -> tuple[Any, Any]:
    """The checkpoint's model; with ``config`` (a ModelConfig), refused if of another
    architecture, and a note where its configuration differs."""
    from ..checkpoints import load_checkpoint

    loaded, model = load_checkpoint(checkpoint, registry, name=None if config is None else config.name, device=device)
    if config is None:
        return loaded, model
    changed = {k: (config.params.get(k), v) for k, v in loaded.params.items() if config.params.get(k) != v}
    if loaded.name != config.name or changed:
        diff = ", ".join(f"{k} {v!r} (not {a!r})" for k, (a, v) in list(changed.items())[:4])
        err_console.print(f"[yellow]note: checkpoint {escape(str(checkpoint))} holds model {loaded.name!r}"
                          + (f" with {escape(diff)}" if diff else "")
                          + f"; using the checkpoint's model, not {config.name!r} as registered[/yellow]")
    return loaded, model


def initial_model(registry: Registry, name: str, source: str, store_path: Path) -> tuple[Any, Any]:
    """``(config, model)`` a fine-tuning of ``name`` starts from (``train --init SOURCE``), on the CPU.

    SOURCE is ``published`` (the weights published with the repository), an existing
    checkpoint file, or else a benchmark run's REF (``MODEL@SUITE[:SEED]`` or a hash prefix) in
    ``store_path``. Weights of another architecture are refused; those of another configuration
    of it (another preset) are trained as what they are, with a note, as ``--checkpoint`` does.
    """
    if source == "published":
        return published_model(registry, registry.model_config(name).name, "cpu", "--init published: ",
                               "a checkpoint file or a run REF (see `separena runs`)")
    loaded = stored_weights(registry, source, store_path, "cpu", "--init", name,
                            expected="`published`, a checkpoint file, or a REF of a stored run")
    if loaded is None:
        raise SeparenaError(f"--init {source}: no such file; expected `published`, a checkpoint file, or a run REF "
                            "(MODEL@SUITE[:SEED] or a run-hash prefix, see `separena runs`)")
    err_console.print(f"note: training starts from the weights of {escape(source)}")
    return loaded
