"""Annotated training-corpus builder for Arabic event models."""

__version__ = "0.1.0"
