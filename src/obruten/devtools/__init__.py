"""Tooling for demos and development: the synthetic region and the demo launcher."""
