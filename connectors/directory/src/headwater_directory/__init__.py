"""Headwater connector for a directory API: users over OAuth2 with offset pagination."""

__version__ = "0.1.0"
