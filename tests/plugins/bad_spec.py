"""A plugin whose hooks break the spec in several ways."""

from separena import ArchitectureSpec, DatasetSpec, hookimpl


@hookimpl
def separena_register_architectures():
    return [
        ArchitectureSpec(name="Not_Kebab", build="x:y", family="mask", summary="bad name"),
        ArchitectureSpec(name="bad-family", build="x:y", family="magic", summary="bad family"),
        ArchitectureSpec(name="fine-one", build="separena_fixture_missing:build", family="mask",
                         summary="valid spec whose builder cannot be imported", requires=("separena_nope",)),
    ]


@hookimpl
def separena_register_losses():
    return ["not a LossSpec"]


@hookimpl
def separena_register_datasets():
    return [DatasetSpec(name="stems-with-paths", build="x:y", summary="source names that are paths",
                        source_names=("../vocals", "bass"))]
