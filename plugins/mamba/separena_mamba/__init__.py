"""separena plugin: selective state-space (Mamba) layers in mask inference, in a dual-path network and in
TF-GridNet's grid."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="mamba-mask-inference",
            build="separena_mamba.model:mamba_mask_inference",
            family="mask",
            tasks=("speech", "music"),
            objective="pit-si-sdr",
            requires=("mambapy",),
            reference="Gu & Dao, arXiv:2312.00752 (Mamba); Jiang, Han & Mesgarani, arXiv:2403.18257 "
                      "(bidirectional Mamba for separation)",
            summary="log-magnitude -> norm -> (bidirectional) Mamba stack -> mask, applied to the mixture STFT",
            test_params={"d_model": 8, "num_layers": 1, "d_state": 4, "n_fft": 64, "hop_length": 16},
        ),
        ArchitectureSpec(
            name="dpmamba",
            build="separena_mamba.dpmamba:dpmamba",
            family="mask",
            tasks=("speech",),
            objective="pit-si-sdr",
            requires=("mambapy",),
            reference="Jiang, Han & Mesgarani, arXiv:2403.18257 (dual-path Mamba)",
            summary="learned filterbank -> chunks -> dual-path bidirectional Mamba blocks -> masks -> decoder",
            test_params={"n_filters": 16, "filter_length": 16, "d_model": 8, "num_repeats": 1, "d_state": 4,
                         "chunk_size": 10},
        ),
        ArchitectureSpec(
            name="spmamba",
            build="separena_mamba.spmamba:spmamba",
            family="waveform",
            tasks=("speech",),
            objective="pit-si-sdr",
            requires=("mambapy",),
            reference="Li, Chen & Hu, arXiv:2404.02063 (SPMamba)",
            summary="complex STFT (RI channels) -> grid blocks (bidirectional Mamba over frequency and over time, "
                    "cross-frame attention) -> complex spectral mapping -> iSTFT",
            test_params={"n_fft": 32, "hop_length": 8, "embed_dim": 8, "kernel_size": 2, "stride": 1, "d_model": 8,
                         "d_state": 4, "expand": 2, "num_blocks": 1, "num_heads": 2, "attention_dim": 2},
        ),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
