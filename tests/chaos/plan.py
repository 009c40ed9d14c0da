"""What one chaos run injects. `SHORT` runs inside `make test`; `FULL` is `make chaos` (CHAOS_FULL=1).

A run is: a calm head-of-line phase (an unreachable-URL upload, then good videos on the same
partition behind it), then waves; each wave publishes its share of the clips plus its per-record
faults and, once the wave's videos reach the disrupted stage, SIGKILLs that service or restarts
that piece of infrastructure.

Per-record faults:
- `unreachable`: http://127.0.0.1:9/x.mp4 (refused)       → DLQ, reason retries_exhausted
- `5xx`: a loopback server answering 503                    → DLQ, reason retries_exhausted
- `stall`: a slow drip that outlasts the download deadline  → DLQ, reason retries_exhausted
- `corrupt`: a real clip with its header overwritten        → DLQ, the offline decode reason
- `drip`: a real clip served slowly (longer than the max poll interval) → indexed exactly
- `tail:N`: N frames + a 1-frame last shot                   → indexed exactly, tail shot included
- `long`: a video whose segmenting outlasts the max poll interval → indexed exactly
"""

from __future__ import annotations

import os
from dataclasses import dataclass

BAD_FAULTS = {"unreachable", "5xx", "stall", "corrupt"}


@dataclass(frozen=True)
class Wave:
    disruption: str  # "kill:<service>" | "restart:<kafka|milvus|redis>"
    faults: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    name: str
    clips: int  # plain clips (the special videos come on top)
    lengths: tuple[float, ...]  # seconds
    widths: tuple[int, ...]  # pixels (height keeps the aspect ratio)
    hol_followers: int  # good videos published behind the unreachable upload on its partition
    waves: tuple[Wave, ...]
    settle_timeout_s: float  # after the last fault, how long everything may take to finish
    hol_limit_s: float = 60.0  # the videos behind an unreachable upload are indexed within this
    retry_delays_s: str = "1,2"  # SHOTLINE_RECORD_RETRY_DELAYS_SECONDS of the chaos stack
    partitions: int = 4

    @property
    def faults(self) -> list[str]:
        return ["unreachable"] + [f for w in self.waves for f in w.faults]

    @property
    def disruptions(self) -> list[str]:
        return [w.disruption for w in self.waves]


SHORT = Plan(
    name="short", clips=11, lengths=(1.0, 1.5, 2.0), widths=(160, 192, 224, 256), hol_followers=2,
    waves=(Wave("kill:segmenter", ("tail:49",)),),
    settle_timeout_s=120,
)

FULL = Plan(
    name="full", clips=50, lengths=(1.0, 2.0, 3.0, 4.0), widths=(160, 224, 288, 352), hol_followers=3,
    waves=(
        Wave("kill:segmenter", ("5xx",)),
        Wave("kill:encoder", ("tail:49",)),
        Wave("kill:indexer", ("drip",)),
        Wave("kill:scorer", ("corrupt",)),
        Wave("restart:kafka", ("long",)),
        Wave("restart:milvus", ("tail:62", "stall")),
        Wave("restart:redis", ("unreachable",)),
    ),
    settle_timeout_s=360,
)


def chosen() -> Plan:
    return FULL if os.environ.get("CHAOS_FULL", "") not in ("", "0") else SHORT
