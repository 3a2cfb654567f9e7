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


@pytest.mark.slow
def test_gpu_run_trains_from_the_kit_packs_the_store_and_resumes(tmp_path):
    from separena.data.espeak import export_word_lists

    kit = tmp_path / "kit"
    (kit / "pools").mkdir(parents=True)  # the smoke data has no real speech
    _kit_module().espeak_archive(kit / "espeak-ng.tar.xz")
    export_word_lists(kit / "word-lists.json.xz")

    done = _gpu_run(kit, tmp_path / "out", tmp_path / "work")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = (tmp_path / "out" / "gpu_run.log").read_text()
    assert "smoke on espeak-2mix@" in log and "done" in log.splitlines()[-1]
    version = subprocess.run([tmp_path / "work" / "bin" / "espeak-ng", "--version"], capture_output=True,
                             text=True, env={"PATH": "/usr/bin:/bin"}, check=True).stdout
    assert f"Data at: {tmp_path / 'work' / 'share' / 'espeak-ng-data'}" in version  # the kit's, not the system's
    with tarfile.open(tmp_path / "out" / "gpu.tar") as tar:
        names = tar.getnames()
    assert "gpu.sqlite" in names and any(n.startswith("gpu-artifacts/weights/") and n.endswith(".pt") for n in names)

    # a later machine (same folders, nothing left in them) resumes from the packed store
    (kit / "gpu.tar").write_bytes((tmp_path / "out" / "gpu.tar").read_bytes())
    shutil.rmtree(tmp_path / "work")
    again = _gpu_run(kit, tmp_path / "out2", tmp_path / "work")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    log = (tmp_path / "out2" / "gpu_run.log").read_text()
    assert "resuming the store" in log and " 0 to run" in log
