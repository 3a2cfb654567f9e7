"""separena plugin: oracle masks and the unprocessed mixture, the bounds of every leaderboard.

The oracles read the reference sources (``needs_references = True``), so they show how far
a mask on this STFT can go; ``mixture`` returns the input unchanged, the 0 dB SI-SDRi floor.
None of them is trained. This file holds only hook implementations and specs, so that
registering the plugin imports no model code: each ``build`` is a lazy ``"module:attr"``,
imported when the registry checks presets against its signature or builds a model.

This is also the tutorial plugin: docs/plugins/writing-a-plugin.md walks through it.
"""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl

_STFT_TEST_PARAMS = {"n_fft": 64, "hop_length": 16}


def _oracle(name: str, build: str, summary: str, reference: str) -> ArchitectureSpec:
    return ArchitectureSpec(
        name=name, build=build, family="oracle", summary=summary, reference=reference,
        tasks=("speech", "music"), trainable=False, objective=None, test_params=_STFT_TEST_PARAMS,
    )


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        _oracle("oracle-ibm", "separena_oracle.masks:oracle_ibm",
                "ideal binary mask: each TF bin goes to the loudest reference source",
                "Wang, 'On ideal binary mask as the computational goal of auditory scene analysis', 2005"),
        _oracle("oracle-irm", "separena_oracle.masks:oracle_irm",
                "ideal ratio mask |S|^p / sum |S|^p (p = power; p = 2 is Wiener-like)",
                "Narayanan & Wang, ICASSP 2013; Liutkus & Badeau, 'Generalized Wiener filtering...', ICASSP 2015"),
        _oracle("oracle-psm", "separena_oracle.masks:oracle_psm",
                "phase-sensitive mask |S|/|X| cos(angle S - angle X), truncated to [0, 1]",
                "Erdogan et al., 'Phase-sensitive and recognition-boosted speech separation...', ICASSP 2015"),
        ArchitectureSpec(
            name="mixture", build="separena_oracle.mixture:mixture", family="baseline",
            summary="the unprocessed mixture as every source estimate: the 0 dB SI-SDRi floor",
            reference="Le Roux et al., 'SDR - half-baked or well done?', ICASSP 2019 (SI-SDR improvement)",
            tasks=("speech", "music"), trainable=False, objective=None,
        ),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
