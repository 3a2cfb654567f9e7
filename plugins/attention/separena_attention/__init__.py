"""separena plugin: SepFormer and TF-GridNet, separators built around self-attention."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="sepformer",
            build="separena_attention.sepformer:sepformer",
            family="mask",
            tasks=("speech",),
            objective="pit-si-sdr",
            reference="Subakan, Ravanelli, Cornell, Bronzi & Zhong, ICASSP 2021 (arXiv:2010.13154)",
            summary="learned filterbank -> dual-path transformer (intra/inter-chunk) -> gated masks -> decoder",
            test_params={"n_filters": 16, "filter_length": 16, "d_model": 16, "num_heads": 2, "ffn_size": 32,
                         "num_layers": 1, "num_repeats": 1, "chunk_size": 20},
        ),
        ArchitectureSpec(
            name="tf-gridnet",
            build="separena_attention.tf_gridnet:tf_gridnet",
            family="waveform",
            tasks=("speech",),
            objective="pit-si-sdr",
            reference="Wang, Cornell, Choi, Lee, Kim & Watanabe, IEEE/ACM TASLP 2023 (arXiv:2211.12433)",
            summary="complex STFT (RI channels) -> grid blocks (sub-band BLSTM, temporal BLSTM, "
                    "cross-frame attention) -> complex spectral mapping -> iSTFT",
            test_params={"n_fft": 32, "hop_length": 8, "embed_dim": 8, "kernel_size": 2, "stride": 1,
                         "hidden_size": 8, "num_blocks": 1, "num_heads": 2, "attention_dim": 2},
        ),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
