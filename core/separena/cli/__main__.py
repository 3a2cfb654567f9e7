"""``python -m separena.cli``: the command line (``torchrun ... -m separena.cli train NAME`` too)."""

from . import main

main()
