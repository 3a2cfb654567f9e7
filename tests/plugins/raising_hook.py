"""A plugin whose hook raises."""

from separena import hookimpl


@hookimpl
def separena_register_architectures():
    raise RuntimeError("boom at registration")
