"""Headwater connector for an HR API: employees over an API key with offset pagination."""

__version__ = "0.1.0"
