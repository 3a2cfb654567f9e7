"""Runs in worker processes equal runs in this process; every trained run keeps its weights, and
``separena runs`` / ``--run REF`` find and use them (through the command line, as a user would)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from separena.bench import ResultStore
from separena.bench.leaderboard import leaderboard, records
from separena.cli import main

PLUGIN = Path(__file__).parent / "plugins" / "bench_tiny.py"


def _write_registry(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_tiny_fixture", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_registry(folder)


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def benched(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny-tones suite run with 2 worker processes, and again in this process."""
    folder = tmp_path_factory.mktemp("kept")
    registry = _write_registry(folder)
    for jobs in (2, 1):
        result = run("--plugin", PLUGIN, "--registry", registry, "bench", "--suite", "tiny-tones",
                     "--store", folder / f"jobs{jobs}.sqlite", "--jobs", jobs)
        assert result.exit_code == 0, result.output
        assert "0 failed" in result.output, result.output
    return folder, registry


def _quality(path: Path) -> list[dict]:
    with ResultStore(path) as store:
        rows = leaderboard(store.runs(suite="tiny-tones"))
    keep = ("model", "rank_best", "rank_worst", "si_sdri_mean", "si_sdri_low", "sdri_mean", "train_steps",
            "train_macs")
    return [{k: r[k] for k in keep} for r in records(rows)]


def test_worker_processes_give_the_same_numbers_as_this_process(benched) -> None:
    folder, _ = benched
    assert _quality(folder / "jobs2.sqlite") == _quality(folder / "jobs1.sqlite")


def test_runs_lists_each_run_with_its_ref_and_weights(benched) -> None:
    folder, registry = benched
    result = run("--plugin", PLUGIN, "--registry", registry, "runs", "tiny-net*", "--store", folder / "jobs2.sqlite")
    assert result.exit_code == 0, result.output
    for ref in ("tiny-net@tiny-tones:0", "tiny-net@tiny-tones:1", "tiny-net-wide@tiny-tones:1"):
        assert ref in result.output
    assert "oracle" not in result.output and result.output.count("yes") == 4


def test_separate_and_evaluate_with_a_stored_run(benched, tmp_path) -> None:
    folder, registry = benched
    store = folder / "jobs2.sqlite"
    wav = tmp_path / "mix.wav"
    sf.write(wav, 0.1 * np.sin(np.linspace(0, 2000, 4000)).astype("float32"), 8000, subtype="FLOAT")
    common = ("--plugin", PLUGIN, "--registry", registry)
    result = run(*common, "separate", "tiny-net", "--run", "tiny-net@tiny-tones:1", "--store", store, wav,
                 "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mix_s1.wav", "mix_s2.wav"]
    with ResultStore(store) as s:
        run_hash = s.resolve("tiny-net-wide@tiny-tones:0").run_hash
    result = run(*common, "evaluate", "tiny-net-wide", "--run", run_hash[:10], "--store", store,
                 "--suite", "tiny-tones")
    assert result.exit_code == 0 and "SI-SDRi" in result.output, result.output


@pytest.mark.parametrize("ref, message", [
    ("tiny-net@tiny-tones", "error: --run tiny-net@tiny-tones: 'tiny-net' has runs of seeds 0, 1 in suite "
                            "'tiny-tones'; expected tiny-net@tiny-tones:SEED"),
    ("tiny-net@tiny-tones:7", "error: --run tiny-net@tiny-tones:7: no seed 7 of 'tiny-net' in suite "
                              "'tiny-tones'; expected one of 0, 1"),
    ("zz", "error: --run zz: expected a run-hash prefix (4 or more hex digits) or MODEL@SUITE[:SEED], got 'zz'"),
])
def test_a_bad_run_ref_is_one_line(benched, ref, message) -> None:
    folder, registry = benched
    result = run("--plugin", PLUGIN, "--registry", registry, "separate", "tiny-net", "--run", ref, "--store",
                 folder / "jobs2.sqlite", "missing.wav")
    assert result.exit_code == 2 and result.output.strip() == message


def test_modified_weights_are_refused(benched, tmp_path) -> None:
    folder, registry = benched
    store = folder / "jobs1.sqlite"
    with ResultStore(store) as s:
        run_ = s.resolve("tiny-net@tiny-tones:0")
        assert json.dumps(run_.payload["weights"])  # recorded with the run
        path = s.artifacts_dir / run_.payload["weights"]["path"]
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        result = run("--plugin", PLUGIN, "--registry", registry, "evaluate", "tiny-net", "--run",
                     "tiny-net@tiny-tones:0", "--store", store, "--suite", "tiny-tones")
        assert result.exit_code == 2, result.output
        assert "not the file its run recorded; expected sha256" in result.output
    finally:
        path.write_bytes(original)


