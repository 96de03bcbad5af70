"""Headwater connector for an HR API: employees over an API key with offset pagination."""

from importlib.metadata import version

#: The installed distribution's version: written once, in pyproject.toml.
__version__ = version("headwater-hr")
