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


class RetryableInput(ShotlineError):
    """This record failed for a reason of its own that may clear (its URL timed out, its server
    answered 5xx, its host did not resolve). The worker moves it to ``<topic>.retry`` with a
    delay and keeps the partition flowing; after the last attempt it goes to the DLQ with
    reason ``retries_exhausted``. Infrastructure outages stay ``TransientError``."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
