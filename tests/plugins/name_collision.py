"""A plugin that registers an architecture name another plugin already has."""

from separena import ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architectures():
    return [ArchitectureSpec(name="tiny-masker", build="x:y", family="mask", summary="collides")]