def test_budget_options_replace_the_suites_budget(tmp_path) -> None:
    """`bench --steps/--batch-size/--learning-rate` set what YAML's `budget:` sets; the runs are
    stored under their own hashes, beside the suite's own."""
    registry = _write_registry(tmp_path)
    store = tmp_path / "budget.sqlite"
    result = run("--plugin", PLUGIN, "--registry", registry, "bench", "--suite", "tiny-tones", "--models", "tiny-net",
                 "--seeds", 0, "--steps", 3, "--batch-size", 3, "--learning-rate", 0.02, "--store", store, "--jobs", 1)
    assert result.exit_code == 0, result.output
    with ResultStore(store) as s:
        (trained,) = [r for r in s.runs(suite="tiny-tones") if r.model == "tiny-net"]
    budget = trained.payload["config"]["budget"]
    assert (budget["steps"], budget["batch_size"], budget["learning_rate"]) == (3, 3, 0.02)
    assert trained.payload["train"]["steps"] == 3


def test_a_checkpoint_of_another_preset_is_used_with_a_note(tmp_path) -> None:
    registry = _write_registry(tmp_path)
    common = ("--plugin", PLUGIN, "--registry", registry)
    checkpoint = tmp_path / "wide.pt"
    trained = run(*common, "train", "tiny-net-wide", "--suite", "tiny-tones", "--steps", 2, "-o", checkpoint,
                  "--eval-mixtures", 1)
    assert trained.exit_code == 0, trained.output
    wav = tmp_path / "mix.wav"
    sf.write(wav, 0.1 * np.sin(np.linspace(0, 2000, 4000)).astype("float32"), 8000, subtype="FLOAT")
    result = run(*common, "separate", "tiny-net", "--checkpoint", checkpoint, wav, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "holds model 'tiny-net-wide' with channels 12" in note and "not 'tiny-net' as registered" in note, note


def _compare_rows(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("│ test")]


def test_compare_uses_the_scores_two_runs_stored_and_rescore_gives_the_same(benched) -> None:
    """Two stored runs are compared on the scores they stored, without reading their weights
    (spoiled weights do not stop it); --rescore scores the weights again, to the same table."""
    folder, registry = benched
    store = folder / "jobs1.sqlite"
    common = ("--plugin", PLUGIN, "--registry", registry, "compare", "tiny-net@tiny-tones:0",
              "tiny-net-wide@tiny-tones:0", "--suite", "tiny-tones", "--store", store)
    rescored = run(*common, "--rescore")
    assert rescored.exit_code == 0, rescored.output
    with ResultStore(store) as s:
        path = s.artifacts_dir / s.resolve("tiny-net@tiny-tones:0").payload["weights"]["path"]
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        stored = run(*common)
        assert stored.exit_code == 0, stored.output
        assert "not the file its run recorded" in run(*common, "--rescore").output
    finally:
        path.write_bytes(original)
    assert _compare_rows(stored.output) == _compare_rows(rescored.output) and _compare_rows(stored.output)
    notes = " ".join(stored.stderr.split())
    assert notes.count("the scores stored by run") == 2 and "tiny-net@tiny-tones:0" in notes
    assert "the scores stored" not in rescored.stderr


def test_compare_scores_a_seeded_subset_from_stored_scores_as_from_weights(benched) -> None:
    folder, registry = benched
    common = ("--plugin", PLUGIN, "--registry", registry, "compare", "tiny-net@tiny-tones:1",
              "tiny-net-wide@tiny-tones:1", "--suite", "tiny-tones", "--store", folder / "jobs2.sqlite",
              "--eval-mixtures", 3)
    stored, rescored = run(*common), run(*common, "--rescore")
    assert stored.exit_code == 0 and rescored.exit_code == 0, stored.output + rescored.output
    rows = _compare_rows(stored.output)
    assert rows == _compare_rows(rescored.output) and "│ 3 " in rows[0].replace("  ", " ")


def test_compare_scores_the_weights_of_a_run_on_other_data(benched, tmp_path) -> None:
    """A run on other data brings no scores for this suite's: its weights are scored, with a note."""
    folder, registry = benched
    other = tmp_path / "other.yaml"
    text = Path(registry).read_text().replace("n_test: 4, test_seconds: 0.5", "n_test: 5, test_seconds: 0.5", 1)
    assert text != Path(registry).read_text()
    other.write_text(text)
    result = run("--plugin", PLUGIN, "--registry", other, "compare", "tiny-net@tiny-tones:0", "oracle-irm",
                 "--suite", "tiny-tones", "--store", folder / "jobs1.sqlite")
    assert result.exit_code == 0, result.output
    note = " ".join(result.stderr.split())
    assert "stored no si-sdri scores of test of tones-2mix@s0-8000-v2-t5-0.5s: scoring its weights" in note, note
    assert "│ 5 " in _compare_rows(result.output)[0].replace("  ", " ")


def test_compare_pools_the_seeds_of_model_at_suite_as_the_leaderboard_pairs_them(benched) -> None:
    """MODEL@SUITE takes every stored seed: each mixture's scores averaged over the seeds for
    the paired difference, seeds and mixtures resampled for each side's interval."""
    import re

    from separena.bench.stats import bootstrap_interval

    folder, registry = benched
    store = folder / "jobs2.sqlite"
    common = ("--plugin", PLUGIN, "--registry", registry, "compare", "tiny-net@tiny-tones", "tiny-net-wide@tiny-tones",
              "--suite", "tiny-tones", "--store", store)
    stored, rescored = run(*common), run(*common, "--rescore")
    assert stored.exit_code == 0 and rescored.exit_code == 0, stored.output + rescored.output
    assert _compare_rows(stored.output) == _compare_rows(rescored.output)
    notes = " ".join(stored.stderr.split())
    assert "A tiny-net@tiny-tones: seeds 0, 1, each mixture's scores averaged over them" in notes, notes
    assert "the scores stored by runs tiny-net@tiny-tones:0" in notes
    with ResultStore(store) as s:
        scores = {model: np.array([np.mean(s.resolve(f"{model}@tiny-tones:{seed}").payload["sets"]["test"]["si_sdri"],
                                           axis=1) for seed in (0, 1)])
                  for model in ("tiny-net", "tiny-net-wide")}
    a, b, diff = (bootstrap_interval(x) for x in (scores["tiny-net"], scores["tiny-net-wide"],
                                                    scores["tiny-net-wide"].mean(0) - scores["tiny-net"].mean(0)))
    printed = [float(x) for x in re.findall(r"-?\d+\.\d+", _compare_rows(stored.output)[0])[:9]]
    expected = [round(v, 2) for i in (a, b, diff) for v in (i.mean, i.low, i.high)]
    assert printed == expected


def test_compare_writes_its_table_as_json(benched, tmp_path) -> None:
    folder, registry = benched
    out = tmp_path / "verdict.json"
    common = ("--plugin", PLUGIN, "--registry", registry, "compare", "oracle-irm", "tiny-net@tiny-tones",
              "--store", folder / "jobs2.sqlite")
    result = run(*common, "--json", out)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert (doc["a"], doc["b"], doc["suite"], doc["metric"]) == ("oracle-irm", "tiny-net@tiny-tones", "tiny-tones",
                                                                 "si-sdri")
    test = doc["sets"]["test"]
    row = _compare_rows(result.output)[0]
    assert f"{test['b_minus_a']['mean']:.2f} [{test['b_minus_a']['low']:.2f}" in row and test["verdict"] in row
    assert test["mixtures"] == 4 and 0 <= test["p_value"] <= test["p_holm"] <= 1
    refused = run(*common, "--json", tmp_path)
    assert refused.exit_code == 2 and "Invalid value for '--json'" in refused.output and "is a directory" in refused.output


def test_compare_scores_on_the_suite_of_a_run_when_none_is_named(benched) -> None:
    folder, registry = benched
    common = ("--plugin", PLUGIN, "--registry", registry, "compare", "oracle-irm", "tiny-net@tiny-tones:0",
              "--store", folder / "jobs1.sqlite")
    default, named = run(*common), run(*common, "--suite", "tiny-tones")
    assert default.exit_code == 0 and named.exit_code == 0, default.output + named.output
    assert "--suite tiny-tones, the suite of B's run" in " ".join(default.stderr.split())
    assert _compare_rows(default.output) == _compare_rows(named.output)
