"""Published results and weights: written by `separena publish`, read by `separate` and `report`,
refused when they are not what was published, and reproduced on the CPU."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from click.testing import CliRunner

from separena import default_registry
from separena.bench import ResultStore, run_suite
from separena.bench.published import (
    CHECK_MIXTURES, DEFAULT_DATASETS, TOLERANCE_DB, PublishedStore, load_published, published_run, published_size,
    reproduce_check,
)
from separena.checkpoints import file_sha256
from separena.cli import main
from separena.errors import CheckpointError, SeparenaError

REPOSITORY_PUBLISHED = Path(__file__).resolve().parents[1] / "published"


def cli(*args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The smoke suite benchmarked into a store, then published: ``(store, published folder)``."""
    root = tmp_path_factory.mktemp("published")
    store_path, folder = root / "bench.sqlite", root / "published"
    with ResultStore(store_path) as store:
        run_suite(default_registry(), "smoke", store=store, progress=False)
    result = cli("publish", "--suite", "smoke", "--store", str(store_path), "-o", str(folder))
    assert result.exit_code == 0, result.output
    assert "mask-inference-small@smoke:0" in result.output and "float16" in result.output
    return store_path, folder


@pytest.fixture
def copy_of(smoke: tuple[Path, Path], tmp_path: Path):
    """A copy of the smoke suite's published folder to spoil."""
    folder = tmp_path / "published"
    shutil.copytree(smoke[1], folder)
    return folder


def _edit_index(folder: Path, edit) -> None:
    index = folder / "runs.jsonl"
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    for line in lines:
        if line["config"]["preset"] == "mask-inference-small":
            edit(line)
    index.write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def test_publish_keeps_float16_weights_scores_and_provenance(smoke):
    store_path, folder = smoke
    published = PublishedStore(folder)
    assert published.suites() == ["smoke"]
    with ResultStore(store_path) as store:
        own = {r.model: r for r in store.runs(suite="smoke")}
    assert {r.model for r in published.runs()} == set(own)
    run = published.weights_for("mask-inference-small")
    assert run is not None and run.payload["weights"]["dtype"] == "float16"
    state = torch.load(folder / run.payload["weights"]["path"], weights_only=True)["state_dict"]
    assert {t.dtype for t in state.values() if t.is_floating_point()} == {torch.float16}
    assert run.payload["sets"] == own["mask-inference-small"].payload["sets"]  # the run's own scores
    provenance = run.payload["published"]
    assert provenance["commit"] and provenance["device"].startswith("cpu")
    assert provenance["train_seconds"] == own["mask-inference-small"].payload["train"]["seconds"]
    assert abs(provenance["float16_delta_db"]["test"]) <= TOLERANCE_DB
    assert provenance["check"]["mixtures"] == min(CHECK_MIXTURES, run.payload["sets"]["test"]["n"])
    assert "examples" not in run.payload and run.payload["config"]["artifacts_dir"] == ""


def test_published_scores_reproduce_from_the_published_weights(smoke):
    published = PublishedStore(smoke[1])
    for run in published.runs():
        expected, got = reproduce_check(published, run, default_registry())
        assert abs(got - expected) <= TOLERANCE_DB, (run.model, expected, got)


def test_publishing_again_replaces_the_same_runs_only(smoke, copy_of):
    store_path, _ = smoke
    before = PublishedStore(copy_of).runs()
    _edit_index(copy_of, lambda line: line["config"].update(suite="other"))  # as if another suite's
    result = cli("publish", "--suite", "smoke", "--store", str(store_path), "-o", str(copy_of))
    assert result.exit_code == 0, result.output
    after = PublishedStore(copy_of)
    assert after.suites() == ["other", "smoke"] and len(after.runs()) == len(before) + 1


