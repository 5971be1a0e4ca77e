"""Locate YAML nodes with the parser, then splice minimal text into the original string."""
