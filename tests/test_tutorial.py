"""Run docs/plugins/writing-a-plugin.md part 2 as a new user would: scaffold a plugin, install it
(into a private folder, not the shared environment), list it, run its contract kit, train it one
step with the tutorial's own Python snippet, and benchmark it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from separena import SeparenaError
from separena.cli import main
from separena.scaffold import new_plugin, plugin_names
from separena.testing import CHECKS

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "writing-a-plugin.md"
NAME = "demo-net"


def _separena() -> list[str]:
    script = Path(sys.executable).with_name("separena")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "separena.cli"]


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    tail = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}\n{tail}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Steps 1 and 2: `separena new-plugin demo-net`, then pip install into <tmp>/site."""
    tmp = tmp_path_factory.mktemp("tutorial")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPARENA_")}
    # The data cache stays the user's (content-addressed, written atomically): as a new user would.
    env.update(PYTHONPATH=str(tmp / "site"), OMP_NUM_THREADS="1", COLUMNS="200")
    _run([*_separena(), "new-plugin", NAME, "--directory", str(tmp / "src")], env, tmp)
    # --no-build-isolation: build with this environment's setuptools instead of downloading one.
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
          str(tmp / "site"), str(tmp / "src" / NAME)], env, tmp)
    return tmp, env


@pytest.mark.slow
def test_step3_list_shows_the_plugin(installed: tuple[Path, dict[str, str]]) -> None:
    tmp, env = installed
    out = _run([*_separena(), "list", f"{NAME}*"], env, tmp).stdout
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert {NAME, f"{NAME}-small"} <= set(rows), out
    assert all("separena-demo-net" in rows[n] and "ok" in rows[n] for n in (NAME, f"{NAME}-small")), out


@pytest.mark.slow
def test_step4_generated_contract_tests_pass(installed: tuple[Path, dict[str, str]]) -> None:
    tmp, env = installed
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp / "src" / NAME / "tests")],
               env, tmp, timeout=300).stdout
    assert re.search(rf"\b{len(CHECKS)} passed\b", out) and "failed" not in out and "skipped" not in out, out


@pytest.mark.slow
def test_step5_the_tutorials_python_snippet_trains_one_step(installed: tuple[Path, dict[str, str]]) -> None:
    tmp, env = installed
    snippet = re.search(r"<!-- test: python -->\s*```python\n(.*?)```", TUTORIAL.read_text(encoding="utf-8"), re.S)
    assert snippet, "writing-a-plugin.md: no ```python block marked <!-- test: python -->"
    out = _run([sys.executable, "-c", snippet.group(1)], env, tmp).stdout
    assert re.search(rf"^{NAME}-small: 1 step, loss -?\d+\.\d+, SI-SDRi -?\d+\.\d+ dB$", out, re.M), out


@pytest.mark.slow
def test_step6_benchmark_runs_the_plugin(installed: tuple[Path, dict[str, str]]) -> None:
    assert "bench" in main.commands, "the tutorial's step 6 runs `separena bench`"
    tmp, env = installed
    out = _run([*_separena(), "bench", "--suite", "smoke", "--models", f"{NAME}*"], env, tmp, timeout=600).stdout
    header = next(line for line in out.splitlines() if line.count("┃") > 2 and " model " in line)
    column = [cell.strip() for cell in header.split("┃")].index("model")
    rows = {line.split("│")[column].strip() for line in out.splitlines() if line.count("│") > 2}
    assert {NAME, f"{NAME}-small", "mixture", "oracle-ibm"} <= rows, out
    assert re.search(r"\b0 failed\b", out), out


# -- the command's own rules: fast, in-process --------------------------------------------------------

def test_plugin_names() -> None:
    assert plugin_names("demo-net") == {"name": "demo-net", "dist": "separena-demo-net", "package": "separena_demo_net",
                                        "builder": "demo_net", "class_prefix": "DemoNet"}


@pytest.mark.parametrize(("name", "message"), [
    ("Demo_Net", "new-plugin NAME: expected kebab-case starting with a letter, e.g. 'my-net', got 'Demo_Net'"),
    ("3d-net", "new-plugin NAME: expected kebab-case starting with a letter, e.g. 'my-net', got '3d-net'"),
    ("demo--net", "new-plugin NAME: expected kebab-case starting with a letter, e.g. 'my-net', got 'demo--net'"),
    ("separena-x", "new-plugin NAME: expected the name without the 'separena-' prefix, got 'separena-x'"),
    ("class", "new-plugin NAME: expected a name that is not a Python keyword, got 'class'"),
])
def test_bad_names_are_one_line_errors(name: str, message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["new-plugin", name, "--directory", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == f"error: {message}\n"
    assert not any(tmp_path.iterdir())


def test_refuses_a_registered_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--plugin", str(Path(__file__).parent / "plugins" / "good_minimal.py"),
                                       "new-plugin", "tiny-masker", "--directory", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: new-plugin NAME: expected a name not yet registered, got 'tiny-masker'")
    assert not any(tmp_path.iterdir())


def test_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "keep.txt").write_text("mine")
    with pytest.raises(SeparenaError, match=r"already exists; expected a new directory \(nothing was written\)$"):
        new_plugin(NAME, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [NAME]
    assert [p.name for p in (tmp_path / NAME).iterdir()] == ["keep.txt"]


def test_scaffold_layout_and_rendering(tmp_path: Path) -> None:
    root = new_plugin("demo-net", tmp_path)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["README.md", "pyproject.toml", "separena_demo_net/__init__.py", "separena_demo_net/model.py",
                     "separena_demo_net/presets.yaml", "separena_demo_net/py.typed", "tests/test_contract.py"]
    text = "".join((root / f).read_text() for f in files)
    assert "$" not in text, "an unrendered template variable"
    assert 'demo-net = "separena_demo_net"' in (root / "pyproject.toml").read_text()
    assert "def demo_net(" in (root / "separena_demo_net" / "model.py").read_text()
    assert len((root / "tests" / "test_contract.py").read_text().strip().splitlines()) == 3  # two lines + a blank
