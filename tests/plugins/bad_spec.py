"""A plugin whose hooks break the spec in several ways."""

from separena import ArchitectureSpec, hookimpl


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
