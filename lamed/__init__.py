"""Lamed: a self-hosted A/B testing backend that counts each event exactly once."""

__version__ = "2.0.0"
