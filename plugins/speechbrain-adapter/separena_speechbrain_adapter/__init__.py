"""separena plugin: speechbrain's separation models as separena Separators (names ``speechbrain-*``).

Only specs live here; the builders import speechbrain lazily, so ``separena list`` never imports
it, and a machine without speechbrain lists these models as unavailable.
"""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl

_MODELS = "separena_speechbrain_adapter.models"
_TINY = {"n_filters": 8, "filter_length": 16}


def _spec(name: str, build: str, reference: str, summary: str, **kwargs: object) -> ArchitectureSpec:
    # Every model here masks speechbrain's learned encoder and decodes the masked representation:
    # family "mask", as the native conv-tasnet and dprnn-tasnet (separena.specs.FAMILY_RULES).
    return ArchitectureSpec(name=name, build=f"{_MODELS}:{build}", family="mask", tasks=("speech",),
                            objective="pit-si-sdr", requires=("speechbrain",), reference=reference,
                            summary=summary, **kwargs)


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        _spec("speechbrain-sepformer", "sepformer",
              "Subakan et al., ICASSP 2021 (arXiv:2010.13154); speechbrain.lobes.models.dual_path",
              "speechbrain SepFormer: learned encoder -> dual-path (intra/inter-chunk) transformers -> masks",
              test_params={**_TINY, "chunk_size": 10, "num_repeats": 1, "num_layers": 1, "num_heads": 2,
                           "ffn_size": 8}),
        _spec("speechbrain-resepformer", "resepformer",
              "Subakan et al., ICASSP 2024 (arXiv:2206.09507); speechbrain.lobes.models.resepformer",
              "speechbrain ReSepFormer: learned encoder -> segment transformers + averaged-memory transformer -> masks",
              test_params={**_TINY, "chunk_size": 10, "num_blocks": 2, "num_layers": 1, "num_heads": 2,
                           "ffn_size": 8}),
        _spec("speechbrain-skim", "skim",
              "Li et al., ICASSP 2022 (arXiv:2201.10800); speechbrain.lobes.models.resepformer (SegLSTM, MemLSTM)",
              "speechbrain SkiM: learned encoder -> segment LSTMs with memory LSTMs across segments -> masks",
              test_params={**_TINY, "chunk_size": 10, "num_blocks": 2, "hidden_size": 8}),
        _spec("speechbrain-conv-tasnet", "conv_tasnet",
              "Luo & Mesgarani, IEEE/ACM TASLP 2019 (arXiv:1809.07454); speechbrain.lobes.models.conv_tasnet",
              "speechbrain Conv-TasNet: learned encoder -> dilated TCN -> masks -> learned decoder",
              test_params={**_TINY, "bottleneck_size": 8, "hidden_size": 8, "num_blocks": 2, "num_repeats": 1}),
        _spec("speechbrain-dprnn", "dprnn",
              "Luo, Chen & Yoshioka, ICASSP 2020 (arXiv:1910.06379); speechbrain.lobes.models.dual_path",
              "speechbrain DPRNN: learned encoder -> dual-path (intra/inter-chunk) BLSTMs -> masks",
              test_params={**_TINY, "bottleneck_size": 8, "hidden_size": 8, "chunk_size": 10, "num_repeats": 1,
                           "num_layers": 2}),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
