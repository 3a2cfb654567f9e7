"""Fault injection: every case ends with a one-line error and an intact result store.

Covered elsewhere (not repeated here):
- a NaN loss stops training with a clear message and keeps the last good checkpoint, which
  loads with ``weights_only=True``:
  ``tests/test_train.py::test_non_finite_loss_stops_with_clear_error_and_keeps_checkpoint``;
- checkpoints load with ``weights_only=True``; tampered, pickled-object and foreign files, and a
  checkpoint of another architecture, are one-line ``CheckpointError``s:
  ``tests/test_train.py::test_checkpoint_errors_are_one_line`` and
  ``::test_checkpoint_of_another_architecture_is_refused``;
- registry YAML is parsed safely (tags that construct objects are refused):
  ``tests/test_presets.py::test_yaml_tags_that_construct_objects_are_refused``;
- a killed Ray worker loses and duplicates nothing: ``tests/test_ray.py``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from separena import AudioFileError, Registry
from separena.bench import ResultStore, leaderboard, run_suite
from separena.checkpoints import save_checkpoint
from separena.cli import main
from separena.data.audio import read_wav

PLUGINS = Path(__file__).parent / "plugins"
BENCH_TINY = PLUGINS / "bench_tiny.py"


def _bench_tiny():
    spec = importlib.util.spec_from_file_location("bench_tiny_fixture", BENCH_TINY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "200"})


def one_line_error(result, *expected: str) -> str:
    """The command failed cleanly: exit 2, exactly one line ``error: ...``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exc_info)
    assert isinstance(result.exception, SystemExit), result.exc_info
    lines = [line for line in result.output.splitlines() if line.strip() and not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def seeded_store(path: Path) -> dict:
    """A store holding one finished run, to check that a failing command leaves it intact."""
    with ResultStore(path) as store:
        store.add_run("h-seed", "s", "m", 0, {"v": 1})
    return {"h-seed"}


def assert_intact(path: Path, hashes: set[str], failures: int = 0) -> None:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = [h for (h,) in db.execute("SELECT run_hash FROM runs")]
        assert len(stored) == len(set(stored)) and set(stored) == hashes
        assert db.execute("SELECT COUNT(*) FROM failures").fetchone()[0] == failures
        for (payload,) in db.execute("SELECT payload FROM runs"):
            json.loads(payload)  # nothing half-written
    finally:
        db.close()


# -- plugins that fail ---------------------------------------------------------------------
FAULTS_YAML = """
presets:
  from-broken-import:
    architecture: broken-import-net
  from-raising-hook:
    architecture: raising-hook-net
suites:
  plugin-faults:
    dataset: tones-2mix
    dataset_params: {n_valid: 2, n_test: 4, test_seconds: 0.5}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {steps: 6, batch_size: 2, learning_rate: 0.01}
    seeds: [0]
    models: [tiny-net, from-broken-import, from-raising-hook, exploding, nan-net]
"""


def test_failing_plugins_cost_only_their_own_rows(tmp_path: Path) -> None:
    files = [_bench_tiny().write_registry(tmp_path), tmp_path / "faults.yaml"]
    files[1].write_text(FAULTS_YAML)
    registry = Registry(entry_points=False, core_registry=False, registry_files=files,
                        plugins=[str(PLUGINS / "broken_import.py"), str(PLUGINS / "raising_hook.py"), str(BENCH_TINY)])
    with ResultStore(tmp_path / "bench.sqlite") as store:
        result = run_suite(registry, "plugin-faults", store=store, progress=False)
        rows = {r.model: r for r in leaderboard(store.runs(suite="plugin-faults"),
                                                 store.failures(suite="plugin-faults"))}
        ok = {c.run_hash for c in result.configs if c.preset in ("tiny-oracle", "mixture", "tiny-net")}
    assert set(result.executed) == ok
    assert {r for r, row in rows.items() if row.kind == "failed"} == {
        "from-broken-import", "from-raising-hook", "exploding", "nan-net"}
    errors = {name: rows[name].errors for name in rows if rows[name].kind == "failed"}
    assert all(len(e) == 1 and "\n" not in e[0] for e in errors.values()), errors
    # import: the plugin's own error is in the report row of the model it should have provided
    assert "broken_import.py failed at import: ModuleNotFoundError" in errors["from-broken-import"][0]
    assert "separena_this_module_does_not_exist" in errors["from-broken-import"][0]
    # registration: the hook's exception
    assert "raising_hook.py failed at separena_register_architectures: RuntimeError: boom at registration" \
        in errors["from-raising-hook"][0]
    assert errors["exploding"] == ["seed 0: train: RuntimeError: boom in forward"]
    # a non-finite loss stops that run with a clear message (the trainer keeps its last good
    # checkpoint: tests/test_train.py)
    assert errors["nan-net"] == ["seed 0: train: TrainingError: model 'nan-net': loss became nan at step 2; "
                                 "stopped (no checkpoint written yet)"]
    assert_intact(tmp_path / "bench.sqlite", ok, failures=4)


# -- a killed `separena bench` resumes -------------------------------------------------------
def _bench_code(yaml: Path, store_path: Path, *options: str) -> str:
    """`python -c` code running `separena bench --suite tiny-slow` with the code version pinned:
    other work may edit sources between the two processes a test starts."""
    return ("import separena.bench.runner as r; r.code_version = lambda config: 'pinned-for-test'; "
            "from separena.cli import main; "
            f"main(['--plugin', {str(BENCH_TINY)!r}, '--registry', {str(yaml)!r}, 'bench', '--suite', 'tiny-slow', "
            f"*{list(options)!r}, '--store', {str(store_path)!r}])")


def test_killed_bench_process_resumes_losing_and_duplicating_nothing(tmp_path: Path) -> None:
    yaml = _bench_tiny().write_registry(tmp_path, sleep_ms=30, slow_steps=12)
    store_path = tmp_path / "bench.sqlite"
    code = _bench_code(yaml, store_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                stored = sqlite3.connect(store_path).execute(
                    "SELECT COUNT(*) FROM runs WHERE model = 'tiny-net-slow'").fetchone()[0]
            except sqlite3.Error:
                stored = 0
            if stored >= 1:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    with ResultStore(store_path) as store:
        at_kill = {r.run_hash for r in store.runs()}
        slow = [r for r in store.runs() if r.model == "tiny-net-slow"]
    assert 1 <= len(slow) < 4
    assert_intact(store_path, at_kill)
    resumed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    total = len(at_kill) - len(slow) + 4  # the oracles, and tiny-net-slow x 4 seeds
    summary = " ".join(resumed.stdout.split())
    assert f"{total - len(at_kill)} run(s) executed, {len(at_kill)} reused, 0 failed" in summary
    with ResultStore(store_path) as store:
        final = {r.run_hash for r in store.runs()}
        assert [r.seed for r in store.runs() if r.model == "tiny-net-slow"].count(0) == 1
    assert at_kill <= final and len(final) == total
    assert_intact(store_path, final)



def _rerun_the_cut_run(code: str, env: dict[str, str], store_path: Path):
    """Run the same bench again: only the cut tiny-net-slow run executes; its stored run."""
    resumed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "1 run(s) executed, 6 reused, 0 failed" in " ".join(resumed.stdout.split())
    with ResultStore(store_path) as store:
        (slow,) = [r for r in store.runs() if r.model == "tiny-net-slow"]
    return slow


@pytest.mark.slow
def test_ctrl_c_stops_runs_in_workers_with_one_line_and_they_resume(tmp_path: Path) -> None:
    """Ctrl-C to a bench with runs in worker processes (the terminal's process group, as a
    deadline's SIGINT): one `error:` line, exit 130, no traceback from the idle worker, no failure
    recorded; the run cut in its training resumes from its step."""
    bench_tiny = _bench_tiny()
    yaml = bench_tiny.write_registry(tmp_path, sleep_ms=30, pid_dir=str(tmp_path / "pids"), slow_steps=400)
    store_path = tmp_path / "bench.sqlite"
    code = _bench_code(yaml, store_path, "--seeds", "0", "--jobs", "2")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        bench_tiny.wait_until_training(proc, store_path, str(tmp_path / "pids"), seconds=90)  # the other worker idle
        os.killpg(proc.pid, signal.SIGINT)
        stderr = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"error: suite 'tiny-slow': interrupted \(Ctrl-C\) with 6 of 7 runs stored; the same command "
                        r"goes on from there, a run cut in its training from the step it reached "
                        r"\(tiny-net-slow seed 0 at step (\d+)\)", last), last
    cut_at = int(re.search(r"at step (\d+)", last).group(1))
    with ResultStore(store_path) as store:
        at_stop = {r.run_hash for r in store.runs()}
    assert_intact(store_path, at_stop)  # and no failure
    assert len(list((tmp_path / "bench-artifacts" / "state").glob("*.pt"))) == 1
    slow = _rerun_the_cut_run(code, env, store_path)
    assert slow.payload["train"]["resumed_from"] == cut_at and 0 < cut_at < 400
    assert slow.payload["train"]["steps"] == 400
    assert not any((tmp_path / "bench-artifacts" / "state").iterdir())


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "zombie" not in state


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads a process's children from /proc (Linux)")
def test_workers_of_a_killed_bench_end_and_the_run_they_cut_resumes(tmp_path: Path) -> None:
    """kill -9 of the driver (or the out-of-memory killer): its worker processes end instead of
    waiting for their next run forever, the one in training saving its state first."""
    bench_tiny = _bench_tiny()
    yaml = bench_tiny.write_registry(tmp_path, sleep_ms=30, pid_dir=str(tmp_path / "pids"), slow_steps=400)
    store_path = tmp_path / "bench.sqlite"
    code = _bench_code(yaml, store_path, "--seeds", "0", "--jobs", "2")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        bench_tiny.wait_until_training(proc, store_path, str(tmp_path / "pids"), seconds=90)
        workers = _children(proc.pid)  # two workers and multiprocessing's resource tracker
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if _alive(pid)]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(workers) == 3 and left == [], (workers, left)
    assert len(list((tmp_path / "bench-artifacts" / "state").glob("*.pt"))) == 1
    slow = _rerun_the_cut_run(code, env, store_path)
    assert 0 < slow.payload["train"]["resumed_from"] < 400 and slow.payload["train"]["steps"] == 400


