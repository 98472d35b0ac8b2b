"""``genstudio plugins new NAME``: a plugin package that installs, passes its tests and trains.

The files come from ``template/`` beside this module, with ``{{name}}``-style fields filled
in: ``pyproject.toml`` (the ``genstudio`` entry point), the package ``genstudio_NAME``
(``__init__.py`` declares the family without importing torch, ``model.py`` is its class: a
Gaussian mixture fitted by maximum likelihood), ``tests/test_NAME.py`` (on the
``genstudio.testing`` fixtures) and a ``README.md``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from genstudio import __version__
from genstudio.api import GenStudioError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

#: template file -> the file it becomes, with the same fields filled in as its text
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "plugin.py.tmpl": "{{module}}/__init__.py",
    "model.py.tmpl": "{{module}}/model.py",
    "tests/test_plugin.py.tmpl": "tests/test_{{test_name}}.py",
}


class ScaffoldError(GenStudioError):
    pass


def fields(name: str) -> dict[str, str]:
    """What the templates' ``{{field}}`` markers become for a plugin called ``name``."""
    if not NAME_RE.match(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use lowercase letters and digits, words joined by '-' or '_', "
            "starting with a letter (it becomes the model family's name too)"
        )
    words = re.split(r"[-_]", name)
    snake = "_".join(words)
    return {
        "name": name,
        "dist": f"genstudio-{name}",
        "module": f"genstudio_{snake}",
        "test_name": snake,
        # a suffix no genstudio.api name has, so the class never shadows an import
        "class": "".join(w.capitalize() for w in words) + "Mixture",
        "title": " ".join(words).capitalize() + " (Gaussian mixture)",
        "genstudio_version": __version__,
    }


def fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)


def create_plugin(name: str, parent: str | Path = ".") -> Path:
    """Write the package ``genstudio-NAME`` into ``parent`` and return its folder.

    Raises :class:`ScaffoldError` for a bad name or a folder that exists and is not empty."""
    values = fields(name)
    folder = Path(parent).expanduser().resolve() / values["dist"]
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(f"{folder} already exists and is not empty")
    template = resources.files(__name__) / "template"
    for source, target in FILES.items():
        text = template.joinpath(*source.split("/")).read_text(encoding="utf-8")
        path = folder / fill(target, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fill(text, values), encoding="utf-8")
    return folder
