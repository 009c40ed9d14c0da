"""The chaos run's tables (Markdown, so the README can take them as they are)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class VideoResult:
    video_id: str
    kind: str
    fault: str
    expected: int
    found: int
    duplicated: int
    complete: bool
    categories: bool
    delay_s: float | None
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


@dataclass
class BadResult:
    video_id: str
    fault: str
    expected_reason: str
    dlq_reasons: list[str]
    attempts_seen: int  # requests the fault server saw, or retry-topic records


@dataclass
class FaultRow:
    fault: str
    target: str
    recovered_s: float | None
    outcome: str


def md_table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def summary_table(plan_name: str, faults: list[FaultRow], videos: list[VideoResult], bad: list[BadResult],
                  lagging: int, wall_s: float) -> str:
    delays = [v.delay_s for v in videos if v.delay_s is not None]
    row = [
        plan_name, len(faults), f"{len(videos)} good + {len(bad)} bad",
        sum(v.expected for v in videos), sum(v.found for v in videos), sum(v.duplicated for v in videos),
        f"{sum(v.complete for v in videos)}/{len(videos)}", f"{sum(v.categories for v in videos)}/{len(videos)}",
        f"{sum(b.dlq_reasons == [b.expected_reason] * len(b.dlq_reasons) and bool(b.dlq_reasons) for b in bad)}"
        f"/{len(bad)}",
        lagging, f"{max(delays):.1f} s" if delays else "n/a", f"{wall_s:.0f} s",
    ]
    return md_table(["run", "faults injected", "videos", "shots expected", "found", "duplicated", "complete",
                     "categories", "bad in DLQ (reason ok)", "lagging partitions", "max upload→complete",
                     "wall"], [row])


def faults_table(faults: list[FaultRow]) -> str:
    return md_table(["fault", "target", "healthy again after", "outcome"],
                    [[f.fault, f.target, f"{f.recovered_s:.1f} s" if f.recovered_s is not None else "-", f.outcome]
                     for f in faults])


def problem_videos_table(videos: list[VideoResult]) -> str:
    rows = [[v.video_id, v.kind, v.fault or "-", v.expected, v.found, v.duplicated,
             "yes" if v.complete else "NO", "yes" if v.categories else "NO",
             ",".join(v.missing[:4]) + ("…" if len(v.missing) > 4 else "") or "-"]
            for v in videos
            if v.found != v.expected or v.duplicated or not v.complete or not v.categories or v.extra]
    if not rows:
        return "(every good video: expected shots, no duplicates, complete, categories stored)"
    return md_table(["video", "kind", "fault", "expected", "found", "dup", "complete", "categories",
                     "missing shots"], rows)


def write_json(path: Path, **parts: object) -> None:
    def conv(o: object) -> object:
        if isinstance(o, list):
            return [conv(x) for x in o]
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)  # type: ignore[arg-type]
        return o

    path.write_text(json.dumps({k: conv(v) for k, v in parts.items()}, indent=2, default=str))
