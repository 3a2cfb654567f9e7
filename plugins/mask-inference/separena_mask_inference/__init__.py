"""separena plugin: the mask-inference BLSTM separator."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="mask-inference",
            build="separena_mask_inference.model:mask_inference",
            family="mask",
            tasks=("speech", "music"),
            objective="pit-si-sdr",
            reference="Huang et al., ICASSP 2014; Hershey et al., ICASSP 2016 (mask-inference baseline)",
            summary="log-magnitude -> norm -> BLSTM stack -> mask, applied to the mixture STFT",
            test_params={"hidden_size": 8, "num_layers": 1, "n_fft": 64, "hop_length": 16},
        )
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
