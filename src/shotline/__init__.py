"""Shotline: streaming video understanding — shared library used by every service."""

__version__ = "0.1.0"
