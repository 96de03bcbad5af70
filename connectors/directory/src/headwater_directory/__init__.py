"""Headwater connector for a directory API: users over OAuth2 with offset pagination."""

from importlib.metadata import version

#: The installed distribution's version: written once, in pyproject.toml.
__version__ = version("headwater-directory")
