"""The report's cross-suite table: the models several suites share, side by side with their ranks."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from separena.bench.leaderboard import Row
from separena.bench.report import SuiteReport, across_suites
from separena.cli import main


def _suite(name: str, scores: dict[str, float], oracle: float | None = None) -> SuiteReport:
    rows = [Row(model=m, family="mask", kind="model", quality={"test": {"si_sdri_mean": v}}) for m, v in scores.items()]
    if oracle is not None:
        rows.append(Row(model="oracle-irm", family="oracle", kind="oracle", quality={"test": {"si_sdri_mean": oracle}}))
    return SuiteReport(name, [], rows)


def test_shared_models_side_by_side_with_their_ranks_and_taus():
    quick = _suite("quick", {"a": 3.0, "b": 2.0, "c": 1.0}, oracle=11.0)
    noisy = _suite("noisy", {"a": 1.0, "b": 2.0, "c": 3.0, "d": 0.5}, oracle=9.0)
    # shares only "d" with noisy: too little to rank against, so neither it nor "d" shows
    music = _suite("music", {"d": 5.0, "x": 1.0})
    cross = across_suites([quick, noisy, music])
    assert cross is not None
    assert cross.suites == ["quick", "noisy"] and sorted(cross.models) == ["a", "b", "c"]
    assert cross.ranks["a"] == {"quick": 1, "noisy": 3} and cross.ranks["c"] == {"quick": 3, "noisy": 1}
    assert cross.means["b"] == {"quick": 2.0, "noisy": 2.0} and "oracle-irm" not in cross.means
    assert cross.models[0] == "a"  # mean rank 2 for all three: ties go by name
    assert cross.reference == "quick"  # as many shared models as noisy: the first in the report's order
    [agreement] = cross.agreements
    assert agreement.what == "quick vs noisy (test)" and agreement.result.tau == -1.0


def test_no_table_where_fewer_than_two_suites_share_two_models():
    assert across_suites([_suite("one", {"a": 1.0, "b": 2.0})]) is None
    assert across_suites([_suite("one", {"a": 1.0, "b": 2.0}), _suite("two", {"a": 1.0, "c": 2.0})]) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from("abcdef"), st.floats(-5, 15, allow_nan=False), max_size=6),
                min_size=1, max_size=5))
def test_every_model_shows_in_two_suites_and_ranks_follow_the_scores(tables):
    reports = [_suite(f"s{i}", scores) for i, scores in enumerate(tables)]
    cross = across_suites(reports)
    if cross is None:
        return
    assert len(cross.suites) >= 2 and cross.reference in cross.suites
    for model in cross.models:
        assert len(cross.means[model]) >= 2 and cross.means[model].keys() == cross.ranks[model].keys()
    for suite in cross.suites:
        shown = [m for m in cross.models if suite in cross.means[m]]
        assert len(shown) >= 2
        assert sorted(cross.ranks[m][suite] for m in shown) == list(range(1, len(shown) + 1))
        by_rank = sorted(shown, key=lambda m: cross.ranks[m][suite])
        values = [cross.means[m][suite] for m in by_rank]
        assert values == sorted(values, reverse=True)


def test_report_of_the_published_runs_prints_and_writes_the_table(tmp_path, monkeypatch):
    # the repository's published speech suites share their five models
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(Path(__file__).resolve().parents[1] / "published"))
    args = ["report", "--store", str(tmp_path / "none.sqlite"), "--suite", "speech-quick", "--suite", "speech-noisy",
            "-o", str(tmp_path / "rep")]
    result = CliRunner().invoke(main, args, env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "Across suites" in result.output
    doc = json.loads((tmp_path / "rep" / "leaderboard.json").read_text())
    cross = doc["across_suites"]
    assert cross["suites"] == ["speech-quick (published)", "speech-noisy (published)"]
    for suite in cross["suites"]:
        means = {r["model"]: r["si_sdri_mean"] for r in doc["suites"][suite]["rows"] if r["kind"] == "model"}
        assert {m: v[suite]["si_sdri_mean"] for m, v in cross["models"].items()} == means
        assert f"{means['mask-inference']:.2f} (" in result.output
    assert "speech-quick (published) vs speech-noisy (published) (test): Kendall's tau" in result.output
