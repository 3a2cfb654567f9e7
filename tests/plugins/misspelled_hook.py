"""A plugin whose hook name is misspelled (no trailing s): it must fail, not register silently."""

from separena import ArchitectureSpec, hookimpl


@hookimpl
def separena_register_architecture():
    return [ArchitectureSpec(name="never-seen", build="x:y", family="mask", summary="misspelled hook")]
