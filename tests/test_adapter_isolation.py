"""The adapters (and the Mamba plugin) import their libraries lazily, and a broken or missing one costs only its
own models."""

from __future__ import annotations

import fnmatch
import importlib.util
import subprocess
import sys

import pytest

from separena import Registry, SeparenaError, Separator
from separena.testing import tiny_config

ADAPTERS = [  # (plugin package, wrapped library's import name, plugin name, name patterns of its models)
    ("separena_asteroid_adapter", "asteroid", "asteroid-adapter", ("asteroid-*",)),
    ("separena_nussl_adapter", "nussl", "nussl-adapter", ("nussl-*",)),
    ("separena_speechbrain_adapter", "speechbrain", "speechbrain-adapter", ("speechbrain-*",)),
    ("separena_bs_roformer_adapter", "bs_roformer", "bs-roformer-adapter", ("bs-roformer*", "mel-band-roformer*")),
    ("separena_demucs_adapter", "demucs", "demucs-adapter", ("htdemucs*", "hdemucs*")),
    ("separena_mamba", "mambapy", "mamba", ("mamba-*", "dpmamba*", "spmamba*")),
]
PARAMS = ("package", "library", "plugin_name", "patterns")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@pytest.mark.parametrize(PARAMS, ADAPTERS)
def test_listing_models_does_not_import_the_library(package, library, plugin_name, patterns):
    code = (f"import sys, separena; names = [n for p in {patterns!r} for n in separena.list_models(p)]; "
            f"assert names and '{library}' not in sys.modules, sorted(m for m in sys.modules if '{library}' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(PARAMS, ADAPTERS)
def test_a_broken_adapter_hides_no_other_model(monkeypatch, package, library, plugin_name, patterns):
    monkeypatch.setitem(sys.modules, package, None)  # importing it now raises ImportError
    registry = Registry()
    broken = [p for p in registry.plugins.values() if plugin_name in p.name]
    assert len(broken) == 1 and broken[0].status == "failed"
    assert "failed at import: ModuleNotFoundError" in broken[0].errors[0]
    assert not [n for n in registry.architectures if _matches(n, patterns)]
    assert all(registry.unavailable_reason(n) for n in registry.list_models() if _matches(n, patterns))
    others = [n for n in registry.architectures if registry.unavailable_reason(n) is None]
    assert "mask-inference" in others and len(others) >= 10
    for name in others:
        assert isinstance(tiny_config(name, registry).build(), Separator), name


@pytest.mark.parametrize(PARAMS, ADAPTERS)
def test_missing_library_marks_only_its_models_unavailable(monkeypatch, package, library, plugin_name, patterns):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == library else real(name, *a, **k))
    registry = Registry()
    models = [n for n in registry.architectures if _matches(n, patterns)]
    assert models
    for model in models:
        plugin = registry.plugin_of(model)
        assert registry.unavailable_reason(model) == f"{library} not installed (needed by plugin {plugin})"
        with pytest.raises(SeparenaError, match=f"unavailable: {library} not installed"):
            registry.create_model(model)
    others = [n for n in registry.architectures if not _matches(n, patterns)]
    assert all(registry.unavailable_reason(n) != f"{library} not installed (needed by plugin {registry.plugin_of(n)})"
               for n in others)
    assert registry.unavailable_reason("mask-inference") is None
    assert isinstance(tiny_config("mask-inference", registry).build(), Separator)
