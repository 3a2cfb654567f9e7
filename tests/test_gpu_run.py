"""The GPU machine's one command (benchmarks/gpu_run.sh) from its kit (benchmarks/gpu_kit.py),
run here on the CPU with the smoke suite: install from the tree, eSpeak NG from the kit, the
store and weights packed, and a second machine resuming from them."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _kit_module():
    spec = importlib.util.spec_from_file_location("gpu_kit", REPO / "benchmarks" / "gpu_kit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gpu_run(kit: Path, out: Path, work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SUITE": "smoke", "JOBS": "1", "BENCH_ARGS": "", "WORK": str(work),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "benchmarks/gpu_run.sh", str(kit), str(out), "900"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


def _packed(out: Path) -> list[str]:
    """The names in the tar whose parts (gpu.tar.0, .1, ...) gpu_run.sh left in ``out``."""
    import io

    parts = sorted(out.glob("gpu.tar.[0-9]"))
    assert parts and all(p.stat().st_size <= 15 * 2**20 for p in parts) and not (out / "gpu.tar").exists()
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tar:
        return tar.getnames()


@pytest.mark.slow
def test_gpu_run_trains_from_the_kit_packs_the_store_and_resumes(tmp_path):
    from separena.data.espeak import export_word_lists

    kit = tmp_path / "kit"
    (kit / "carried").mkdir(parents=True)  # the smoke data has no real speech
    _kit_module().espeak_archive(kit / "espeak-ng.tar.xz")
    export_word_lists(kit / "word-lists.json.xz")

    done = _gpu_run(kit, tmp_path / "out", tmp_path / "work")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (tmp_path / "out" / "gpu_run.log").read_text()
    assert "smoke on espeak-2mix@" in log and "done" in log.splitlines()[-1]
    version = subprocess.run([tmp_path / "work" / "bin" / "espeak-ng", "--version"], capture_output=True,
                             text=True, env={"PATH": "/usr/bin:/bin"}, check=True).stdout
    assert f"Data at: {tmp_path / 'work' / 'share' / 'espeak-ng-data'}" in version  # the kit's, not the system's
    names = _packed(tmp_path / "out")
    assert "gpu.sqlite" in names and any(n.startswith("gpu-artifacts/weights/") and n.endswith(".pt") for n in names)

    # a later machine (same folders, nothing left in them) resumes from the packed store
    for part in (tmp_path / "out").glob("gpu.tar.[0-9]"):
        (kit / part.name).write_bytes(part.read_bytes())
    shutil.rmtree(tmp_path / "work")
    again = _gpu_run(kit, tmp_path / "out2", tmp_path / "work")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    log = (tmp_path / "out2" / "gpu_run.log").read_text()
    assert "resuming the store" in log and " 0 to run" in log


@pytest.mark.slow
def test_gpu_run_trains_music_from_its_carried_pieces(tmp_path, monkeypatch):
    """A music kit holds no eSpeak NG: the pieces come decoded from their Opus copy, never rendered."""
    from separena.data.cache import CARRIED_ENV
    from separena.data.music import carry_midi_4stem

    tiny = dict(n_train=2, n_valid=1, n_test=1, train_seconds=2.0, eval_seconds=1.5, transfer_set=False)
    monkeypatch.delenv(CARRIED_ENV, raising=False)
    kit = tmp_path / "kit"
    carried = carry_midi_4stem(kit / "carried", cache_dir=str(tmp_path / "here"), progress=False, **tiny)
    registry = tmp_path / "music-smoke.yaml"
    registry.write_text(
        "suites:\n  music-smoke:\n    description: two steps of Open-Unmix on a few carried pieces\n"
        f"    dataset: midi-4stem\n    dataset_params: {tiny}\n".replace("False", "false") +
        "    sample_rate: 16000\n    budget: {steps: 2, batch_size: 2}\n    seeds: [0]\n"
        "    models: [open-unmix-small]\n    metrics: [si-sdri]\n")
    monkeypatch.setenv("SEPARENA_REGISTRY", str(registry))
    monkeypatch.setenv("SUITE", "music-smoke")
    env = {**os.environ, "JOBS": "1", "BENCH_ARGS": "", "WORK": str(tmp_path / "work"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "benchmarks/gpu_run.sh", str(kit), str(tmp_path / "out"), "900"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (tmp_path / "out" / "gpu_run.log").read_text()
    assert "music-smoke on midi-4stem@" in log and "device_batches" not in log and "done" in log.splitlines()[-1]
    assert [p.name for p in (tmp_path / "work" / "cache").glob("midi-4stem-*")] == [carried.name]
    assert any(n.startswith("gpu-artifacts/weights/") and n.endswith(".pt") for n in _packed(tmp_path / "out"))


@pytest.mark.slow
def test_gpu_concurrency_measures_runs_alone_and_together(tmp_path):
    """The concurrency measurement runs end to end (here on the CPU, the smoke suite's model twice)."""
    import json

    out = tmp_path / "c.json"
    done = subprocess.run([sys.executable, "benchmarks/gpu_concurrency.py", "--suite", "smoke", "--models",
                           "mask-inference-small,mask-inference-small", "--device", "cpu", "--seconds", "2",
                           "--data-workers", "0", "--threads", "1", "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["models"] == ["mask-inference-small"] * 2 and len(result["together"]) == 2
    assert min(result["alone"] + result["together"]) > 0 and 0.2 < result["speedup"] < 10
    assert "at once on cpu" in done.stdout


@pytest.mark.slow
def test_a_deadline_stops_the_gpu_script_after_the_step_with_the_runs_state(tmp_path):
    """A deadline's SIGINT (``timeout`` signals the whole process group) reaches the script and
    its bench: the script waits while the bench ends its step (0.4 s here) and writes the run's
    training state, and both say so in one line each."""
    import signal

    spec = importlib.util.spec_from_file_location("bench_tiny_fixture", REPO / "tests" / "plugins" / "bench_tiny.py")
    bench_tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_tiny)
    yaml = bench_tiny.write_registry(tmp_path, sleep_ms=400, pid_dir=str(tmp_path / "pids"), slow_steps=100)
    store = tmp_path / "gpu.sqlite"
    env = {**os.environ, "SEPARENA_PLUGINS": str(REPO / "tests" / "plugins" / "bench_tiny.py"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "gpu_leaderboard.py"), "--suite", "tiny-slow",
                             "--registry", str(yaml), "--device", "cpu", "--no-publish", "--store", str(store),
                             "--seeds", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        bench_tiny.wait_until_training(proc, store, str(tmp_path / "pids"))
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("separena bench was interrupted; the store keeps every finished run"), lines[-3:]
    assert "training interrupted at step" in lines[-2] and lines[-2].endswith("the same call resumes from there")
    assert len(list((tmp_path / "gpu-artifacts" / "state").glob("*.pt"))) == 1
