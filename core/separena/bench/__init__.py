"""The shared benchmark: same data, budget, seeds and metrics for every model of a suite.

``run_suite`` plans one :class:`RunConfig` per model and seed, skips the runs already in the
:class:`ResultStore`, executes the rest through an :class:`Executor` and stores each finished
run in one transaction; ``leaderboard`` and ``write_report`` turn the store into tables,
plots and audio. See docs/benchmark.md.
"""

from __future__ import annotations

from .execute import execute_run
from .executor import Executor, LocalExecutor
from .leaderboard import Row, leaderboard, rich_table
from .report import write_report
from .runner import SuiteResult, plan_runs, plan_suite, run_suite, suite_models
from .runs import DataCache, RunConfig, RunOutcome, code_version
from .store import ResultStore, StoredFailure, StoredRun

__all__ = [
    "RunConfig", "DataCache", "code_version", "Executor", "LocalExecutor", "RunOutcome", "ResultStore",
    "StoredRun", "StoredFailure", "run_suite", "plan_suite", "plan_runs", "execute_run", "suite_models", "SuiteResult",
    "Row", "leaderboard", "rich_table", "write_report",
]