def test_each_suite_publishes_the_runs_it_shares_as_its_own(smoke, copy_of, tmp_path):
    # A twin of smoke: the same data and budget, so its runs are smoke's, stored once and
    # listed under smoke. Published, each suite has every line of its table.
    store_path, _ = smoke
    twin = tmp_path / "twin.yaml"
    smoke_suite = yaml.safe_load((REPOSITORY_PUBLISHED.parent / "registry.yaml").read_text())["suites"]["smoke"]
    twin.write_text(yaml.safe_dump({"suites": {"smoke-twin": smoke_suite}}))
    shared = tmp_path / "bench.sqlite"  # a copy, with the weights beside it
    shutil.copy(store_path, shared)
    shutil.copytree(store_path.with_name("bench-artifacts"), tmp_path / "bench-artifacts")
    with ResultStore(shared) as store:
        result = run_suite(default_registry(registry_files=[twin]), "smoke-twin", store=store, progress=False)
        assert result.executed == [] and {r.suite for r in store.runs(suite="smoke-twin")} == {"smoke"}
    for suite in ("smoke-twin", "smoke", "smoke-twin"):  # again: replaced, not added
        result = cli("--registry", str(twin), "publish", "--suite", suite, "--store", str(shared), "-o", str(copy_of))
        assert result.exit_code == 0, result.output
    published = PublishedStore(copy_of)
    own = {r.model for r in PublishedStore(smoke[1]).runs()}
    assert published.suites() == ["smoke", "smoke-twin"]
    assert sorted(r.model for r in published.runs() if r.suite == "smoke-twin") == sorted(own)
    assert sorted(r.model for r in published.runs() if r.suite == "smoke") == sorted(own)


def _noise_wav(tmp_path: Path) -> Path:
    wav = tmp_path / "mix.wav"
    sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32), 8000)
    return wav


def _separates_with_the_smoke_run(folder: Path, tmp_path: Path, monkeypatch) -> None:
    """``separate mask-inference-small`` without weights, published/ being ``folder``, uses the
    2-speaker smoke run's weights and says so."""
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(folder))
    result = cli("separate", "mask-inference-small", str(_noise_wav(tmp_path)), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "published weights of mask-inference-small@smoke:0" in " ".join(result.output.split())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mix_s1.wav", "mix_s2.wav"]


def test_separate_without_weights_uses_the_published_ones_and_says_which(smoke, tmp_path, monkeypatch):
    _separates_with_the_smoke_run(smoke[1], tmp_path, monkeypatch)


@pytest.mark.parametrize("source", ["published", "mask-inference-small@smoke:0"])
def test_train_fine_tunes_published_or_stored_weights_and_records_them(smoke, tmp_path, monkeypatch, source):
    from separena.bench.execute import load_run_weights
    from separena.checkpoints import weights_sha256

    monkeypatch.setenv("SEPARENA_PUBLISHED", str(smoke[1]))
    if source == "published":
        _, start, _ = load_published(PublishedStore(smoke[1]), default_registry(), "mask-inference-small")
    else:
        with ResultStore(smoke[0]) as store:
            _, start = load_run_weights(store, store.resolve(source), default_registry(), name="mask-inference-small")
    out = tmp_path / "tuned.pt"
    result = cli("train", "mask-inference-small", "--suite", "smoke", "--init", source, "--store", str(smoke[0]),
                 "--steps", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"trained mask-inference-small from --init {source}: 2 steps" in " ".join(result.output.split())
    assert torch.load(out, weights_only=True)["init_sha256"] == weights_sha256(start.state_dict())


def test_pretrained_is_the_published_model_from_python(smoke, monkeypatch):
    import separena

    monkeypatch.setenv("SEPARENA_PUBLISHED", str(smoke[1]))
    model = separena.pretrained("mask-inference-small")
    _, expected, _ = load_published(PublishedStore(smoke[1]), default_registry(), "mask-inference-small")
    assert not model.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), expected.state_dict().values()))
    estimates = separena.separate(model, torch.randn(1, 4000)).estimates
    assert estimates.shape == (1, 2, 4000) and torch.isfinite(estimates).all()
    with pytest.raises(SeparenaError, match=r"'mask-inference-gru' has no published weights .*train it"):
        separena.pretrained("mask-inference-gru")
    with pytest.raises(SeparenaError, match=r"'oracle-irm' has no published weights .*needs none: use create_model"):
        separena.pretrained("oracle-irm")
    with pytest.raises(SeparenaError, match="mask-inference-xl"):
        separena.pretrained("mask-inference-xl")


