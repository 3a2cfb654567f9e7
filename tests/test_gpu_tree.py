"""benchmarks/gpu_tree.sh: the published weights leave what travels to a GPU machine and come
back, and no commit can be made in between."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_tree.sh"


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(SCRIPT, tmp_path / "benchmarks" / "gpu_tree.sh")
    (tmp_path / "published" / "weights").mkdir(parents=True)
    (tmp_path / "published" / "weights" / "a.pt").write_bytes(b"w" * 3 * 2**20)
    (tmp_path / "published" / "runs.jsonl").write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    return tmp_path


def _tree(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "benchmarks/gpu_tree.sh", *args], cwd=repo, capture_output=True, text=True)


def _travels(repo: Path) -> set[str]:
    return set(_git(repo, "ls-files", "-co", "--exclude-standard").stdout.split())


def test_slim_leaves_the_weights_behind_and_restore_brings_them_back(repo):
    before = _tree(repo, "size")
    assert before.returncode == 0 and "3.0 MiB" in before.stdout
    assert _tree(repo, "slim").returncode == 0
    assert "published/weights/a.pt" not in _travels(repo) and "published/runs.jsonl" in _travels(repo)
    assert (repo / "published" / "weights" / "a.pt").stat().st_size == 3 * 2**20  # the file stays
    assert "0.0 MiB" in _tree(repo, "size").stdout
    assert _tree(repo, "slim").returncode == 0  # twice is once
    (repo / "code.py").write_text("x = 2\n")
    refused = _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "work", check=False)
    assert refused.returncode != 0 and "gpu_tree.sh restore" in refused.stderr
    restored = _tree(repo, "restore")
    assert restored.returncode == 0, restored.stderr
    assert "published/weights/a.pt" in _travels(repo)
    assert _git(repo, "status", "--porcelain").stdout.split() == ["M", "code.py"]
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert "published/weights" not in (repo / ".git" / "info" / "exclude").read_text()


def test_slim_refuses_weights_not_committed_and_a_hook_of_the_users(repo):
    (repo / "published" / "weights" / "b.pt").write_bytes(b"new")
    changed = _tree(repo, "slim")
    assert changed.returncode == 1 and "uncommitted changes" in changed.stderr
    (repo / "published" / "weights" / "b.pt").unlink()
    (repo / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    hooked = _tree(repo, "slim")
    assert hooked.returncode == 1 and "expected none" in hooked.stderr
    assert "published/weights/a.pt" in _travels(repo)


def test_size_says_when_the_kit_would_not_fit(repo, tmp_path_factory):
    kit = tmp_path_factory.mktemp("kit")
    (kit / "pool.opus").write_bytes(b"k" * 62 * 2**20)
    over = _tree(repo, "size", str(kit))
    assert over.returncode == 1 and "OVER" in over.stdout
    assert _tree(repo, "slim").returncode == 0
    fits = _tree(repo, "size", str(kit))
    assert fits.returncode == 0 and "OVER" not in fits.stdout
