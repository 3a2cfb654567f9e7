"""separena plugin: the Open-Unmix-like music separator."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import STEM_OBJECTIVE, ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="open-unmix",
            build="separena_open_unmix.model:open_unmix",
            family="mask",
            tasks=("music", "speech"),
            objective=STEM_OBJECTIVE,
            reference="Stöter et al., JOSS 2019, 'Open-Unmix - A Reference Implementation for Music Source Separation'",
            summary="per source: band-limited magnitude -> fc/bn/tanh -> BLSTM + skip -> fc/bn x2 -> ReLU mask",
            test_params={"n_src": 2, "sample_rate": 8000, "n_fft": 64, "hop_length": 16, "bandwidth_hz": 3000.0,
                         "hidden_size": 4, "num_layers": 2},
            # The Wiener post-filter runs in eval mode only (numpy, no gradient); the kit's
            # check fingerprints train mode. tests/test_open_unmix.py checks it in eval mode.
            noop_params=("wiener_iterations",),
        )
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