def test_a_model_without_published_weights_still_asks_for_them(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(smoke[1]))
    result = cli("separate", "mask-inference-gru", str(tmp_path / "x.wav"))
    assert result.exit_code == 2
    assert "no published weights; expected --checkpoint PATH" in result.output


def test_weights_that_are_not_the_published_file_are_refused(copy_of):
    run = PublishedStore(copy_of).weights_for("mask-inference-small")
    path = copy_of / run.payload["weights"]["path"]
    payload = torch.load(path, weights_only=True)
    torch.save(payload, path)  # same content, re-written: not the bytes that were published
    if file_sha256(path) == run.payload["weights"]["sha256"]:
        path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="not the file its run recorded"):
        load_published(PublishedStore(copy_of), default_registry(), "mask-inference-small")


def test_weights_of_another_configuration_are_refused(copy_of):
    _edit_index(copy_of, lambda line: line["config"]["params"].update(hidden_size=7))
    with pytest.raises(SeparenaError, match=r"were trained with hidden_size 7 \(the preset now has 64\)"):
        load_published(PublishedStore(copy_of), default_registry(), "mask-inference-small")


def test_weights_of_another_architecture_are_refused(copy_of):
    _edit_index(copy_of, lambda line: line["config"].update(architecture="conv-tasnet"))
    with pytest.raises(SeparenaError, match="of architecture 'conv-tasnet'; expected 'mask-inference'"):
        load_published(PublishedStore(copy_of), default_registry(), "mask-inference-small")


@pytest.mark.parametrize("line, expected", [
    ("not json", "line 2: not JSON"),
    ("[1, 2]", "line 2: expected a JSON object"),
    ('{"run_hash": "x"}', "line 2: key 'config' missing"),
])
def test_a_broken_index_is_one_line_naming_file_and_line(copy_of, line, expected):
    index = copy_of / "runs.jsonl"
    first = index.read_text().splitlines()[0]
    index.write_text(first + "\n" + line + "\n")
    with pytest.raises(SeparenaError, match=expected) as info:
        PublishedStore(copy_of)
    assert str(index) in str(info.value) and "\n" not in str(info.value)


