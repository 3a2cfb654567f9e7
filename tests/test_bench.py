"""The shared benchmark: run hashes, the store, resume after a kill, failure isolation, reports.

Everything runs on a tiny in-memory dataset and tiny models registered through a fixture
plugin on a fresh ``Registry(entry_points=False)``, in seconds on one CPU thread.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from separena import ArchitectureSpec, DatasetSpec, Registry, Separator, SeparatorOutput, hookimpl
from separena.bench import ResultStore, RunConfig, leaderboard, run_suite, write_report
from separena.bench.leaderboard import records
from separena.data import SeparationData, TensorMixtureSet

HERE = Path(__file__).parent
SUITE_YAML = """
presets:
  tiny-net-slow:
    architecture: tiny-net
    params: {sleep_ms: 40}
  ghost-net:
    architecture: not-installed
suites:
  tiny:
    dataset: tiny-2mix
    dataset_params: {n_test: 4}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {steps: 6, batch_size: 2, learning_rate: 0.01}
    seeds: [0, 1]
    models: [tiny-net, exploding, ghost-net]
  tiny-slow:
    dataset: tiny-2mix
    dataset_params: {n_test: 4}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {steps: 6, batch_size: 2}
    seeds: [0, 1, 2]
    models: [tiny-net-slow]
  tiny-stems:
    dataset: tiny-2stem
    dataset_params: {n_test: 4}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {steps: 6, batch_size: 2, learning_rate: 0.01}
    seeds: [0, 1]
    models: [tiny-net]
    metrics: [si-sdri, usdr, csdr, sir, sar]
