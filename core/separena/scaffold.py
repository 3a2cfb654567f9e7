"""Scaffold a new plugin package (``separena new-plugin``) from the templates in
``separena/templates/plugin``: files named ``*.tmpl`` are rendered with :class:`string.Template`
and the ``package`` folder becomes the plugin's import package.

The result is an installable plugin that passes the contract kit as generated::

    my-net/
      pyproject.toml            # entry point: [project.entry-points.separena] my-net = "separena_my_net"
      README.md
      separena_my_net/__init__.py   # the ArchitectureSpec and the preset-file hook
      separena_my_net/model.py      # a small recurrent mask model from core blocks
      separena_my_net/presets.yaml  # the my-net-small preset
      separena_my_net/py.typed
      tests/test_contract.py        # the contract kit, two lines
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import string
import tempfile
from importlib.abc import Traversable
from importlib.resources import files
from pathlib import Path

from .errors import SeparenaError

__all__ = ["plugin_names", "new_plugin"]

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PACKAGE_DIR = "package"  # template folder renamed to the plugin's import package


def plugin_names(name: str) -> dict[str, str]:
    """The names derived from a plugin name, as template variables; raise if it is not valid.

    ``"demo-net"`` gives ``name="demo-net"``, ``dist="separena-demo-net"``,
    ``package="separena_demo_net"``, ``builder="demo_net"``, ``class_prefix="DemoNet"``.
    """
    if not _KEBAB.match(name):
        raise SeparenaError(f"new-plugin NAME: expected kebab-case starting with a letter, e.g. 'my-net', got {name!r}")
    if name.startswith("separena-"):
        raise SeparenaError(f"new-plugin NAME: expected the name without the 'separena-' prefix, got {name!r}")
    builder = name.replace("-", "_")
    if keyword.iskeyword(builder):
        raise SeparenaError(f"new-plugin NAME: expected a name that is not a Python keyword, got {name!r}")
    return {
        "name": name, "dist": f"separena-{name}", "package": f"separena_{builder}", "builder": builder,
        "class_prefix": "".join(part.capitalize() for part in name.split("-")),
    }


def _templates(root: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    out = []
    for item in sorted(root.iterdir(), key=lambda t: t.name):
        if item.is_dir():
            out.extend(_templates(item, (*prefix, item.name)))
        elif item.name.endswith(".tmpl"):
            out.append(((*prefix, item.name.removesuffix(".tmpl")), item))
    return out


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the plugin package ``directory/name`` and return its path.

    Everything is rendered in a temporary folder next to the target and moved into place at
    the end, so a failure leaves nothing half-written. Raises :class:`SeparenaError` for an
    invalid name or an existing target (nothing is overwritten).
    """
    values = plugin_names(name)
    target = Path(directory) / name
    if target.exists():
        raise SeparenaError(f"new-plugin: {target} already exists; expected a new directory (nothing was written)")
    rendered = {}
    for parts, template in _templates(files("separena") / "templates" / "plugin"):
        parts = tuple(values["package"] if p == _PACKAGE_DIR else p for p in parts)
        rendered[Path(*parts)] = string.Template(template.read_text(encoding="utf-8")).substitute(values)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        for relative, text in rendered.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            (staging / relative).write_text(text, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it private
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
