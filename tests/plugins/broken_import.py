"""A plugin that fails at import time."""

import separena_this_module_does_not_exist  # noqa: F401
