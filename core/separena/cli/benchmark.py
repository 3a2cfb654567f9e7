"""Benchmark commands: ``bench`` runs a suite into a result store (local workers or Ray),
``runs`` lists the stored runs (the references ``--run`` takes), ``report`` writes the stored
leaderboard as Markdown, CSV, JSON and an HTML page, ``publish`` copies a suite's runs and
weights into the repository's ``published/`` folder.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..errors import SeparenaError
from .common import complete_names, console, context_registry, err_console, one_line_errors
from .options import budget_options, budget_overrides, check_output_path, default_data_workers, device_option

__all__ = ["bench", "runs", "report", "publish"]


@click.command()
@click.option("--suite", "suite_name", default="speech-quick", show_default=True, help="Suite to run.",
              shell_complete=complete_names("suites"))
@click.option("--models", "models", multiple=True, metavar="PATTERN", shell_complete=complete_names("models"),
              help="Names or fnmatch patterns replacing the suite's models (oracles are always added); repeatable.")
@click.option("--seeds", "seeds", multiple=True, type=click.IntRange(min=0), metavar="N",
              help="Seeds of the trained models replacing the suite's (e.g. one seed of a two-seed suite; stored "
                   "runs are shared; models not trained keep the suite's first); repeatable.")
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store (resumed).")
@device_option
@budget_options
@click.option("--fresh", is_flag=True, help="Re-run stored runs of this suite (old results are archived, not lost).")
@click.option("--dry-run", is_flag=True,
              help="Show the suite's runs, those stored and those to run with the time the same model, suite and "
                   "budget took before, and run nothing (the data is built: the runs' hashes name it).")
@click.option("--executor", "executor_name", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: --jobs runs at once on this machine, in worker processes; ray: runs as Ray tasks "
                   "(pip install 'separena[ray]').")
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
@one_line_errors
def bench(ctx: click.Context, suite_name: str, models: tuple[str, ...], seeds: tuple[int, ...], store_path: Path,
          device: str,
          fresh: bool, dry_run: bool, executor_name: str, address: str | None, num_cpus: int | None,
          gpus_per_run: float | None, jobs: int | None, threads: int | None, data_workers: int | None,
          **budget_values: Any) -> None:
    """Benchmark a suite: train and evaluate every model and seed, resuming from the store.

    Budget options replace the suite's budget; such runs get their own hashes and rows.
    """
    from ..bench import LocalExecutor, ResultStore, leaderboard, rich_table, run_suite
    from ..bench.executor import RegistryRecipe
    from ..bench.runner import check_suite, suite_data
    from ..bench.runs import DataCache

    check_output_path(store_path, "--store", folder=False)
    budget = budget_overrides(budget_values)
    if executor_name == "local" and (address is not None or num_cpus is not None or gpus_per_run is not None):
        raise SeparenaError("--address/--num-cpus/--gpus-per-run: Ray options; expected --executor ray with them")
    if executor_name == "ray" and jobs is not None:
        raise SeparenaError("--jobs: a local option; expected it without --executor ray (Ray runs as many runs "
                            "at once as the cluster has CPUs: --num-cpus)")
    registry = context_registry(ctx)
    check_suite(registry, registry.suite(suite_name), list(models) or None)  # before the store is created
    if dry_run:
        _show_plan(registry, suite_name, models, seeds, budget, store_path, device, fresh)
        return
    obj = ctx.find_root().obj or {}
    recipe = RegistryRecipe.of(plugins=obj.get("plugins", ()), registry_files=obj.get("registry_files", ()),
                               environment=True)
    on_gpu = device.startswith("cuda")
    cores = len(os.sched_getaffinity(0))
    if executor_name == "ray":
        from ..bench.ray_executor import RayExecutor

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
        cache = getattr(executor, "data_cache", None) or DataCache()
        suite_data(registry, registry.suite(suite_name), cache)  # bad dataset_params: refused before the store
        with ResultStore(store_path) as store:
            result = run_suite(registry, suite_name, models=list(models) or None, seeds=list(seeds) or None,
                               store=store, device=device, fresh=fresh, executor=executor, data_cache=cache,
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


def _show_plan(registry: Any, suite_name: str, models: tuple[str, ...], seeds: tuple[int, ...],
               budget: dict[str, Any], store_path: Path, device: str, fresh: bool) -> None:
    """``bench --dry-run``: a table of the runs ``bench`` would plan, each stored or to run, with
    the wall clock of the latest earlier run of the same model, suite and budget (of the same seed
    where there is one; in the store under another code version, or published). Writes nothing."""
    from ..bench import ResultStore
    from ..bench.published import PublishedStore, default_published_dir
    from ..bench.runner import plan_suite

    suite, data, configs = plan_suite(registry, suite_name, models=list(models) or None, seeds=list(seeds) or None,
                                      budget=budget, device=device)
    hashes = [c.run_hash for c in configs]
    done: set[str] = set()
    failed: dict[str, str] = {}
    earlier = []
    if store_path.is_file():
        with ResultStore(store_path) as store:  # an existing store is only read
            done = set() if fresh else store.finished(hashes)
            failed = {f.run_hash: f.error for f in store.failures(run_hashes=hashes)}
            earlier += [(r, "store") for r in store.runs(suite=suite.name)]
    with PublishedStore(default_published_dir()) as published:
        earlier += [(r, "published") for r in published.runs(suite=suite.name)]
    table = Table(title=f"{suite.name} on {data.name}: the runs of `separena bench` (--dry-run: nothing is run)")
    for column in ("model", "seed", "run", "state", "took before", "where"):
        table.add_column(column, overflow="fold")
    timed, seconds, todo = 0, 0.0, 0
    for c in configs:
        to_run = c.error is None and c.run_hash not in done
        todo += to_run
        if c.error is not None:
            state = f"[red]cannot run: {escape(c.error)}[/red]"
        elif not to_run:
            state = "stored"
        else:
            state = "to run" + (f" ([red]failed before: {escape(failed[c.run_hash])}[/red])"
                                if c.run_hash in failed else "")
        same = [(r, where) for r, where in earlier
                if r.model == c.preset and r.payload["config"]["budget"] == c.budget and "wall_seconds" in r.payload]
        same.sort(key=lambda rw: (rw[0].seed == c.seed, rw[0].finished_at))  # same seed, then the latest
        took, where = "-", "-"
        if same:
            run, source = same[-1]
            machine = run.payload.get("machine", {})
            took = f"{run.payload['wall_seconds']:.0f} s"
            threads = machine.get("threads", "?")
            where = (f"{source}, seed {run.seed}, {machine.get('device', '?')} ({machine.get('cpu', '?')}, "
                     f"{threads} thread{'' if threads == 1 else 's'})")
            if to_run:
                timed, seconds = timed + 1, seconds + run.payload["wall_seconds"]
        table.add_row(c.preset, str(c.seed), c.run_hash[:12], state, took, escape(where))
    console.print(table)
    console.print(f"{todo} of {len(configs)} run(s) to run, {len(done)} stored"
                  + (f"; earlier runs of {timed} of them took {seconds / 60:.1f} min one after another"
                     if timed else "")
                  + f"; nothing run, {escape(str(store_path))} "
                  + ("unchanged" if store_path.is_file() else "not created"))


@click.command()
@click.argument("pattern", default="*", shell_complete=complete_names("models"))
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store to read.")
@click.option("--suite", "suite_name", default=None, metavar="NAME", help="Only runs this suite asked for.",
              shell_complete=complete_names("suites"))
@click.option("--published", "published", is_flag=True,
              help="List the runs published with the repository instead (--run finds them without a store).")
@one_line_errors
def runs(pattern: str, store_path: Path, suite_name: str | None, published: bool) -> None:
    """List the stored runs of models matching PATTERN: the REF to pass to --run, budget, score, weights."""
    import fnmatch
    import time
    from contextlib import nullcontext

    from ..bench import ResultStore
    from ..bench.leaderboard import latest_runs
    from ..bench.published import PublishedStore, default_published_dir

    if published:
        source, where = nullcontext(PublishedStore(default_published_dir())), default_published_dir()
    elif not store_path.is_file():
        raise SeparenaError(f"--store {store_path}: file not found; expected a store written by `separena bench` "
                            "(--published lists the runs published with the repository)")
    else:
        source, where = ResultStore(store_path), store_path
    with source as store:
        if suite_name is not None and suite_name not in store.suites():
            raise SeparenaError(f"--suite {suite_name}: no runs in {where}; expected one of "
                                f"{', '.join(store.suites()) or '(none)'}")
        suites = [suite_name] if suite_name else store.suites()
        table = Table(title=f"{'published ' if published else ''}runs in {where}")
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


@click.command()
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store to read.")
@click.option("--suite", "suites", multiple=True, metavar="NAME", help="Only these suites (default: all stored).",
              shell_complete=complete_names("suites"))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for leaderboard.md/.csv/.json, scores.csv (every stored score) and index.html "
                   "(portable: relative links).")
@click.option("--published/--no-published", "with_published", default=True, show_default=True,
              help="Add the leaderboards published with the repository (published/) beside the store's.")
@one_line_errors
def report(store_path: Path, suites: tuple[str, ...], output_dir: Path, with_published: bool) -> None:
    """Write the stored leaderboard as Markdown, CSV, JSON and a static HTML page with plots and audio,
    and every score behind it (scores.csv: per run, set, mixture and source), with the published
    leaderboards beside it (on a fresh clone, without a store: those alone)."""
    from ..bench import ResultStore, write_report
    from ..bench.published import PublishedStore, default_published_dir
    from ..bench.report import across_suites, all_reports, ranking_agreements

    published = PublishedStore(default_published_dir()) if with_published else None
    if not store_path.exists() and not published:
        raise SeparenaError(f"--store {store_path}: file not found; expected a store written by `separena bench`")
    check_output_path(output_dir, "-o/--output-dir", folder=True)
    if not store_path.exists():
        err_console.print(f"note: --store {escape(str(store_path))} not found; reporting the published runs only")
    with ResultStore(store_path) if store_path.exists() else contextlib.nullcontext() as store:
        known = set(store.suites() if store is not None else []) | set(published.suites() if published else [])
        unknown = [s for s in suites if s not in known]
        if unknown:
            raise SeparenaError(f"--suite {unknown[0]}: no runs in {store_path}"
                                f"{' or the published runs' if published else ''}; expected one of "
                                f"{', '.join(sorted(known)) or '(none)'}")
        written = write_report(store, output_dir, list(suites) or None, published=published)
        reports = all_reports(store, list(suites) or None, published)
    for path in written:
        console.print(f"wrote {escape(str(path))}")
    for agreement in ranking_agreements(reports):
        console.print(escape(agreement.line()))
    cross = across_suites(reports)
    if cross is not None:
        table = Table(title="Across suites: SI-SDRi on test (dB) and rank among these models")
        table.add_column("model")
        for name in cross.suites:
            table.add_column(escape(name), justify="right")
        for cells in cross.cells():
            table.add_row(*map(escape, cells))
        console.print(table)
        for agreement in cross.agreements:
            console.print(escape(agreement.line()))


def _commit() -> str:
    """The checked-out commit (``-dirty`` with uncommitted changes), or ``unknown`` outside git."""
    import subprocess

    root = Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@click.command()
@click.option("--suite", "suite_name", required=True, metavar="NAME", help="Suite whose latest runs to publish.",
              shell_complete=complete_names("suites"))
@click.option("--store", "store_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/bench.sqlite"), show_default=True, help="SQLite result store to read.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Published folder (default: published/ of this repository).")
@click.option("--rescore", is_flag=True,
              help="Score runs whose data this machine builds under another name (trained on another machine, "
                   "e.g. a GPU's) on this machine's data, and publish those scores.")
@device_option
@click.pass_context
@one_line_errors
def publish(ctx: click.Context, suite_name: str, store_path: Path, output_dir: Path | None, rescore: bool,
            device: str) -> None:
    """Publish a suite's latest runs with their weights (float16 where no test score moves by more
    than 0.05 dB): what `separena separate` and `separena report` use on a fresh clone."""
    from ..bench import ResultStore
    from ..bench.published import default_published_dir, published_size
    from ..bench.published import publish as publish_runs

    if not store_path.is_file():
        raise SeparenaError(f"--store {store_path}: file not found; expected a store written by `separena bench`")
    folder = output_dir or default_published_dir()
    check_output_path(folder, "-o/--output-dir", folder=True)
    registry = context_registry(ctx)
    with ResultStore(store_path) as store:
        if suite_name not in store.suites():
            raise SeparenaError(f"--suite {suite_name}: no runs in {store_path}; expected one of "
                                f"{', '.join(store.suites()) or '(none)'}")
        written = publish_runs(store, suite_name, folder, registry, commit=_commit(), device=device, rescore=rescore)
    table = Table(title=f"published to {folder}")
    for column in ("run", "SI-SDRi test", "weights", "float16 change (dB, per set)"):
        table.add_column(column)
    for run in written:
        weights = run.payload.get("weights") or {}
        deltas = run.payload["published"].get("float16_delta_db", {})
        table.add_row(f"{run.model}@{run.suite}:{run.seed}", f"{run.payload['sets']['test']['si_sdri_mean']:.2f}",
                      weights.get("dtype", "-"), ", ".join(f"{k} {v:+.4f}" for k, v in deltas.items()) or "-")
    console.print(table)
    console.print(f"{len(written)} run(s); {published_size(folder) / 1e6:.1f} MB under {escape(str(folder))}")
