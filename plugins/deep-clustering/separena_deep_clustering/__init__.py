"""separena plugin: deep clustering (DPCL) and Chimera++."""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl

_TEST_PARAMS = {"hidden_size": 8, "num_layers": 1, "n_fft": 64, "hop_length": 16, "embedding_dim": 4}


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec(
            name="deep-clustering",
            build="separena_deep_clustering.model:deep_clustering",
            family="embedding",
            tasks=("speech",),
            objective="deep-clustering",
            reference="Hershey et al., ICASSP 2016 (arXiv:1508.04306); weights: Wang et al., ICASSP 2018",
            summary="log-magnitude -> norm -> BLSTM -> unit-norm TF embeddings; k-means (soft or binary) masks",
            test_params=_TEST_PARAMS,
        ),
        ArchitectureSpec(
            name="chimera-pp",
            build="separena_deep_clustering.model:chimera_pp",
            family="mask",  # its mask head makes the estimates; the embedding head is a training aid
            tasks=("speech",),
            objective={"deep-clustering": 0.5, "pit-si-sdr": 0.5},
            reference="Wang, Le Roux, Hershey, ICASSP 2018 (Chimera++)",
            summary="shared BLSTM trunk with embedding and mask heads; the mask head separates",
            test_params=_TEST_PARAMS,
        ),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