# -- bad configuration ---------------------------------------------------------------------
def test_ray_executor_without_ray_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    store = tmp_path / "bench.sqlite"
    hashes = seeded_store(store)
    result = cli("bench", "--suite", "smoke", "--store", store, "--executor", "ray")
    one_line_error(result, "ray is not installed", "pip install 'separena[ray]'")
    assert_intact(store, hashes)


def test_ray_options_need_the_ray_executor(tmp_path: Path) -> None:
    store = tmp_path / "bench.sqlite"
    hashes = seeded_store(store)
    one_line_error(cli("bench", "--suite", "smoke", "--store", store, "--num-cpus", "2"), "expected --executor ray")
    assert_intact(store, hashes)


def test_registry_file_with_object_tags_is_one_line_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"presets: !!python/object/apply:os.system ['touch {marker}']\n")
    store = tmp_path / "bench.sqlite"
    hashes = seeded_store(store)
    one_line_error(cli("--registry", evil, "bench", "--suite", "smoke", "--store", store), "not valid YAML")
    assert not marker.exists()
    assert_intact(store, hashes)


# -- checkpoints through the CLI -------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    registry = Registry(entry_points=False, core_registry=False, plugins=[str(PLUGINS / "good_minimal.py")])
    config = registry.model_config("tiny-masker")
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", config, config.build())


