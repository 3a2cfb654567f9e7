"""The result store: one SQLite row per finished run, keyed by its run hash.

Exactly-once results without locks: only the driver (the process running
:func:`~separena.bench.runner.run_suite`) writes, one transaction per finished run, with
``INSERT ... ON CONFLICT(run_hash) DO NOTHING``. A run that was interrupted wrote nothing,
so a reader never sees half a run, and the next invocation simply runs it again. SQLite's
WAL journal lets ``separena report`` read while a benchmark writes.

Tables:
    runs: finished runs (``payload`` is the JSON of the run's config and results).
    failures: the latest failure of each run hash not yet finished (one-line error);
        retried on the next invocation, removed when the run finishes.
    suite_runs: which suites asked for which run hashes (identical runs of two suites are one run).
    archived_runs: runs set aside by ``separena bench --fresh`` (kept, never deleted).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SeparenaError, first_line

__all__ = ["ResultStore", "StoredRun", "StoredFailure", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_hash TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, seed INTEGER NOT NULL,
    finished_at REAL NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    run_hash TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, seed INTEGER NOT NULL,
    failed_at REAL NOT NULL, error TEXT NOT NULL, payload TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS suite_runs (
    suite TEXT NOT NULL, run_hash TEXT NOT NULL, model TEXT NOT NULL, seed INTEGER NOT NULL,
    requested_at REAL NOT NULL, PRIMARY KEY (suite, run_hash));
CREATE TABLE IF NOT EXISTS archived_runs (
    run_hash TEXT NOT NULL, archived_at REAL NOT NULL, payload TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredRun:
    """A finished run as read back from the store."""

    run_hash: str
    suite: str
    model: str
    seed: int
    finished_at: float
    payload: dict[str, Any]

    @property
    def scored_on(self) -> str:
        """The name of the data its stored scores are of: the data it ran on, or the data a
        published run was scored on again (``published.scored_on``)."""
        return self.payload.get("published", {}).get("scored_on") or self.payload["config"]["data_name"]


@dataclass(frozen=True)
class StoredFailure:
    """The latest failure of a run that has not finished yet."""

    run_hash: str
    suite: str
    model: str
    seed: int
    failed_at: float
    error: str
    payload: dict[str, Any]


class ResultStore:
    """SQLite result store (WAL). Open one per process; only the driver writes.

    Args:
        path: database file; its folder also holds the run artifacts (separated audio).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA synchronous=NORMAL")
            # A store already set up is not written to on open, so reading it leaves it unchanged.
            if self._db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._db.execute("PRAGMA journal_mode=WAL")
                with self._transaction():
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise SeparenaError(f"result store {self.path}: cannot open: {exc}") from None

    @property
    def artifacts_dir(self) -> Path:
        """Where runs write idempotent artifacts (``<store stem>-artifacts/`` beside the file)."""
        return self.path.with_name(f"{self.path.stem}-artifacts")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- writing (driver only) -----------------------------------------------------------
    def request(self, suite: str, run_hash: str, model: str, seed: int) -> None:
        """Note that ``suite`` asked for ``run_hash`` (idempotent)."""
        with self._transaction() as db:
            db.execute("INSERT INTO suite_runs VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       (suite, run_hash, model, seed, time.time()))

    def add_run(self, run_hash: str, suite: str, model: str, seed: int, payload: dict[str, Any]) -> bool:
        """Store a finished run in one transaction; False if that hash was already stored."""
        text = json.dumps(payload, allow_nan=True)
        with self._transaction() as db:
            cur = db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_hash) DO NOTHING",
                             (run_hash, suite, model, seed, time.time(), text))
            db.execute("DELETE FROM failures WHERE run_hash = ?", (run_hash,))
            return cur.rowcount == 1

    def add_failure(self, run_hash: str, suite: str, model: str, seed: int, error: str,
                    payload: dict[str, Any]) -> None:
        """Record (or replace) the latest failure of a run that did not finish."""
        line = first_line(error, "unknown error")[:500]
        with self._transaction() as db:
            db.execute(
                "INSERT INTO failures VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_hash) DO UPDATE SET "
                "failed_at = excluded.failed_at, error = excluded.error, payload = excluded.payload",
                (run_hash, suite, model, seed, time.time(), line, json.dumps(payload)))

    def archive(self, run_hashes: Iterable[str]) -> int:
        """Move stored runs to ``archived_runs`` (``--fresh``); returns how many moved."""
        hashes = list(run_hashes)
        moved = 0
        with self._transaction() as db:
            for h in hashes:
                db.execute("INSERT INTO archived_runs SELECT run_hash, ?, payload FROM runs WHERE run_hash = ?",
                           (time.time(), h))
                moved += db.execute("DELETE FROM runs WHERE run_hash = ?", (h,)).rowcount
        return moved

    # -- reading -------------------------------------------------------------------------
    def finished(self, run_hashes: Iterable[str]) -> set[str]:
        """The subset of ``run_hashes`` already stored as finished runs."""
        hashes = list(run_hashes)
        out: set[str] = set()
        for i in range(0, len(hashes), 500):
            chunk = hashes[i:i + 500]
            rows = self._db.execute(f"SELECT run_hash FROM runs WHERE run_hash IN ({','.join('?' * len(chunk))})",
                                    chunk)
            out.update(r[0] for r in rows)
        return out

    def runs(self, suite: str | None = None, run_hashes: Iterable[str] | None = None) -> list[StoredRun]:
        """Finished runs (of a suite, or with the given hashes), oldest first."""
        if run_hashes is not None:
            hashes = list(run_hashes)
            rows = [r for i in range(0, len(hashes), 500) for r in self._db.execute(
                f"SELECT * FROM runs WHERE run_hash IN ({','.join('?' * len(hashes[i:i + 500]))})",
                hashes[i:i + 500])]
            rows.sort(key=lambda r: r[4])
        elif suite is None:
            rows = list(self._db.execute("SELECT * FROM runs ORDER BY finished_at"))
        else:
            rows = list(self._db.execute(
                "SELECT r.* FROM runs r JOIN suite_runs s ON s.run_hash = r.run_hash WHERE s.suite = ? "
                "ORDER BY r.finished_at", (suite,)))
        return [StoredRun(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def failures(self, suite: str | None = None, run_hashes: Iterable[str] | None = None) -> list[StoredFailure]:
        """Runs whose latest attempt failed and that have not finished since."""
        if run_hashes is not None:
            wanted = set(run_hashes)
            rows = [r for r in self._db.execute("SELECT * FROM failures ORDER BY failed_at") if r[0] in wanted]
        elif suite is None:
            rows = list(self._db.execute("SELECT * FROM failures ORDER BY failed_at"))
        else:
            rows = list(self._db.execute(
                "SELECT f.* FROM failures f JOIN suite_runs s ON s.run_hash = f.run_hash WHERE s.suite = ? "
                "ORDER BY f.failed_at", (suite,)))
        return [StoredFailure(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]

    def resolve(self, ref: str, option: str = "--run") -> StoredRun:
        """The stored run ``ref`` names: a run-hash prefix, or ``model@suite[:seed]``.

        Among runs of the same model, suite and seed, the latest finished wins (as in the
        leaderboard). Raises a one-line :class:`SeparenaError` (naming the command-line
        ``option`` that gave ``ref``) saying what is stored when ``ref`` matches no run or more
        than one.
        """
        return one_seed(self.resolve_seeds(ref, option), ref, option)

    def resolve_seeds(self, ref: str, option: str = "--run") -> list[StoredRun]:
        """The stored runs ``ref`` names, by seed: the one run of a run-hash prefix or of
        ``model@suite:seed``, the latest finished run of each seed for ``model@suite``.
        Raises as :meth:`resolve` where ``ref`` matches no run."""
        named = runs_named(self, ref, option)
        if named is not None:
            return named
        prefix = str(ref).strip().lower()
        if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
            raise SeparenaError(f"{option} {ref}: expected a run-hash prefix (4 or more hex digits) or "
                                f"MODEL@SUITE[:SEED], got {ref!r}")
        rows = list(self._db.execute("SELECT * FROM runs WHERE run_hash LIKE ? LIMIT 3", (prefix + "%",)))
        if len(rows) != 1:
            what = "no finished run" if not rows else "more than one run"
            raise SeparenaError(f"{option} {ref}: {what} in {self.path} has a hash starting {prefix!r}; "
                                "expected exactly one (see `separena runs`)")
        r = rows[0]
        return [StoredRun(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]))]

    def suites(self) -> list[str]:
        """Suites that have requested runs, in order of first request."""
        rows = self._db.execute("SELECT suite, MIN(requested_at) AS t FROM suite_runs GROUP BY suite ORDER BY t")
        return [r[0] for r in rows]


def runs_named(store: Any, ref: str, option: str = "--run") -> list[StoredRun] | None:
    """The runs ``MODEL@SUITE[:SEED]`` names in ``store`` (a result store or the published
    runs: anything with ``runs(suite=...)`` and ``path``), the latest finished of each seed;
    ``None`` where ``ref`` is not of that form. Raises a one-line :class:`SeparenaError`
    (naming ``option``) saying what is there where it names none."""
    text = str(ref).strip()
    if "@" not in text:
        return None
    model, _, rest = text.partition("@")
    suite, _, seed_text = rest.partition(":")
    if not model or not suite or (seed_text and not seed_text.isdigit()):
        raise SeparenaError(f"{option} {ref}: expected a run-hash prefix or MODEL@SUITE[:SEED], got {ref!r}")
    key = model.strip().lower().replace("_", "-")
    in_suite = store.runs(suite=suite.strip())
    runs = [r for r in in_suite if r.model == key]
    if not runs:
        stored = sorted({r.model for r in in_suite})
        raise SeparenaError(f"{option} {ref}: no finished run of {key!r} in suite {suite!r} in {store.path}; "
                            f"expected one of {', '.join(stored) or '(no runs: run `separena bench` first)'}")
    seeds = sorted({r.seed for r in runs})
    if seed_text and int(seed_text) not in seeds:
        raise SeparenaError(f"{option} {ref}: no seed {seed_text} of {key!r} in suite {suite!r}; "
                            f"expected one of {', '.join(map(str, seeds))}")
    return [max((r for r in runs if r.seed == seed), key=lambda r: r.finished_at)
            for seed in ([int(seed_text)] if seed_text else seeds)]


def one_seed(runs: list[StoredRun], ref: str, option: str = "--run") -> StoredRun:
    """The one run of ``runs`` (those ``ref`` names), or a one-line error asking for a seed."""
    if len(runs) > 1:
        raise SeparenaError(f"{option} {ref}: {runs[0].model!r} has runs of seeds "
                            f"{', '.join(str(r.seed) for r in runs)} in suite {runs[0].suite!r}; "
                            f"expected {str(ref).strip()}:SEED")
    return runs[0]
