"""The adapters import their libraries lazily, and a broken or missing one costs only its own models."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from separena import Registry, SeparenaError, Separator
from separena.testing import tiny_config

ADAPTERS = [  # (plugin package, wrapped library, a model of it)
    ("separena_asteroid_adapter", "asteroid", "asteroid-conv-tasnet"),
    ("separena_nussl_adapter", "nussl", "nussl-mask-inference"),
]


@pytest.mark.parametrize(("package", "library", "model"), ADAPTERS)
def test_listing_models_does_not_import_the_library(package, library, model):
    prefix = model.split("-")[0]
    code = (f"import sys, separena; names = separena.list_models('{prefix}-*'); "
            f"assert names and '{library}' not in sys.modules, sorted(m for m in sys.modules if '{library}' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(("package", "library", "model"), ADAPTERS)
def test_a_broken_adapter_hides_no_other_model(monkeypatch, package, library, model):
    monkeypatch.setitem(sys.modules, package, None)  # importing it now raises ImportError
    registry = Registry()
    prefix = model.split("-")[0] + "-"
    broken = [p for p in registry.plugins.values() if f"{library}-adapter" in p.name]
    assert len(broken) == 1 and broken[0].status == "failed"
    assert "failed at import: ModuleNotFoundError" in broken[0].errors[0]
    assert not [n for n in registry.architectures if n.startswith(prefix)]
    assert all(registry.unavailable_reason(n) for n in registry.list_models(prefix + "*"))
    others = [n for n in registry.architectures if registry.unavailable_reason(n) is None]
    assert "mask-inference" in others and len(others) >= 10
    for name in others:
        assert isinstance(tiny_config(name, registry).build(), Separator), name


@pytest.mark.parametrize(("package", "library", "model"), ADAPTERS)
def test_missing_library_marks_only_its_models_unavailable(monkeypatch, package, library, model):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == library else real(name, *a, **k))
    registry = Registry()
    plugin = registry.plugin_of(model)
    assert registry.unavailable_reason(model) == f"{library} not installed (needed by plugin {plugin})"
    with pytest.raises(SeparenaError, match=f"unavailable: {library} not installed"):
        registry.create_model(model)
    assert registry.unavailable_reason("mask-inference") is None
    assert isinstance(tiny_config("mask-inference", registry).build(), Separator)
