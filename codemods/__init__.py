"""Byte-exact, Jinja-aware codemods that repair the litellm migration Job in Flux repositories."""

__version__ = "0.1.0"