def separate(checkpoint: Path, out: Path, *inputs: Path, extra: tuple[str, ...] = ()):
    return cli("--plugin", PLUGINS / "good_minimal.py", "separate", "tiny-masker", "--checkpoint", checkpoint,
               *inputs, "-o", out, *extra)


@pytest.mark.parametrize("case", ["tampered", "pickled-object", "other-architecture"])
def test_bad_checkpoint_is_one_line_and_writes_nothing(tmp_path: Path, checkpoint: Path, case: str) -> None:
    bad = tmp_path / "bad.pt"
    if case == "tampered":
        data = bytearray(checkpoint.read_bytes())
        data[len(data) // 2:len(data) // 2 + 64] = b"\xff" * 64
        bad.write_bytes(bytes(data))
    elif case == "pickled-object":
        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {tmp_path / 'pwned'}",))

        torch.save({"format": 1, "state_dict": Evil()}, bad)
    else:
        config = Registry().model_config("mask-inference-small")
        save_checkpoint(bad, config, config.build())
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(800, dtype=np.float32), 8000, subtype="PCM_16")
    line = one_line_error(separate(bad, tmp_path / "out", wav), f"checkpoint {bad}")
    if case == "tampered":
        assert "modified or corrupted since it was written" in line
    if case == "other-architecture":
        assert "holds architecture 'mask-inference'" in line
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


