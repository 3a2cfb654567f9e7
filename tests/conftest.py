from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from separena import Registry

PLUGIN_DIR = Path(__file__).parent / "plugins"

# A test run started in the background by a script (`make test &`, nohup) inherits SIGINT
# ignored, and would pass that on to every process it starts; the Ctrl-C tests need what a
# terminal gives (the tests of an ignored SIGINT set it themselves).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # Two cores, several test processes: one thread keeps timings steady and tests fast.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_published_weights(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Commands fall back to the weights published with the repository; a test sees them only
    # where it asks for them (tests/test_published.py), so what is published changes no other test.
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(tmp_path_factory.getbasetemp() / "nothing-published"))


@pytest.fixture
def fixture_plugin() -> callable:
    """Path of a fixture plugin file under tests/plugins/."""
    return lambda name: str(PLUGIN_DIR / f"{name}.py")


@pytest.fixture
def bare_registry() -> Registry:
    """A registry with only the core's builtin plugin: no entry points, no core registry.yaml."""
    return Registry(entry_points=False, core_registry=False)
