"""The hooks a separena plugin may implement: the plugin author's whole API.

A plugin is a module (or any object) whose functions are marked with
:data:`separena.hookimpl` and named after the specs below. Package it with an entry point
in the ``separena`` group::

    # pyproject.toml of the plugin
    [project.entry-points.separena]
    my-plugin = "separena_my_plugin"

or load it during development with ``separena --plugin my_module ...`` or
``SEPARENA_PLUGINS=my_module``. Every hook takes no arguments and returns data; none has
side effects, and the registry calls each plugin's implementation on its own, so one
plugin that raises or returns the wrong type is reported as failed and nothing else breaks.
A function marked with :data:`separena.hookimpl` whose name matches none of the specs (a typo
such as ``separena_register_architecture``) fails its plugin at registration, with the hook's
name and the closest known one.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .specs import ArchitectureSpec, DatasetSpec, LossSpec, MetricSpec

hookspec = pluggy.HookspecMarker("separena")
hookimpl = pluggy.HookimplMarker("separena")


@hookspec
def separena_register_architectures() -> Sequence[ArchitectureSpec]:
    """Return the architectures this plugin provides.

    Called once per :class:`~separena.Registry` when it first collects plugins. Return a
    list of :class:`~separena.ArchitectureSpec`; give ``build`` as a ``"module:attr"``
    string: registering then imports only the plugin's top-level module, and the builder's
    module (the model code and its dependencies) is imported later, when the registry checks
    presets against the builder's signature or builds a model. A builder module that fails
    to import does not fail the plugin's registration: the error comes when the model is
    built. Each architecture is also a preset of the same name built from the builder's
    defaults. Its ``family`` follows
    the rule in :data:`separena.specs.FAMILY_RULES` (how the estimates are made), so the same
    architecture has one family whichever plugin provides it.

    Example::

        @hookimpl
        def separena_register_architectures():
            return [ArchitectureSpec(name="my-net", build="my_pkg.model:my_net",
                                     family="mask", summary="...", reference="...")]

    .. versionadded:: 0.1
    """


@hookspec
def separena_register_losses() -> Sequence[LossSpec]:
    """Return training losses, referenced by name from ``ArchitectureSpec.objective``.

    A loss is ``fn(output, sources, model) -> scalar tensor``: ``output`` is the
    :class:`~separena.SeparatorOutput` of a training batch, ``sources`` the references
    ``[batch, n_src, time]``, ``model`` the :class:`~separena.Separator` (for spectral
    targets). Lower is better.

    .. versionadded:: 0.1
    """


@hookspec
def separena_register_metrics() -> Sequence[MetricSpec]:
    """Return metrics that suites in ``registry.yaml`` can list under ``metrics:``.

    A metric is ``fn(estimates, references, sample_rate) -> [n_src]`` over one mixture's
    estimates, already matched to the references (:class:`~separena.specs.MetricSpec`).
    The core registers ``si-sdr``, ``si-sdri``, ``sdri``, ``stoi``, ``stoi-i``, ``pesq`` and
    ``pesq-i``; every benchmark run scores the metrics its suite lists, and the leaderboard
    shows one column per metric.

    .. versionadded:: 0.1
    """


@hookspec
def separena_register_datasets() -> Sequence[DatasetSpec]:
    """Return datasets that suites in ``registry.yaml`` can name.

    ``DatasetSpec.build(**params)`` returns a :class:`separena.data.SeparationData`.

    .. versionadded:: 0.1
    """


@hookspec
def separena_preset_files() -> Sequence[Traversable | Path]:
    """Return YAML files of presets and suites that this plugin ships.

    Every plugin ships the presets of its own architectures this way (the core
    ``registry.yaml`` holds the suites). Use ``importlib.resources.files(__package__) /
    "presets.yaml"`` and list the file as package data. They are layered after the core
    ``registry.yaml`` and before the user's ``--registry`` files.

    .. versionadded:: 0.1
    """
