"""separena: a plugin registry of deep audio source separation architectures, and the arena
in which they are benchmarked against each other.

Write a plugin by implementing hooks from :mod:`separena.hookspecs` with :data:`hookimpl`,
and expose it through an entry point in the ``separena`` group::

    [project.entry-points.separena]
    my-plugin = "separena_my_plugin"

Then ``separena list`` shows its architectures and ``separena bench`` can benchmark them.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from .errors import (
    AudioFileError, CheckpointError, PluginError, RegistryFileError, SeparenaError, TrainingError,
    UnknownNameError,
)
from .hookspecs import hookimpl
from .registry import ModelConfig, PluginInfo, Registry, default_registry
from .specs import STEM_OBJECTIVE, ArchitectureSpec, Budget, DatasetSpec, LossSpec, Preset, Suite

if TYPE_CHECKING:
    from .model import (
        MaskSeparator, Separator, SeparatorOutput, separate, separate_audio, separate_channels, separate_in_chunks,
    )
    from .streaming import StreamingSeparator, separate_streaming

__version__ = version("separena")  # pyproject.toml's, as installed

__all__ = [
    "hookimpl", "Registry", "default_registry", "ModelConfig", "PluginInfo",
    "ArchitectureSpec", "LossSpec", "DatasetSpec", "Preset", "Suite", "Budget", "STEM_OBJECTIVE",
    "Separator", "SeparatorOutput", "MaskSeparator", "separate", "separate_in_chunks", "separate_channels",
    "separate_audio", "StreamingSeparator", "separate_streaming",
    "create_model", "pretrained", "from_checkpoint", "list_models", "list_architectures",
    "SeparenaError", "UnknownNameError", "RegistryFileError", "PluginError", "CheckpointError",
    "AudioFileError", "TrainingError",
]


def create_model(name: str, **overrides: Any) -> Separator:
    """Build the preset ``name`` from the default registry, with parameter overrides."""
    return default_registry().create_model(name, **overrides)


def pretrained(name: str, device: str = "cpu") -> Separator:
    """Model ``name`` with the weights published with separena (``published/``), ready to
    separate (eval mode): no training, nothing downloaded.

    These are the weights ``separena separate NAME`` uses (the published run of the preset
    trained with the most compute; ``separena list`` marks which presets have some). The file
    must be the one published (sha256) and of the preset's architecture and configuration.
    ``model.source_names`` names the sources where the data had roles (music stems).

    Raises:
        SeparenaError: no weights are published for ``name`` (oracles and the mixture baseline
            need none: :func:`create_model`), or they are not of the preset as registered.
        UnknownNameError: no preset ``name``.
    """
    from .bench.published import PublishedStore, default_published_dir, load_published

    registry = default_registry()
    published = PublishedStore(default_published_dir())
    config = registry.model_config(name)
    if published.weights_for(config.name) is None:
        need = "needs none: use create_model" if not config.trainable else "train it: `separena train`"
        raise SeparenaError(f"model {config.name!r} has no published weights in {published.folder} ({need})")
    return load_published(published, registry, config.name, device)[1].eval()


def from_checkpoint(path: str | os.PathLike[str], device: str = "cpu") -> Separator:
    """The model a ``separena train -o PATH`` checkpoint holds, ready to separate (eval mode).

    Loaded with ``weights_only=True``; the file's digest is checked and its model rebuilt
    from the configuration it records (any preset of any registered architecture).

    Raises:
        CheckpointError: a missing, modified, unsafe or foreign file, or weights that do not
            fit the recorded configuration.
    """
    from .checkpoints import load_checkpoint

    return load_checkpoint(path, default_registry(), device=device)[1].eval()


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Preset names in the default registry matching an fnmatch ``pattern`` (and a task)."""
    return default_registry().list_models(pattern, task=task)


def list_architectures() -> list[str]:
    """Architecture names in the default registry."""
    return sorted(default_registry().architectures)


# Names whose modules import torch, imported on first use: a plugin's hooks, the registry and
# the command line's help, listings and completion then start without torch's second of import.
# The two modules themselves (``separena.model``) stay reachable as attributes, as they were.
_TORCH_NAMES = {
    "MaskSeparator": "model", "Separator": "model", "SeparatorOutput": "model", "separate": "model",
    "separate_audio": "model", "separate_channels": "model", "separate_in_chunks": "model",
    "StreamingSeparator": "streaming", "separate_streaming": "streaming",
}
_TORCH_MODULES = ("model", "streaming")


def __getattr__(name: str) -> Any:
    if name in _TORCH_MODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'separena' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))
