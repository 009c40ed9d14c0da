"""Error taxonomy shared by every service.

The worker loop decides what to do with a failure by its type:
- ``BadInput``: the message itself can never succeed (corrupt video, malformed event) →
  error event + dead-letter topic, commit, move on.
- ``TransientError``: the world is temporarily broken (Milvus down, Redis timeout) →
  bounded retries with backoff, then the process fails *without committing*.
"""

from __future__ import annotations


class ShotlineError(Exception):
    """Base class for errors raised on purpose by Shotline code."""


class BadInput(ShotlineError):
    """Input that can never be processed. ``reason`` is a short, bounded label (a metric label)."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class TransientError(ShotlineError):
    """A fault expected to clear by itself (dependency unavailable, timeout)."""