def test_report_puts_the_published_leaderboard_beside_the_own(smoke, tmp_path, monkeypatch):
    store_path, folder = smoke
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(folder))
    result = cli("report", "--store", str(store_path), "-o", str(tmp_path / "both"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "both" / "leaderboard.md").read_text()
    assert "## smoke\n" in text and "## smoke (published)\n" in text
    alone = cli("report", "--store", str(tmp_path / "none.sqlite"), "-o", str(tmp_path / "alone"))
    assert alone.exit_code == 0, alone.output
    assert "reporting the published runs only" in alone.output
    text = (tmp_path / "alone" / "leaderboard.md").read_text()
    assert "## smoke (published)" in text and "## smoke\n" not in text
    assert (tmp_path / "alone" / "plots" / "smoke-published-losses.png").is_file()
    without = cli("report", "--store", str(tmp_path / "none.sqlite"), "-o", str(tmp_path / "x"), "--no-published")
    assert without.exit_code == 2 and "none.sqlite: file not found" in without.output


# -- the repository's own published folder -------------------------------------------------

def _repository_runs() -> list:
    return PublishedStore(REPOSITORY_PUBLISHED).runs()


def test_the_repository_publishes_weights_small_and_intact():
    runs = _repository_runs()
    assert any(r.payload.get("weights") for r in runs), "published/ holds no weights"
    assert published_size(REPOSITORY_PUBLISHED) < 60e6
    for run in runs:
        weights = run.payload.get("weights")
        if weights:
            assert file_sha256(REPOSITORY_PUBLISHED / weights["path"]) == weights["sha256"], run.model
            assert weights["dtype"] == "float16" or max(map(abs, run.payload["published"]["float16_delta_db"]
                                                            .values())) > TOLERANCE_DB
    listed = {(REPOSITORY_PUBLISHED / r.payload["weights"]["path"]).resolve() for r in runs if r.payload.get("weights")}
    assert set(p.resolve() for p in (REPOSITORY_PUBLISHED / "weights").iterdir()) == listed  # no stray files


def test_every_published_weights_file_loads_into_todays_code_of_its_preset():
    """Strict loading, in seconds: a block whose parameters were renamed or reshaped fails here
    (the slow test below reproduces the scores themselves)."""
    from separena.bench.execute import load_run_weights

    published, registry = PublishedStore(REPOSITORY_PUBLISHED), default_registry()
    loaded = [load_run_weights(published, run, registry, name=run.model)[1]
              for run in published.runs() if run.payload.get("weights")]
    assert len(loaded) >= 10 and all(not model.training for model in loaded)


def test_a_fresh_clone_separates_with_mask_inference(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(REPOSITORY_PUBLISHED))
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 8000
    mix = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    sf.write(tmp_path / "mix.wav", mix.astype(np.float32), 8000)
    result = cli("separate", "mask-inference", str(tmp_path / "mix.wav"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "using the published weights of mask-inference@" in " ".join(result.output.split())
    estimates = [sf.read(tmp_path / "out" / f"mix_s{k}.wav")[0] for k in (1, 2)]
    assert all(np.isfinite(e).all() and e.shape == mix.shape for e in estimates)


def test_a_fresh_clone_names_the_stems_of_a_music_model(tmp_path, monkeypatch):
    """Weights published before checkpoints kept source names take those of their dataset."""
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(REPOSITORY_PUBLISHED))
    song = 0.1 * np.random.default_rng(0).standard_normal((16000, 2))
    sf.write(tmp_path / "song.wav", song.astype(np.float32), 16000)
    result = cli("separate", "open-unmix-small", str(tmp_path / "song.wav"), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    stems = ["bass", "drums", "other", "vocals"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"song_{s}.wav" for s in stems]
    assert sf.read(tmp_path / "out" / "song_vocals.wav")[0].shape == song.shape  # stereo kept


@pytest.mark.slow
def test_the_repository_published_scores_reproduce_on_this_cpu():
    """Builds each published run's data (the default speech data: about 2 minutes cold)."""
    published, registry = PublishedStore(REPOSITORY_PUBLISHED), default_registry()
    built: dict[str, object] = {}
    for run in published.runs():
        cfg = run.payload["config"]
        key = json.dumps([cfg["dataset"], cfg["dataset_params"], cfg["sample_rate"]], sort_keys=True)
        if key not in built:
            built[key] = registry.dataset(cfg["dataset"]).builder()(sample_rate=cfg["sample_rate"],
                                                                   **cfg["dataset_params"])
        assert registry.dataset(cfg["dataset"]).source_names == (built[key].source_names or ())  # as declared
        expected, got = reproduce_check(published, run, registry, data=built[key])
        assert abs(got - expected) <= TOLERANCE_DB, (f"{run.model}@{run.suite}", expected, got)


def test_the_gpu_leaderboard_script_benchmarks_and_publishes(tmp_path):
    """The one script a GPU session runs, here on the CPU with the smoke suite."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_leaderboard.py"
    done = subprocess.run([sys.executable, str(script), "--suite", "smoke", "--device", "cpu",
                           "--store", str(tmp_path / "gpu.sqlite"), "--published", str(tmp_path / "published")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "smoke on cpu (1 run(s) at once): bench" in done.stdout
    run = PublishedStore(tmp_path / "published").weights_for("mask-inference-small")
    assert run is not None and (tmp_path / "published" / run.payload["weights"]["path"]).is_file()


def test_list_and_info_say_which_models_have_published_weights(smoke, monkeypatch):
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(smoke[1]))
    listed = cli("list", "mask-inference*")
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): line for line in listed.output.splitlines() if line.count("│") > 3}
    assert "published" in rows["mask-inference-small"] and "published" not in rows["mask-inference-gru"]
    info = cli("info", "mask-inference-small")
    assert "published weights: mask-inference-small@smoke:0: 3 steps on cpu" in " ".join(info.output.split())
    assert "lookahead: offline (measured on the published run" in " ".join(info.output.split())  # a BLSTM
    assert "published weights: none" in cli("info", "mask-inference-gru").output


def _edited_store(smoke: tuple[Path, Path], path: Path, edit) -> Path:
    """A copy of the smoke suite's store (and its artifacts) at ``path``, ``edit(payload)``
    applied to every run, as if the runs had been stored elsewhere or earlier."""
    import sqlite3

    shutil.copyfile(smoke[0], path)
    shutil.copytree(smoke[0].with_name("bench-artifacts"), path.with_name(f"{path.stem}-artifacts"))
    with sqlite3.connect(path) as db:
        for run_hash, text in db.execute("SELECT run_hash, payload FROM runs").fetchall():
            payload = json.loads(text)
            edit(payload)
            db.execute("UPDATE runs SET payload = ? WHERE run_hash = ?", (json.dumps(payload), run_hash))
    return path


def test_runs_trained_on_data_built_elsewhere_are_rescored_here(smoke, tmp_path):
    """A run trained where the data gets another name (a GPU machine's library versions) is
    refused, or with --rescore scored here on this machine's data by the benchmark's evaluation."""
    store_path = _edited_store(smoke, tmp_path / "elsewhere.sqlite",
                               lambda payload: payload["config"].update(data_name="espeak-2mix@0ther0ne"))
    refused = cli("publish", "--suite", "smoke", "--store", str(store_path), "-o", str(tmp_path / "p1"))
    assert refused.exit_code == 2 and "espeak-2mix@0ther0ne" in refused.output and "--rescore" in refused.output
    done = cli("publish", "--suite", "smoke", "--store", str(store_path), "-o", str(tmp_path / "p2"), "--rescore")
    assert done.exit_code == 0, done.output
    published, original = PublishedStore(tmp_path / "p2"), PublishedStore(smoke[1])
    for run in published.runs():
        before = original.runs(suite="smoke")[[r.model for r in original.runs()].index(run.model)]
        assert run.payload["config"]["data_name"] == "espeak-2mix@0ther0ne"  # what it trained on
        assert run.payload["published"]["scored_on"] == before.payload["config"]["data_name"]
        for name, scores in run.payload["sets"].items():  # the same data here: the same scores
            assert scores["si_sdri_mean"] == pytest.approx(before.payload["sets"][name]["si_sdri_mean"], abs=1e-3)
        expected, got = reproduce_check(published, run, default_registry())
        assert abs(got - expected) <= TOLERANCE_DB


def test_runs_from_before_lookahead_was_measured_get_it_when_published(smoke, tmp_path):
    store_path = _edited_store(smoke, tmp_path / "older.sqlite",
                               lambda payload: payload["cost"].pop("lookahead_seconds", None))
    done = cli("publish", "--suite", "smoke", "--store", str(store_path), "-o", str(tmp_path / "p"))
    assert done.exit_code == 0, done.output
    for run in PublishedStore(tmp_path / "p").runs():
        measured = {r.model: r.payload["cost"] for r in PublishedStore(smoke[1]).runs()}[run.model]
        assert run.payload["cost"].get("lookahead_seconds", "absent") == measured.get("lookahead_seconds", "absent")
    offline = PublishedStore(tmp_path / "p").weights_for("mask-inference-small")
    assert offline.payload["cost"]["lookahead_seconds"] is None  # a BLSTM: offline


def test_compare_uses_the_published_scores_of_a_model_name(smoke, monkeypatch):
    """A model name stands for its published run: its published scores, or with --rescore its
    float16 weights scored here (within the publishing tolerance)."""
    import re

    monkeypatch.setenv("SEPARENA_PUBLISHED", str(smoke[1]))
    common = ("compare", "mixture", "mask-inference-small", "--suite", "smoke")
    stored, rescored = cli(*common), cli(*common, "--rescore")
    assert stored.exit_code == 0 and rescored.exit_code == 0, stored.output + rescored.output
    assert "the scores stored by published run mask-inference-small@smoke:0" in " ".join(stored.output.split())
    run = PublishedStore(smoke[1]).weights_for("mask-inference-small")
    scores = [float(re.findall(r"(-?\d+\.\d+) \[", line)[1])  # A, then B
              for out in (stored.output, rescored.output) for line in out.splitlines() if line.startswith("│ test")]
    assert scores[0] == round(run.payload["sets"]["test"]["si_sdri_mean"], 2)
    assert abs(scores[1] - scores[0]) <= TOLERANCE_DB + 0.01  # (printed to the hundredth)


def test_the_weights_of_the_preset_as_configured_stand_for_its_name(copy_of, tmp_path, monkeypatch):
    # A 3-speaker run of the same model, trained with ten times the compute, published beside it:
    # the name keeps meaning the 2-speaker weights it is configured for.
    index = copy_of / "runs.jsonl"
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    three = copy.deepcopy(next(line for line in lines if line["config"]["preset"] == "mask-inference-small"))
    three["config"]["params"]["n_src"] = 3
    three["config"]["suite"], three["run_hash"] = "smoke-3mix", "f" * 64
    three["train"]["macs"] = 10 * (three["train"].get("macs") or 1.0)
    index.write_text("\n".join(json.dumps(line) for line in [*lines, three]) + "\n")
    published = PublishedStore(copy_of)
    assert published.weights_for("mask-inference-small").suite == "smoke-3mix"  # the most compute
    registry = default_registry()
    config, run = published_run(published, registry, "mask-inference-small")
    assert run.suite == "smoke" and config.params["n_src"] == 2
    _separates_with_the_smoke_run(copy_of, tmp_path, monkeypatch)


def test_weights_trained_on_a_variant_of_the_default_data_do_not_stand_for_the_name(copy_of):
    # The same configuration trained on noisy mixtures with more compute: the name keeps the
    # weights of the default data (and a noisy run alone would still be found).
    index = copy_of / "runs.jsonl"
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    plain = next(line for line in lines if line["config"]["preset"] == "mask-inference-small")
    assert plain["config"]["dataset"] in DEFAULT_DATASETS
    noisy = copy.deepcopy(plain)
    noisy["config"].update(dataset="espeak-2mix-noisy", suite="smoke-noisy")
    noisy["run_hash"] = "e" * 64
    noisy["train"]["macs"] = 10 * (noisy["train"].get("macs") or 1.0)
    index.write_text("\n".join(json.dumps(line) for line in [*lines, noisy]) + "\n")
    assert PublishedStore(copy_of).weights_for("mask-inference-small").suite == plain["config"]["suite"]
    index.write_text("\n".join(json.dumps(line) for line in [*[x for x in lines if x is not plain], noisy]) + "\n")
    assert PublishedStore(copy_of).weights_for("mask-inference-small").suite == "smoke-noisy"


def test_a_run_ref_not_in_the_store_is_looked_up_in_the_published_runs(smoke, tmp_path, monkeypatch):
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(smoke[1]))
    wav = _noise_wav(tmp_path)
    no_store = tmp_path / "none.sqlite"
    result = cli("separate", "mask-inference-small", str(wav), "--run", "mask-inference-small@smoke",
                 "--store", str(no_store), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "--run mask-inference-small@smoke: not in" in said
    assert "published weights of mask-inference-small@smoke:0" in said
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mix_s1.wav", "mix_s2.wav"]
    published = PublishedStore(smoke[1])
    run = published.resolve("mask-inference-small@smoke")
    assert published.resolve(run.run_hash[:8]) == run
    # in neither: the store's own error, one line
    result = cli("separate", "mask-inference-small", str(wav), "--run", "mask-inference-small@speech-3mix",
                 "--store", str(no_store), "-o", str(tmp_path / "out2"))
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert f"--store {no_store}: file not found; expected a store written by `separena bench`" in result.output
    result = cli("separate", "mask-inference-small", str(wav), "--run", "mask-inference-small@smoke",
                 "--store", str(smoke[0]), "-o", str(tmp_path / "out3"))  # in the store: no note
    assert result.exit_code == 0 and "published weights" not in result.output, result.output
    result = cli("runs", "--published", "mask*")  # the REFs it finds, listed
    assert result.exit_code == 0 and "mask-inference-small@smoke:0" in result.output, result.output
    assert run.run_hash[:12] in result.output and "oracle" not in result.output
