"""The connector template: which template file becomes which file, and rendering.

The templates are package data (``template/``, shipped in the wheel) rendered with
:class:`string.Template`: ``${name}`` placeholders, ``$$`` for a literal ``$``. They end
in ``.tmpl`` so that neither ruff nor pytest nor the build mistakes them for code.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import PurePosixPath
from string import Template

from attrs import frozen

from headwater import __version__
from headwater.scaffold.names import distribution_name

__all__ = ["MANIFEST", "Names", "render"]

#: Each template file (under ``template/``) and the path it is written to in the new
#: distribution; ``{package}`` is the import package's name.
MANIFEST: tuple[tuple[str, str], ...] = (
    ("pyproject.toml.tmpl", "pyproject.toml"),
    ("README.md.tmpl", "README.md"),
    ("gitignore.tmpl", ".gitignore"),
    ("package/__init__.py.tmpl", "src/{package}/__init__.py"),
    ("package/hooks.py.tmpl", "src/{package}/hooks.py"),
    ("package/settings.json.tmpl", "src/{package}/settings.json"),
    ("package/schemas/items.json.tmpl", "src/{package}/schemas/items.json"),
    ("tests/conftest.py.tmpl", "tests/conftest.py"),
    ("tests/test_conformance.py.tmpl", "tests/test_conformance.py"),
    ("tests/test_connector.py.tmpl", "tests/test_connector.py"),
)


@frozen
class Names:
    """Every spelling of a connector's name that the templates use."""

    name: str

    @property
    def package(self) -> str:
        """The import package: ``headwater_<name>``."""
        return f"headwater_{self.name}"

    def placeholders(self) -> dict[str, str]:
        """The values of the templates' placeholders."""
        return {
            "name": self.name,
            "distribution": distribution_name(self.name),
            "package": self.package,
            # the Connector's module constant, as our connectors name theirs (HR, DIRECTORY)
            "constant": self.name.upper(),
            "upper_name": self.name.upper(),
            "class_name": "".join(part.capitalize() for part in self.name.split("_")),
            # what the generated distribution requires: at least the Headwater generating it
            "core_version": __version__,
        }


def render(names: Names) -> Mapping[PurePosixPath, str]:
    """The new distribution's files: relative path -> text, in :data:`MANIFEST` order."""
    root = resources.files("headwater.scaffold").joinpath("template")
    values = names.placeholders()
    files: dict[PurePosixPath, str] = {}
    for source, target in MANIFEST:
        text = root.joinpath(source).read_text(encoding="utf-8")
        files[PurePosixPath(target.format(package=names.package))] = Template(text).substitute(
            values
        )
    return files
