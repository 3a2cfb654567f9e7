"""separena: a plugin registry of deep audio source separation architectures, and the arena
in which they are benchmarked against each other.

Write a plugin by implementing hooks from :mod:`separena.hookspecs` with :data:`hookimpl`,
and expose it through an entry point in the ``separena`` group::

    [project.entry-points.separena]
    my-plugin = "separena_my_plugin"

Then ``separena list`` shows its architectures and ``separena bench`` can benchmark them.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    AudioFileError, CheckpointError, PluginError, RegistryFileError, SeparenaError, TrainingError,
    UnknownNameError,
)
from .hookspecs import hookimpl
from .model import MaskSeparator, Separator, SeparatorOutput, separate, separate_channels, separate_in_chunks
from .registry import ModelConfig, PluginInfo, Registry, default_registry
from .specs import ArchitectureSpec, Budget, DatasetSpec, LossSpec, Preset, Suite

__version__ = "0.1.0"

__all__ = [
    "hookimpl", "Registry", "default_registry", "ModelConfig", "PluginInfo",
    "ArchitectureSpec", "LossSpec", "DatasetSpec", "Preset", "Suite", "Budget",
    "Separator", "SeparatorOutput", "MaskSeparator", "separate", "separate_in_chunks", "separate_channels",
    "create_model", "list_models", "list_architectures",
    "SeparenaError", "UnknownNameError", "RegistryFileError", "PluginError", "CheckpointError",
    "AudioFileError", "TrainingError",
]


def create_model(name: str, **overrides: Any) -> Separator:
    """Build the preset ``name`` from the default registry, with parameter overrides."""
    return default_registry().create_model(name, **overrides)


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Preset names in the default registry matching an fnmatch ``pattern`` (and a task)."""
    return default_registry().list_models(pattern, task=task)


def list_architectures() -> list[str]:
    """Architecture names in the default registry."""
    return sorted(default_registry().architectures)