"""


# -- the fixture plugin ------------------------------------------------------------------
class TinyNet(Separator):
    """Learned 1-D filterbank, one conv layer of masks, transposed-conv decoder."""

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, channels: int = 16, sleep_ms: int = 0,
                 explode: bool = False) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.encoder = nn.Conv1d(1, channels, 16, stride=8, bias=False)
        self.masker = nn.Conv1d(channels, channels * n_src, 3, padding=1)
        self.decoder = nn.ConvTranspose1d(channels, 1, 16, stride=8, bias=False)
        self.sleep_ms, self.explode = sleep_ms, explode

    def forward(self, mix: Tensor) -> SeparatorOutput:
        if self.explode:
            raise RuntimeError("boom in forward")
        if self.sleep_ms:
            time.sleep(self.sleep_ms / 1000)
        batch, length = mix.shape
        rep = torch.relu(self.encoder(mix.unsqueeze(1)))  # [B, C, frames]
        masks = torch.sigmoid(self.masker(rep)).view(batch, self.n_src, rep.shape[1], -1)  # [B, S, C, frames]
        wav = self.decoder((masks * rep.unsqueeze(1)).flatten(0, 1))  # [B*S, 1, time']
        wav = nn.functional.pad(wav, (0, max(0, length - wav.shape[-1])))[..., :length]
        return SeparatorOutput(estimates=wav.view(batch, self.n_src, length))


def tiny_net(n_src: int = 2, sample_rate: int = 8000, channels: int = 16, sleep_ms: int = 0) -> TinyNet:
    """Tiny trainable model.

    Args:
        n_src: sources.
        sample_rate: Hz.
        channels: filterbank size.
        sleep_ms: sleep per forward (makes runs slow enough to kill mid-suite).
    """
    return TinyNet(n_src, sample_rate, channels, sleep_ms)


def exploding(n_src: int = 2, sample_rate: int = 8000) -> TinyNet:
    """A model whose forward always raises."""
    return TinyNet(n_src, sample_rate, explode=True)


class PerfectOracle(Separator):
    needs_references = True

    def forward(self, mix: Tensor, references: Tensor) -> SeparatorOutput:
        return SeparatorOutput(estimates=references + 1e-3 * mix.unsqueeze(1))


class Mixture(Separator):
    def forward(self, mix: Tensor) -> SeparatorOutput:
        return SeparatorOutput(estimates=mix.unsqueeze(1).repeat(1, self.n_src, 1) / self.n_src)


def tiny_oracle(n_src: int = 2, sample_rate: int = 8000) -> PerfectOracle:
    """Near-perfect oracle."""
    return PerfectOracle(n_src, sample_rate)


def mixture(n_src: int = 2, sample_rate: int = 8000) -> Mixture:
    """The unprocessed mixture."""
    return Mixture(n_src, sample_rate)


def _sources(gen: torch.Generator, batch: int, length: int) -> Tensor:
    t = torch.arange(length) / 8000
    freq = 200 + 1500 * torch.rand(batch, 2, 1, generator=gen)
    tone = torch.sin(2 * math.pi * freq * t)
    noise = torch.randn(batch, 2, length, generator=gen)
    return 0.2 * torch.stack([tone[:, 0], torch.sign(tone[:, 1]) * 0.5 + 0.3 * noise[:, 1]], 1)


class TinyStream:
    """Training batches, pure in (seed, step)."""

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        sources = _sources(torch.Generator().manual_seed(seed * 1_000_003 + step), batch_size, segment_samples)
        return sources.sum(1), sources


def tiny_2mix(sample_rate: int = 8000, n_test: int = 4, seconds: float = 0.5) -> SeparationData:
    """Tiny in-memory 2-source data with a ``test`` and an extra ``hard`` set."""
    gen = torch.Generator().manual_seed(1234)
    sources = _sources(gen, n_test + 2, int(seconds * sample_rate))
    mixes = sources.sum(1)
    test = TensorMixtureSet(list(mixes[:n_test]), list(sources[:n_test]))
    hard = TensorMixtureSet(list(mixes[n_test:] + 0.05), list(sources[n_test:]), names=["h0", "h1"])
    return SeparationData(name=f"tiny-2mix@{n_test}-{seconds}", sample_rate=sample_rate, n_src=2,
                          train=TinyStream(), valid=test, test=test, extra_tests={"hard": hard})


def tiny_2stem(sample_rate: int = 8000, n_test: int = 4, seconds: float = 0.5) -> SeparationData:
    """:func:`tiny_2mix` with roles: the tone first, the buzz second (as music has stems)."""
    data = tiny_2mix(sample_rate, n_test, seconds)
    return dataclasses.replace(data, name=data.name.replace("2mix", "2stem"), source_names=("tone", "buzz"),
                               permutation_invariant=False)


class BenchFixture:
    @hookimpl
    def separena_register_architectures(self) -> list[ArchitectureSpec]:
        return [
            ArchitectureSpec("tiny-net", tiny_net, "waveform", "tiny conv mask net", reference="test"),
            ArchitectureSpec("exploding", exploding, "waveform", "raises in forward", reference="test"),
            ArchitectureSpec("tiny-oracle", tiny_oracle, "oracle", "references", trainable=False),
            ArchitectureSpec("mixture", mixture, "baseline", "the mixture", trainable=False),
        ]

    @hookimpl
    def separena_register_datasets(self) -> list[DatasetSpec]:
        return [DatasetSpec("tiny-2mix", tiny_2mix, "tiny in-memory mixtures"),
                DatasetSpec("tiny-2stem", tiny_2stem, "tiny in-memory mixtures of a tone and a buzz",
                            source_names=("tone", "buzz"))]


def make_registry(tmp: Path) -> Registry:
    path = tmp / "bench-registry.yaml"
    path.write_text(SUITE_YAML)
    registry = Registry(entry_points=False, registry_files=[path])
    registry.register(BenchFixture(), name="bench-fixture")
    return registry


def quality(store: ResultStore, suite: str, hashes: list[str] | None = None) -> list[dict]:
    """The deterministic leaderboard columns (quality, sizes, steps) of a suite."""
    runs = store.runs(run_hashes=hashes) if hashes is not None else store.runs(suite=suite)
    keep = re.compile(r"^(model|kind|seeds|(hard_)?(si_sdri|sdri)_\w+|params|macs_per_second|train_steps|errors)$")
    return [{k: v for k, v in rec.items() if keep.match(k)}
            for rec in records(leaderboard(runs, store.failures(suite=suite)), suite)]


def _subprocess_main(tmp: str, store_path: str, suite: str) -> None:
    """Entry point of the kill-and-resume subprocess: run ``suite`` into ``store_path``."""
    import separena.bench.runner

    torch.set_num_threads(1)
    # Other work may edit core sources between the killed and the resumed process; pin the code
    # version so that the test is about resuming, not about source hashing.
    separena.bench.runner.code_version = lambda config: "pinned-for-test"
    registry = make_registry(Path(tmp))
    with ResultStore(store_path) as store:
        result = run_suite(registry, suite, store=store, progress=False)
    print(json.dumps({"executed": len(result.executed), "reused": len(result.reused)}))


# -- tests ---------------------------------------------------------------------------------
@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return make_registry(tmp_path)


def test_run_config_hash_is_plain_data_and_ignores_where_it_runs(registry: Registry) -> None:
    from separena.bench import plan_runs

    suite = registry.suite("tiny")
    configs = plan_runs(registry, suite, "tiny-2mix@x")
    assert [c.preset for c in configs][:2] == ["tiny-oracle", "mixture"]  # oracles added, first
    net = [c for c in configs if c.preset == "tiny-net"]
    assert [c.seed for c in net] == [0, 1]
    assert len({c.run_hash for c in configs}) == len(configs)
    c = net[0]
    again = RunConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.run_hash == c.run_hash
    from dataclasses import replace

    assert replace(c, device="cuda", threads=4, artifacts_dir="/x").run_hash == c.run_hash
    assert replace(c, seed=5).run_hash != c.run_hash
    assert replace(c, budget={**c.budget, "steps": 7}).run_hash != c.run_hash
    assert replace(c, code_version=c.code_version + "x").run_hash != c.run_hash
    assert "separena 0.1.0+" in c.code_version and "test_bench+" in c.code_version.split("/")[1]


def test_seeds_replace_the_suites_and_their_runs_are_reused_by_the_whole_suite(registry: Registry,
                                                                              tmp_path: Path) -> None:
    with ResultStore(tmp_path / "bench.sqlite") as store:
        one = run_suite(registry, "tiny", models=["tiny-net"], seeds=[1], store=store, progress=False)
        # what is not trained keeps the suite's first seed: another would only repeat its scores
        assert [(c.preset, c.seed) for c in one.configs] == [("tiny-oracle", 0), ("mixture", 0), ("tiny-net", 1)]
        whole = run_suite(registry, "tiny", models=["tiny-net"], store=store, progress=False)
    net = {c.seed: c.run_hash for c in whole.configs if c.preset == "tiny-net"}
    assert net[1] in whole.reused and net[0] in whole.executed
    assert {c.run_hash for c in whole.configs if c.preset != "tiny-net"} <= set(whole.reused)


def test_suite_runs_stores_and_reuses_finished_runs(registry: Registry, tmp_path: Path) -> None:
    threads, fill = torch.get_num_threads(), torch.utils.deterministic.fill_uninitialized_memory
    with ResultStore(tmp_path / "bench.sqlite") as store:
        first = run_suite(registry, "tiny", store=store, progress=False)
        # a run sets torch's threads and deterministic mode for itself only
        assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()
        assert torch.utils.deterministic.fill_uninitialized_memory == fill
        ok = {c.run_hash for c in first.configs if c.preset in ("tiny-net", "tiny-oracle", "mixture")}
        assert set(first.executed) == ok and len(ok) == 4
        # the model that raises in forward and the unresolvable preset cost only their own rows
        failed = {c.preset for c in first.configs if c.run_hash in first.failed}
        assert failed == {"exploding", "ghost-net"}
        second = run_suite(registry, "tiny", store=store, progress=False)
        assert second.executed == [] and set(second.reused) == ok
        assert {c.preset for c in second.configs if c.run_hash in second.failed} == {"exploding", "ghost-net"}
        rows = leaderboard(store.runs(suite="tiny"), store.failures(suite="tiny"))
    assert [r.model for r in rows] == ["tiny-oracle", "tiny-net", "mixture", "exploding", "ghost-net"]
    kinds = [r.kind for r in rows]
    assert kinds == ["oracle", "model", "baseline", "failed", "failed"]
    net = rows[1]
    assert net.seeds == [0, 1] and not math.isnan(net.quality["test"]["si_sdri_std"])
    assert set(net.quality) == {"test", "hard"}
    assert net.params > 0 and net.macs_per_second > 0 and net.steps_per_second > 0 and net.rtf > 0
    # its input frames reach 23 samples past an output sample at most; the mixture needs none;
    # an oracle, handed the sources, has no latency to speak of
    assert 16 / 8000 <= net.lookahead <= 23 / 8000 and rows[2].lookahead == 0 and math.isnan(rows[0].lookahead)
    assert rows[0].quality["test"]["si_sdri_mean"] > 20 > net.quality["test"]["si_sdri_mean"]
    assert abs(rows[2].quality["test"]["si_sdri_mean"]) < 1e-3  # the mixture improves nothing
    assert rows[3].errors[0].startswith("seed 0: train: RuntimeError: boom in forward")
    assert "resolve: SeparenaError" in rows[4].errors[0] and "not-installed" in rows[4].errors[0]


def test_store_never_shows_half_runs_and_keeps_the_first_result(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        assert store.add_run("h1", "s", "m", 0, {"v": 1}) is True
        assert store.add_run("h1", "s", "m", 0, {"v": 2}) is False  # ON CONFLICT DO NOTHING
        store.add_failure("h2", "s", "m", 1, "train: RuntimeError: x\nsecond line", {})
        assert [f.error for f in store.failures()] == ["train: RuntimeError: x"]
        store.add_run("h2", "s", "m", 1, {"v": 3})
        assert store.failures() == [] and store.finished(["h1", "h2", "h3"]) == {"h1", "h2"}
        assert store.runs(run_hashes=["h1"])[0].payload == {"v": 1}
        assert store.archive(["h1"]) == 1 and store.finished(["h1"]) == set()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM archived_runs").fetchone()[0] == 1


def test_kill_and_resume_gives_the_uninterrupted_table(registry: Registry, tmp_path: Path) -> None:
    store_path = tmp_path / "killed.sqlite"
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_bench; "
            f"test_bench._subprocess_main({str(tmp_path)!r}, {str(store_path)!r}, 'tiny-slow')")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    stored = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if store_path.exists():
                try:
                    stored = sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
                if stored >= 1:
                    break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    with ResultStore(store_path) as store:
        at_kill = len(store.runs())
    total = 5  # tiny-oracle, mixture, tiny-net-slow x 3 seeds
    assert 1 <= at_kill < total
    resumed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    counts = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert counts == {"executed": total - at_kill, "reused": at_kill}
    with ResultStore(tmp_path / "straight.sqlite") as straight:
        result = run_suite(registry, "tiny-slow", store=straight, progress=False)
        assert len(result.executed) == total
        expected = quality(straight, "tiny-slow")
    with ResultStore(store_path) as store:
        assert len(store.runs()) == total
        assert quality(store, "tiny-slow") == expected  # exactly: CPU runs are deterministic


def test_a_run_stopped_by_ctrl_c_resumes_from_its_training_state(registry: Registry, tmp_path: Path) -> None:
    """Ctrl-C stops the benchmark (the run is not recorded as failed) and leaves the run's
    training state; its next execution resumes there and scores as the uninterrupted run."""
    import dataclasses
    import signal

    from separena.bench import plan_runs
    from separena.bench.execute import execute_run
    from separena.bench.runs import DataCache
    from separena.errors import TrainingInterrupted

    cache = DataCache()
    suite = registry.suite("tiny-slow")
    data = cache.get(registry, suite.dataset, suite.dataset_params, suite.sample_rate)
    config = next(c for c in plan_runs(registry, suite, data.name) if c.preset == "tiny-net-slow")
    straight = execute_run(dataclasses.replace(config, artifacts_dir=str(tmp_path / "a")), registry, cache)

    def ctrl_c_at_step_3(step: int, total: int | None, loss: float) -> None:
        if step == 3:
            signal.raise_signal(signal.SIGINT)

    stopped = dataclasses.replace(config, artifacts_dir=str(tmp_path / "b"))
    with pytest.raises(TrainingInterrupted, match=r"at step 3 of 6; .*training state saved to .*state"):
        execute_run(stopped, registry, cache, on_step=ctrl_c_at_step_3)
    assert [p.name for p in (tmp_path / "b" / "state").iterdir()] == [f"{config.run_hash[:16]}.pt"]
    resumed = execute_run(stopped, registry, cache)
    assert resumed.ok and straight.ok
    assert (resumed.payload["train"]["resumed_from"], straight.payload["train"]["resumed_from"]) == (3, 0)
    assert resumed.payload["train"]["losses"] == straight.payload["train"]["losses"]
    assert resumed.payload["sets"]["test"]["si_sdri"] == straight.payload["sets"]["test"]["si_sdri"]
    assert not any((tmp_path / "b" / "state").iterdir())


def test_ctrl_c_between_runs_is_one_error_and_keeps_the_stored_runs(registry: Registry, tmp_path: Path) -> None:
    """A Ctrl-C outside a training (here: as the first outcome is stored) stops the benchmark with
    a TrainingInterrupted that says what is stored; the stored run stays."""
    from separena.errors import TrainingInterrupted

    def ctrl_c(outcome, index: int, total: int) -> None:
        raise KeyboardInterrupt

    with ResultStore(tmp_path / "bench.sqlite") as store:
        with pytest.raises(TrainingInterrupted, match=r"^suite 'tiny-slow': interrupted \(Ctrl-C\) with 1 of 5 runs "
                                                      r"stored; the same command goes on from there"):
            run_suite(registry, "tiny-slow", store=store, progress=False, on_outcome=ctrl_c)
        assert len(store.runs()) == 1 and not store.failures()


def test_a_lookahead_that_cannot_be_measured_costs_the_run_nothing(registry: Registry, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from separena.bench import execute

    def broken(model, n_src):
        raise RuntimeError("cannot look ahead")

    monkeypatch.setattr(execute, "lookahead_seconds", broken)
    with ResultStore(tmp_path / "bench.sqlite") as store:
        result = run_suite(registry, "tiny", models=["tiny-net"], seeds=[0], store=store, progress=False)
        runs = {r.model: r for r in store.runs(suite="tiny")}
    assert "tiny-net" not in {c.preset for c in result.configs if c.run_hash in result.failed}
    assert "lookahead_seconds" not in runs["tiny-net"].payload["cost"] and runs["tiny-net"].payload["sets"]


def test_report_writes_four_formats_and_the_html_loads(registry: Registry, tmp_path: Path) -> None:
    with ResultStore(tmp_path / "bench.sqlite") as store:
        run_suite(registry, "tiny", store=store, progress=False)
        run_suite(registry, "tiny", models=["tiny-net-slow"], store=store, progress=False)  # a second model
        # the two models again on other data: the cross-suite table
        run_suite(registry, "tiny-stems", models=["tiny-net", "tiny-net-slow"], store=store, progress=False)
        out = tmp_path / "report"
        written = write_report(store, out)
    assert sorted(p.name for p in written) == ["index.html", "leaderboard.csv", "leaderboard.json", "leaderboard.md",
                                               "scores.csv"]
    doc = json.loads((out / "leaderboard.json").read_text())
    rows = doc["suites"]["tiny"]["rows"]
    with (out / "scores.csv").open() as f:  # every stored score, one row per run, set, mixture and source
        scores = list(csv.DictReader(f))
    with ResultStore(tmp_path / "bench.sqlite") as store:
        net = store.resolve("tiny-net@tiny:1").payload["sets"]["test"]
    mine = [r for r in scores if (r["suite"], r["model"], r["seed"], r["set"]) == ("tiny", "tiny-net", "1", "test")]
    assert len(mine) == net["n"] * 2 and {r["source"] for r in mine} == {"1", "2"}
    assert [float(r["si_sdri"]) for r in mine] == [v for row in net["si_sdri"] for v in row]
    assert [r["name"] for r in mine[::2]] == net["names"] and {"si_sdr", "sdri"} <= set(scores[0])
    for row in rows:  # the table's means are the means of these scores
        if row["si_sdri_mean"] is not None:
            values = [float(r["si_sdri"]) for r in scores
                      if (r["suite"], r["model"], r["set"]) == ("tiny", row["model"], "test")]
            assert sum(values) / len(values) == pytest.approx(row["si_sdri_mean"], rel=1e-6), row["model"]
    assert [r["model"] for r in rows][0] == "tiny-oracle" and rows[3]["model"] == "mixture"
    with (out / "leaderboard.csv").open() as f:
        assert [r["model"] for r in csv.DictReader(f) if r["suite"] == "tiny"] == [r["model"] for r in rows]
    md = (out / "leaderboard.md").read_text()
    assert "| tiny-net |" in md and "boom in forward" in md
    lookahead = {r["model"]: (r["lookahead_ms"], r["offline"]) for r in rows}
    assert lookahead["mixture"] == (0.0, False) and lookahead["tiny-oracle"] == (None, None)
    assert re.search(r"\| tiny-net \|.*\| \d\.\d ms \|", md)
    page = (out / "index.html").read_text()
    audio = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    images = re.findall(r'<img src="([^"]+)"', page)
    spectrograms = re.findall(r'<img class="spec" src="([^"]+)"', page)
    assert "plots/tiny-curve-macs.png" in images and len(audio) >= 3 * 3
    assert len(images) == 8 + 9 + 1  # tiny's, tiny-stems' (with a per-source plot), the cross-suite heat map
    assert {"plots/tiny-per-mixture.png", "plots/tiny-by-input.png"} <= set(images)
    by_input = doc["suites"]["tiny"]["by_input"]  # the same numbers in the JSON and the Markdown
    assert by_input["set"] == "test" and sum(by_input["sizes"]) == 2 * net["n"]  # every source of every mixture
    assert {"tiny-net", "tiny-oracle"} <= set(by_input["means"]) and "mixture" not in by_input["means"]
    assert all(len(v) == len(by_input["sizes"]) for v in by_input["means"].values())
    first = " | ".join(f"{v:.2f}" for v in by_input["means"]["tiny-net"])
    assert f"| tiny-net | {first} |" in md
    assert "plots/across-suites.png" in images and "Across suites" in page
    assert re.search(r"\| tiny-net \| -?\d+\.\d\d \([12]\) \| -?\d+\.\d\d \([12]\) \|", md)
    assert doc["across_suites"]["suites"] == ["tiny", "tiny-stems"]
    assert "plots/tiny-quality-vs-lookahead.png" in images  # tiny-net's lookahead is measured and finite
    assert sorted(spectrograms) == sorted(f"{a}.png" for a in audio)  # one spectrogram beside each player
    assert "Pairwise comparison on test" in page and "seed 0 vs seed 1" in page  # two models, two seeds each
    for rel in audio + images + spectrograms:
        assert not rel.startswith("/") and (out / rel).is_file(), rel
    # portable: the folder works after a move
    moved = tmp_path / "moved"
    shutil.move(str(out), moved)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not installed (scripts/setup.sh installs it)")
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
         "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files", "--dump-dom",
         (moved / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line or "ERR_FILE_NOT_FOUND" in line]
    assert console == []
    assert dom.count("data-loaded=") == len(images) + len(spectrograms) and "data-failed" not in dom
    assert all(int(w) > 100 for w in re.findall(r'data-loaded="(\d+)"', dom))


def test_report_scores_each_source_of_data_with_roles(registry: Registry, tmp_path: Path) -> None:
    with ResultStore(tmp_path / "bench.sqlite") as store:
        run_suite(registry, "tiny-stems", store=store, progress=False)
        run_suite(registry, "tiny", models=["tiny-net"], seeds=[0], store=store, progress=False)  # speakers
        runs = store.runs(suite="tiny-stems")
        write_report(store, tmp_path / "report")
    net = [r for r in runs if r.model == "tiny-net"]
    assert [r.payload["source_names"] for r in net] == [["tone", "buzz"]] * 2
    # by hand: each source's column over both seeds' mixtures
    expected = {key: [sum(row[k] for r in net for row in r.payload["sets"]["test"][key]) / (2 * 4) for k in range(2)]
                for key in ("si_sdri", "usdr", "csdr", "sir", "sar")}
    assert expected["si_sdri"][0] != expected["si_sdri"][1]
    doc = json.loads((tmp_path / "report" / "leaderboard.json").read_text())
    stems = doc["suites"]["tiny-stems"]["per_source"]["test"]
    assert stems["sources"] == ["tone", "buzz"] and list(stems["metrics"]) == ["si_sdri", "usdr", "csdr", "sir", "sar"]
    for key, values in expected.items():
        assert stems["means"]["tiny-net"][key] == pytest.approx(values, abs=1e-9)
    assert doc["suites"]["tiny"]["per_source"] == {}  # matched speakers have no roles
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    tiny_stems = md.split("## tiny-stems")[1]
    assert "Per source on test:" in tiny_stems and "| model | metric | tone | buzz | mean |" in tiny_stems
    line = f"| tiny-net | uSDR (dB) | {expected['usdr'][0]:.2f} | {expected['usdr'][1]:.2f} | "
    assert line in tiny_stems and "Per source" not in md.split("## tiny-stems")[0]
    assert "| tiny-oracle | cSDR (dB) |" in tiny_stems and "| tiny-net | SAR (dB) |" in tiny_stems
    assert (tmp_path / "report" / "plots" / "tiny-stems-per-source.png").is_file()
    assert 'src="plots/tiny-stems-per-source.png"' in (tmp_path / "report" / "index.html").read_text()


def test_sdr_matches_museval_on_one_case() -> None:
    museval = pytest.importorskip("museval")
    import numpy as np

    from separena.metrics import bss_sdr, sdri

    gen = torch.Generator().manual_seed(0)
    refs = torch.randn(1, 2, 8000, generator=gen, dtype=torch.float64)
    est = torch.stack([refs[:, 1] + 0.5 * torch.randn(1, 8000, generator=gen, dtype=torch.float64),
                       0.8 * refs[:, 0] + 0.1 * torch.randn(1, 8000, generator=gen, dtype=torch.float64)], 1)
    ours = bss_sdr(est, refs)[0].numpy()
    sdr, _, _, _, perm = museval.metrics.bss_eval(
        refs[0].numpy()[..., None], est[0].numpy()[..., None], window=np.inf, compute_permutation=True,
        filters_len=512, bsseval_sources_version=True)
    assert np.allclose(ours, sdr.ravel(), atol=1e-3), (ours, sdr.ravel())
    assert perm.ravel().tolist() == [1, 0]
    mix = refs.sum(1)
    base = museval.metrics.bss_eval(refs[0].numpy()[..., None], np.stack([mix[0].numpy()] * 2)[..., None],
                                    window=np.inf, compute_permutation=False, filters_len=512,
                                    bsseval_sources_version=True)[0].ravel()
    assert np.allclose(sdri(est, refs, mix)[0].numpy(), sdr.ravel() - base, atol=1e-3)


def test_sdr_matches_fast_bss_eval() -> None:
    fast_bss_eval = pytest.importorskip("fast_bss_eval")
    from separena.metrics import bss_sdr

    gen = torch.Generator().manual_seed(1)
    refs = torch.randn(3, 2, 4000, generator=gen, dtype=torch.float64)
    est = torch.stack([0.7 * refs[:, 1] + 0.2 * torch.randn(3, 4000, generator=gen, dtype=torch.float64),
                       refs[:, 0] + 0.05 * torch.randn(3, 4000, generator=gen, dtype=torch.float64)], 1)
    est[0] = refs[0].sum(0)  # the mixture as both estimates
    theirs = fast_bss_eval.sdr(refs, est, load_diag=1e-10, clamp_db=100)
    assert torch.allclose(bss_sdr(est, refs), theirs, atol=1e-6)
    assert torch.allclose(bss_sdr(est.float(), refs.float()), theirs.float(), atol=1e-2)