# -- audio input to `separena separate` ------------------------------------------------------
def _write(path: Path, case: str) -> Path:
    rng = np.random.default_rng(0)
    if case == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 8000, subtype="PCM_16")
    elif case == "nan":
        x = (0.1 * rng.standard_normal(800)).astype(np.float32)
        x[100] = np.nan
        sf.write(path, x, 8000, subtype="FLOAT")
    elif case == "inf":
        x = (0.1 * rng.standard_normal(800)).astype(np.float32)
        x[5] = np.inf
        sf.write(path, x, 8000, subtype="FLOAT")
    elif case == "truncated":
        sf.write(path, (0.1 * rng.standard_normal(8000)).astype(np.float32), 8000, subtype="PCM_16")
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "corrupt":
        path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(range(40)))
    elif case == "not-audio":
        path.write_text("just some text\n")
    elif case == "wrong-rate":
        sf.write(path, np.zeros(1600, dtype=np.float32), 16000, subtype="PCM_16")
    elif case == "too-short":
        sf.write(path, np.full(3, 0.1, dtype=np.float32), 8000, subtype="PCM_16")
    elif case == "very-long":  # longer than --max-seconds (3600 s): refused before reading the samples
        sf.write(path, np.zeros(3601 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    elif case == "directory":
        path.mkdir()
    return path


AUDIO_ERRORS = {
    "missing": "no such audio file",
    "directory": "no such audio file",
    "empty": "empty audio; expected at least 1 sample, got 0",
    "nan": "1 non-finite (NaN or inf) samples",
    "inf": "1 non-finite (NaN or inf) samples",
    "truncated": "truncated audio file",
    "corrupt": "unreadable audio file",
    "not-audio": "unreadable audio file",
    "wrong-rate": "wrong sample rate; expected 8000 Hz, got 16000 Hz",
    "too-short": "input too short for STFT(n_fft=64, hop_length=16); expected at least 33 samples",
    "very-long": "3601.0 s of audio; expected at most 3600 s",
}


@pytest.mark.parametrize("case", sorted(AUDIO_ERRORS))
def test_bad_audio_is_one_line_and_writes_nothing(tmp_path: Path, checkpoint: Path, case: str) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(800, dtype=np.float32), 8000, subtype="PCM_16")
    bad = tmp_path / f"{case}.wav"
    if case != "missing":
        _write(bad, case)
    out = tmp_path / "out"
    one_line_error(separate(checkpoint, out, good, bad), str(bad), AUDIO_ERRORS[case])
    assert not out.exists()  # every input is read and separated before anything is written


@pytest.mark.parametrize("case", ["silent", "stereo", "stereo-mono", "float", "24-bit"])
def test_documented_conversions(tmp_path: Path, checkpoint: Path, case: str) -> None:
    rng = np.random.default_rng(1)
    wav = tmp_path / "in.wav"
    x = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    if case == "silent":
        sf.write(wav, np.zeros(4000, dtype=np.float32), 8000, subtype="PCM_16")
    elif case.startswith("stereo"):  # each channel separated, or (--mono) averaged first; with a note
        sf.write(wav, np.stack([x, -0.5 * x], 1), 8000, subtype="PCM_16")
    else:
        sf.write(wav, x, 8000, subtype={"float": "FLOAT", "24-bit": "PCM_24"}[case])
    result = separate(checkpoint, tmp_path / "out", wav, extra=("--mono",) if case == "stereo-mono" else ())
    assert result.exit_code == 0, result.output
    assert ("2 channels separated one by one" in result.output) == (case == "stereo")
    assert ("2 channels averaged to mono" in result.output) == (case == "stereo-mono")
    for k in (1, 2):
        data, rate = sf.read(tmp_path / "out" / f"in_s{k}.wav")
        assert rate == 8000 and data.shape == ((4000, 2) if case == "stereo" else (4000,)) and np.isfinite(data).all()
        if case == "silent":
            assert np.abs(data).max() < 1e-3


@pytest.mark.parametrize("float32", [False, True])
def test_sources_over_full_scale_are_scaled_together_or_written_as_float(tmp_path: Path, float32: bool) -> None:
    """A model whose sources are twice the mixture (relu masks of 2): 16-bit wavs would clip."""
    registry = Registry(entry_points=False, core_registry=False, plugins=[str(PLUGINS / "good_minimal.py")])
    config = registry.model_config("tiny-masker", mask_activation="relu")
    model = config.build()
    with torch.no_grad():
        model.masker[-1].linear.weight.zero_()
        model.masker[-1].linear.bias.fill_(2.0)
    loud = save_checkpoint(tmp_path / "loud.pt", config, model)
    wav = tmp_path / "in.wav"
    x = np.sin(2 * np.pi * 440 * np.arange(4000) / 8000) * 0.8
    sf.write(wav, x.astype(np.float32), 8000, subtype="FLOAT")
    result = separate(loud, tmp_path / "out", wav, extra=("--float",) if float32 else ())
    assert result.exit_code == 0, result.output
    scaled = "its sources peak at 1.60, over 16-bit full scale; all scaled by 0.625" in " ".join(result.output.split())
    assert scaled == (not float32)
    for k in (1, 2):
        data, _ = sf.read(tmp_path / "out" / f"in_s{k}.wav")
        assert sf.info(tmp_path / "out" / f"in_s{k}.wav").subtype == ("FLOAT" if float32 else "PCM_16")
        expected = 2 * x if float32 else 2 * x / 1.6  # the sources' waveform and balance kept, never clipped
        np.testing.assert_allclose(data, expected, atol=2e-3)


def test_max_seconds_is_configurable(tmp_path: Path, checkpoint: Path) -> None:
    wav = tmp_path / "in.wav"
    sf.write(wav, np.zeros(8000, dtype=np.float32), 8000, subtype="PCM_16")
    one_line_error(separate(checkpoint, tmp_path / "out", wav, extra=("--max-seconds", "0.5")),
                   "1.0 s of audio; expected at most 0.5 s")
    assert separate(checkpoint, tmp_path / "out", wav, extra=("--max-seconds", "2")).exit_code == 0


# -- property-based: readers and the CLI never crash on bytes -----------------------------------
def _valid_wav_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.wav"
        sf.write(p, (0.1 * np.sin(np.arange(400) / 5)).astype(np.float32), 8000, subtype="PCM_16")
        return p.read_bytes()


VALID = _valid_wav_bytes()


@st.composite
def wav_like_bytes(draw) -> bytes:
    """Random bytes, a valid WAV with random bytes overwritten, or a truncated/extended one."""
    kind = draw(st.sampled_from(["random", "mutated", "truncated", "header+random"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    if kind == "truncated":
        return VALID[:draw(st.integers(0, len(VALID)))]
    if kind == "header+random":
        return VALID[:44] + draw(st.binary(max_size=512))
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, 63))  # the header and the start of the samples
        data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wav_like_bytes())
def test_read_wav_returns_finite_audio_or_raises_audio_file_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.wav"
        p.write_bytes(data)
        try:
            wav = read_wav(p, None)
        except AudioFileError as exc:
            assert len(str(exc).splitlines()) == 1 and str(p) in str(exc)
        else:
            assert wav.dtype == torch.float32 and wav.ndim == 1 and wav.numel() > 0
            assert torch.isfinite(wav).all()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=wav_like_bytes())
def test_separate_on_any_bytes_exits_0_or_2_without_traceback(checkpoint: Path, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.wav"
        p.write_bytes(data)
        result = separate(checkpoint, Path(d) / "out", p)
        if result.exit_code == 0:
            assert sorted(f.name for f in (Path(d) / "out").iterdir()) == ["x_s1.wav", "x_s2.wav"]
        else:
            one_line_error(result, str(p))
