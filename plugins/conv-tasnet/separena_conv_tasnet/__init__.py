"""separena plugin: Conv-TasNet and DPRNN-TasNet, time-domain learned-filterbank separators."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="conv-tasnet",
            build="separena_conv_tasnet.conv_tasnet:conv_tasnet",
            family="mask",
            tasks=("speech",),
            objective="pit-si-sdr",
            reference="Luo & Mesgarani, IEEE/ACM TASLP 2019 (arXiv:1809.07454)",
            summary="learned filterbank -> dilated temporal conv net (TCN) -> masks -> transposed-conv decoder",
            test_params={"n_filters": 16, "filter_length": 16, "bottleneck_size": 8, "hidden_size": 16,
                         "skip_size": 8, "kernel_size": 3, "num_blocks": 2, "num_repeats": 1},
        ),
        ArchitectureSpec(
            name="dprnn-tasnet",
            build="separena_conv_tasnet.dprnn_tasnet:dprnn_tasnet",
            family="mask",
            tasks=("speech",),
            objective="pit-si-sdr",
            reference="Luo, Chen & Yoshioka, ICASSP 2020 (arXiv:1910.06379)",
            summary="learned filterbank -> dual-path (intra/inter-chunk) BLSTM -> gated masks -> decoder",
            test_params={"n_filters": 16, "filter_length": 16, "bottleneck_size": 8, "hidden_size": 8,
                         "chunk_size": 20, "num_repeats": 1},
        ),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
