"""Keep docs/ true to the code (datasette's test_docs): every hook, contract check, CLI command
and registry.yaml key is documented, and code the tutorial copies from the repository is
still the repository's code."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import click
import pytest
import yaml

from separena import hookspecs
from separena.cli import main
from separena.presets import TOP_LEVEL_KEYS
from separena.testing import CHECKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PLUGIN_DOCS = DOCS / "plugins"
FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)


def _read(path: Path) -> str:
    if not path.is_file():
        pytest.fail(f"{path.relative_to(ROOT)} does not exist")
    return path.read_text(encoding="utf-8")


def _sections(text: str, level: str) -> dict[str, str]:
    """``{heading: body}`` for the headings of one level (``"##"`` or ``"###"``)."""
    parts = re.split(rf"^{level} +(.+?) *$", text, flags=re.M)
    return {parts[i].strip("` "): parts[i + 1] for i in range(1, len(parts), 2)}


def _hook_signatures() -> dict[str, str]:
    """``{hook name: "def name(...) -> Return"}`` as written in hookspecs.py (via ast, normalised)."""
    tree = ast.parse(inspect.getsource(hookspecs))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == "hookspec" for d in node.decorator_list):
            stub = ast.FunctionDef(name=node.name, args=node.args, body=[ast.Pass()], decorator_list=[],
                                   returns=node.returns, type_params=[], lineno=0)
            out[node.name] = ast.unparse(stub).splitlines()[0].removesuffix(":")
    return out


def test_every_hookspec_is_found() -> None:
    declared = {name for name, fn in vars(hookspecs).items() if hasattr(fn, "separena_spec")}
    assert set(_hook_signatures()) == declared


@pytest.mark.parametrize("hook", sorted(_hook_signatures()))
def test_hook_is_documented_with_its_exact_signature(hook: str) -> None:
    sections = _sections(_read(PLUGIN_DOCS / "hooks.md"), "##")
    assert hook in sections, f"docs/plugins/hooks.md: no '## {hook}' heading"
    signature = _hook_signatures()[hook]
    blocks = [b.strip() for b in FENCE.findall(sections[hook])]
    assert signature in blocks, f"docs/plugins/hooks.md ## {hook}: expected a code block with exactly {signature!r}"
    summary = inspect.getdoc(getattr(hookspecs, hook)).splitlines()[0].replace("``", "`")  # reST -> Markdown
    assert summary in sections[hook], f"docs/plugins/hooks.md ## {hook}: the docstring's summary {summary!r} is missing"


def test_hooks_doc_has_no_stale_hooks() -> None:
    documented = {h for h in _sections(_read(PLUGIN_DOCS / "hooks.md"), "##") if h.startswith("separena_")}
    stale = sorted(documented - set(_hook_signatures()))
    assert not stale, f"docs/plugins/hooks.md documents hooks that do not exist: {', '.join(stale)}"


def test_every_contract_check_is_documented() -> None:
    sections = _sections(_read(PLUGIN_DOCS / "contract.md"), "###")
    missing = [name for name in CHECKS if name not in sections]
    stale = [name for name in sections if name.startswith("check_") and name not in CHECKS]
    assert not missing, f"docs/plugins/contract.md: no '### <check>' heading for {', '.join(missing)}"
    assert not stale, f"docs/plugins/contract.md documents checks not in separena.testing.CHECKS: {', '.join(stale)}"
    for name in CHECKS:
        assert "**Asserts**" in sections[name] and "**Why**" in sections[name], \
            f"docs/plugins/contract.md ### {name}: expected an **Asserts** and a **Why** paragraph"


def test_every_cli_command_is_documented() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.rglob("*.md")))
    names = [name for name, command in main.commands.items() if not isinstance(command, click.Group)]
    names += [f"{name} {sub}" for name, group in main.commands.items() if isinstance(group, click.Group)
              for sub in group.commands]
    missing = sorted(name for name in names if not re.search(rf"\bseparena {re.escape(name)}\b", text))
    assert not missing, f"CLI commands not shown as `separena <command>` in any docs/**/*.md: {', '.join(missing)}"


def test_every_registry_yaml_key_is_documented() -> None:
    text = _read(DOCS / "registry-yaml.md")
    keys = set(TOP_LEVEL_KEYS) | set(yaml.safe_load((ROOT / "registry.yaml").read_text(encoding="utf-8")) or {})
    headings = set(_sections(text, "###")) | set(_sections(text, "##"))
    missing = sorted(keys - headings)
    assert not missing, f"docs/registry-yaml.md: no heading for top-level key(s) {', '.join(missing)}"


def _copied_blocks() -> list[tuple[str, str]]:
    """``(path, code)`` for every block preceded by ``<!-- file: PATH -->`` in docs/plugins."""
    out = []
    for doc in sorted(PLUGIN_DOCS.glob("*.md")):
        for match in re.finditer(r"<!-- file: (\S+) -->\s*```[^\n]*\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            out.append((match.group(1), match.group(2)))
    return out


def test_tutorial_copies_code_from_the_repository() -> None:
    blocks = _copied_blocks()
    assert len(blocks) >= 8, "writing-a-plugin.md should show the oracle plugin's real code"
    for path, code in blocks:
        source = _read(ROOT / path)
        assert code in source, f"docs/plugins: the block marked 'file: {path}' is not in that file any more:\n{code}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_doc_links_and_their_anchors_resolve() -> None:
    """Every relative link in docs/ and the README names a file that exists and, after ``#``, one
    of its headings (a section moved or renamed leaves no dangling link)."""
    broken = []
    for doc in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = (doc.parent / target) if target else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
            elif anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{doc.relative_to(ROOT)} -> {target}#{anchor}")
    assert not broken, "broken links: " + "; ".join(broken)


def test_the_quickstarts_python_runs_on_a_song_at_another_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import soundfile

    blocks = re.findall(r"```python\n(.*?)```", _read(DOCS / "quickstart.md"), re.S)
    assert len(blocks) == 1, "docs/quickstart.md: expected one python block"
    song = 0.1 * np.random.default_rng(0).standard_normal((2 * 44100, 2))
    soundfile.write(tmp_path / "song.wav", song.astype(np.float32), 44100)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(ROOT / "published"))  # what a fresh clone has
    exec(compile(blocks[0], "docs/quickstart.md", "exec"), {})
    for stem in ("vocals", "bass", "drums", "other"):
        data, rate = soundfile.read(tmp_path / f"song_{stem}.wav")
        assert rate == 44100 and data.shape == song.shape and np.isfinite(data).all()


def test_the_streaming_pages_python_runs_with_the_published_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _read(DOCS / "streaming.md"), re.S)
    assert len(blocks) == 1, "docs/streaming.md: expected one python block"
    assert "assert " in blocks[0]  # the page shows the streamed output equal to forward's: the block checks it
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(ROOT / "published"))
    exec(compile(blocks[0], "docs/streaming.md", "exec"), {})
