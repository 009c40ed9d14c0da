"""Fault injection against the real stack: SIGKILL every worker service in turn, restart Kafka,
Milvus and Redis, feed unreachable / 5xx / slow / corrupt / 1-frame-tail / long videos, and
then require, per video, exactly the shots an offline `segment_video` of the same file finds.

`make test` runs the short plan (12 videos, one kill, one unreachable URL, one 1-frame tail);
`make chaos` (CHAOS_FULL=1) runs the full one (54 videos, 4 kills, 3 infrastructure restarts,
every per-record fault). The stack is its own (ports 3xxxx, its own run dir; logs under
<run dir>/logs, the report in <run dir>/chaos-report.json), so it runs beside other stacks.

Every check is collected first and asserted at the end, so one run reports all that is wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shotline.models.build_default import build_default_bundle
from shotline.stack import local
from tests.chaos import clips as clips_
from tests.chaos import faults, observe, plan, report
from tests.chaos.clips import Clip
from tests.chaos.observe import Publisher, Query, Recorder, Upload, partition_of
from tests.chaos.stackctl import ChaosStack

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

PLAN = plan.chosen()
WORKERS = ("segmenter", "encoder", "indexer", "scorer", "trainer")


def _wait(pred, timeout: float, interval: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def _build_specials(p: plan.Plan, media: Path) -> dict[str, Clip]:
    out: dict[str, Clip] = {}
    for fault in p.faults:
        if fault.startswith("tail:"):
            n = int(fault.split(":")[1])
            out[fault] = clips_.build_tail(media, f"chaos-tail{n}", n)
        elif fault == "long":
            out[fault] = clips_.build_long(media, "chaos-long0")
        elif fault == "drip":
            out[fault] = clips_.build_drip_clip(media, "chaos-drip0")
        elif fault == "stall":
            out[fault] = clips_.build_drip_clip(media, "chaos-stall0")
        elif fault == "corrupt":
            out[fault] = clips_.build_corrupt(media, "chaos-corrupt0")
    return out


@pytest.mark.timeout(3600 if PLAN.name == "full" else 900)
@pytest.mark.parametrize("p", [PLAN], ids=[PLAN.name])
def test_chaos(p: plan.Plan, tmp_path_factory: pytest.TempPathFactory) -> None:  # noqa: C901, PLR0912, PLR0915
    t_start = time.monotonic()
    problems: list[str] = []
    evidence: list[str] = []
    media = tmp_path_factory.mktemp("chaos-media")
    run_dir = tmp_path_factory.mktemp("chaos-stack")
    build_default_bundle()  # normally done by `make setup`; cached
    faults.assert_refused()

    # ---- the videos and their offline truth (before the stack: the CPU is free) ----------
    plain = clips_.build_clips(media, p.clips, p.lengths, p.widths)
    specials = _build_specials(p, media)
    long_clip = specials.get("long")
    # The segmenter's max poll interval is well under the long video's segmenting time.
    poll_s = max(5.0, min(20.0, long_clip.offline_seconds / 2)) if long_clip else 10.0
    drip_s, deadline_s = 2 * poll_s, 4 * poll_s + 5
    for clip in [*plain, *specials.values()]:
        if clip.good and not clip.covers_every_frame:
            problems.append(f"{clip.video_id} ({clip.kind}): offline shots do not cover every frame "
                            f"(last shot {clip.last_shot_frames} frames, {clip.frame_count} frames in all)")
    if long_clip and long_clip.offline_seconds <= poll_s:
        problems.append(f"setup: the long video segments in {long_clip.offline_seconds:.1f} s, not over the "
                        f"{poll_s:.1f} s max poll interval")

    server = faults.FaultServer(drip_seconds=drip_s).start()
    stack = ChaosStack(
        run_dir, partitions=p.partitions,
        env={"SHOTLINE_ALLOWED_ROOTS": f"{media}:{clips_.FIXTURES}:{run_dir.resolve()}:{Path.cwd()}",
             "SHOTLINE_RECORD_RETRY_DELAYS_SECONDS": p.retry_delays_s},
        program_env={"segmenter": {"SHOTLINE_MAX_POLL_INTERVAL_MS": str(int(poll_s * 1000)),
                                   "SHOTLINE_DOWNLOAD_DEADLINE_SECONDS": str(deadline_s)}},
    )
    rec: Recorder | None = None
    pub: Publisher | None = None
    fault_rows: list[report.FaultRow] = []
    good: dict[str, tuple[Clip, Upload]] = {}
    bad: dict[str, tuple[str, str, Upload]] = {}  # vid → (fault, expected reason, upload)
    lagging: list[str] = []
    video_results: list[report.VideoResult] = []
    bad_results: list[report.BadResult] = []
    try:
        ep = stack.up()
        rec = Recorder(ep.kafka)
        rec.start()
        pub = Publisher(ep.kafka)
        n_unreachable = 0

        def publish_good(clip: Clip, uri: str | None = None, fault: str = "") -> None:
            up = pub.upload(clip.video_id, uri or str(clip.path), fault)
            rec.expect(up)
            good[clip.video_id] = (clip, up)

        def publish_bad(vid: str, uri: str, fault: str, reason: str) -> Upload:
            up = pub.upload(vid, uri, fault)
            rec.expect(up)
            bad[vid] = (fault, reason, up)
            return up

        def publish_fault(fault: str) -> None:
            nonlocal n_unreachable
            if fault == "unreachable":
                publish_bad(f"chaos-unreach{n_unreachable}", faults.UNREACHABLE_URL, fault, "retries_exhausted")
                n_unreachable += 1
            elif fault == "5xx":
                publish_bad("chaos-5xx0", server.five_xx("chaos-5xx0"), fault, "retries_exhausted")
            elif fault == "stall":
                c = specials[fault]
                publish_bad(c.video_id, server.drip(c.video_id, c.path, 50 * deadline_s), fault, "retries_exhausted")
            elif fault == "corrupt":
                c = specials[fault]
                publish_bad(c.video_id, str(c.path), fault, c.bad_reason or "?")
            elif fault == "drip":
                c = specials[fault]
                publish_good(c, server.drip(c.video_id, c.path, drip_s), fault)
            else:  # tail:N, long
                publish_good(specials[fault], fault=fault)

        # ---- head of line: an unreachable upload, then good videos on its partition -------
        by_part: dict[int, list[Clip]] = {}
        for c in plain:
            by_part.setdefault(partition_of(c.video_id, p.partitions), []).append(c)
        hol_part = max(by_part, key=lambda k: len(by_part[k]))
        followers = by_part[hol_part][: p.hol_followers]
        k = 0
        while partition_of(f"chaos-unreach{k}", p.partitions) != hol_part:
            k += 1
        n_unreachable = k
        hol_bad = publish_bad(f"chaos-unreach{k}", faults.UNREACHABLE_URL, "unreachable", "retries_exhausted")
        n_unreachable = k + 1
        for c in followers:
            publish_good(c, fault="behind unreachable")
        assert all(good[c.video_id][1].partition == hol_bad.partition for c in followers), "partitioner mismatch"
        _wait(lambda: all(rec.complete(c.video_id) for c in followers), p.hol_limit_s + 30)
        hol_delays = {c.video_id: rec.delay_s(c.video_id) for c in followers}
        slow = {v: d for v, d in hol_delays.items() if d is None or d > p.hol_limit_s}
        fault_rows.append(report.FaultRow(
            "unreachable URL (head of line)", f"{hol_bad.video_id} on partition {hol_bad.partition}", None,
            f"{len(followers) - len(slow)}/{len(followers)} videos behind it indexed within {p.hol_limit_s:.0f} s "
            f"({', '.join(f'{d:.1f} s' if d is not None else 'never' for d in hol_delays.values())})"))
        if slow:
            problems.append(f"head of line: videos behind {hol_bad.video_id} (partition {hol_bad.partition}) not "
                            f"indexed within {p.hol_limit_s:.0f} s of upload: {slow}")

        # ---- waves: clips + per-record faults, then a kill or an infrastructure restart -----
        rest = [c for c in plain if c not in followers]
        size = -(-len(rest) // len(p.waves))
        for i, wave in enumerate(p.waves):
            mine = rest[i * size:(i + 1) * size]
            half = len(mine) // 2
            for c in mine[:half]:
                publish_good(c)
            for f in wave.faults:
                publish_fault(f)
            for c in mine[half:]:
                publish_good(c)
            kind, target = wave.disruption.split(":")
            stage = target if kind == "kill" else "segmenter"
            _wait(lambda: any(rec.reached(c.video_id, stage) for c in mine), 90)
            try:
                took = stack.kill(target) if kind == "kill" else stack.restart(target)
            except Exception as e:  # noqa: BLE001 - reported, the run goes on
                took = None
                problems.append(f"{wave.disruption}: did not come back healthy: {e}")
            fault_rows.append(report.FaultRow("SIGKILL" if kind == "kill" else "restart", target, took,
                                              f"wave {i + 1}: {len(mine)} clips + {', '.join(wave.faults) or '-'}"))

        # ---- settle: everything indexed, every bad record dead-lettered, no lag -------------
        def dead_lettered(vid: str) -> bool:
            return any(topic == observe.t("videos.uploaded.dlq") for topic, _ in rec.get(vid).dlq)

        last_lag_check = 0.0

        def settled() -> bool:
            nonlocal lagging, last_lag_check
            if not all(rec.complete(v) for v in good) or not all(dead_lettered(v) for v in bad):
                return False
            if time.monotonic() - last_lag_check < 3:
                return False
            last_lag_check = time.monotonic()
            try:
                lagging = observe.lagging_partitions(ep.kafka)
            except Exception as e:  # noqa: BLE001
                lagging = [f"lag check failed: {e}"]
            return not lagging

        _wait(settled, p.settle_timeout_s, interval=1.0)
        lagging = observe.lagging_partitions(ep.kafka)
        query = Query(f"127.0.0.1:{stack.st.query_port}")
        _wait(lambda: all(query.categories(v)[0] for v in good if rec.complete(v)), 30, interval=1.0)

        # ---- checks ------------------------------------------------------------------------
        rows = observe.milvus_rows(ep.milvus, list(good) + list(bad))
        for vid, (clip, up) in good.items():
            got = rows[vid]
            found = [f"{r['video_id']}/{r['shot_index']}" for r in got]
            pks = [r["pk"] for r in got]
            dup = (len(pks) - len(set(pks))) + (len(found) - len(set(found)))
            expected = set(clip.shots)
            missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
            stale = [r for r in got if r.get("video_version") != up.upload_id]
            cats_ok, cats = query.categories(vid)
            seen = rec.get(vid)
            video_results.append(report.VideoResult(
                vid, clip.kind, up.fault, len(expected), len(set(found) & expected), dup, seen.complete_ms is not None,
                cats_ok, rec.delay_s(vid), missing, extra))
            where = (f"segmented {len(seen.segmented)}, embedded {len(seen.embedded)}, indexed {len(seen.indexed)} "
                     f"of {len(expected)} expected; dlq {[(t_, h.get('dlq.reason'), h.get('dlq.service')) for t_, h in seen.dlq]}")
            if missing or extra:
                problems.append(f"{vid} ({clip.kind}{', ' + up.fault if up.fault else ''}): Milvus has "
                                f"{len(set(found))} shots, expected {len(expected)}; missing {missing}, extra {extra}")
                evidence.append(f"{vid}: {where}")
            if dup:
                problems.append(f"{vid}: {dup} duplicated rows (pks {pks})")
            if stale:
                problems.append(f"{vid}: {len(stale)} rows of another upload version")
            if seen.complete_ms is None:
                problems.append(f"{vid} ({clip.kind}): never reported complete (shots.indexed video_complete)")
                if not (missing or extra):
                    evidence.append(f"{vid}: {where}")
            if not cats_ok:
                problems.append(f"{vid}: GetVideoCategories: {cats}")
            if seen.dlq:
                problems.append(f"{vid}: a good video was dead-lettered: "
                                f"{[(t_, h.get('dlq.reason'), h.get('dlq.error', '')[:160]) for t_, h in seen.dlq]}")
        for vid, (fault, reason, up) in bad.items():
            seen = rec.get(vid)
            mine = [h for topic, h in seen.dlq if topic == observe.t("videos.uploaded.dlq")]
            reasons = [h.get("dlq.reason", "") for h in mine]
            attempts = server.hits_for(up.uri) if up.uri.startswith(f"http://127.0.0.1:{server.port}") \
                else len(seen.retries) + (1 if mine or seen.retries else 0)
            bad_results.append(report.BadResult(vid, fault, reason, reasons, attempts))
            fault_rows.append(report.FaultRow(
                fault, vid, None, f"DLQ reasons {reasons or 'none'} (expected {reason}); {attempts} attempts; "
                f"{len(seen.retries)} retry-topic records"))
            if not mine:
                problems.append(f"{vid} ({fault}): not in {observe.t('videos.uploaded.dlq')} "
                                f"(retry-topic records {len(seen.retries)}, errors {seen.errors})")
                evidence += [f"{vid} segmenter log: {ln[:300]}" for ln in stack.grep_log("segmenter", vid, 3)]
            elif set(reasons) != {reason}:
                problems.append(f"{vid} ({fault}): dlq.reason {reasons}, expected {reason!r}; "
                                f"dlq.error {[h.get('dlq.error', '')[:200] for h in mine]}")
            if fault == "corrupt" and reason not in clips_.DECODE_REASONS:
                problems.append(f"{vid}: offline reason {reason!r} is not a decode/format reason")
            if rows[vid]:
                problems.append(f"{vid} ({fault}): {len(rows[vid])} rows in Milvus for a bad record")
        for line in lagging:
            problems.append(f"lag: {line}")
        for key, clip in specials.items():
            vr = next((v for v in video_results if v.video_id == clip.video_id), None)
            if vr is not None:
                fault_rows.append(report.FaultRow(
                    key, clip.video_id, None,
                    f"{vr.found}/{vr.expected} shots, dup {vr.duplicated}, "
                    + (f"complete after {vr.delay_s:.1f} s" if vr.delay_s is not None else "never complete")))
        status = stack.status()
        if status.count("RUNNING") != 3 + len(local.SERVICES):
            problems.append(f"not every program is RUNNING at the end:\n{status}")
        query.close()
    finally:
        wall = time.monotonic() - t_start
        if rec is not None:
            rec.stop()
        if pub is not None:
            pub.close()
        exits = stack.exits()
        kills = {t_: sum(1 for k_, tt, _ in stack.injected if k_ == "SIGKILL" and tt == t_) for t_ in WORKERS}
        crash_lines = [f"{prog}: {len(v)} exits ({kills.get(prog, 0)} by our SIGKILL); last: {v[-1]}"
                       for prog, v in sorted(exits.items())]
        summary = report.summary_table(p.name, fault_rows, video_results, bad_results, len(lagging), wall)
        print(f"\n\n## chaos ({p.name}), run dir {run_dir}\n")
        print(summary, "\n")
        print(report.faults_table(fault_rows), "\n")
        print(report.problem_videos_table(video_results), "\n")
        print("supervisord exits:\n  " + ("\n  ".join(crash_lines) or "none"))
        if problems:
            print("\nproblems:\n  " + "\n  ".join(problems))
        if evidence:
            print("\nevidence:\n  " + "\n  ".join(evidence))
        report.write_json(run_dir / "chaos-report.json", plan=p.name, wall_s=wall, summary=summary,
                          faults=fault_rows, videos=video_results, bad=bad_results, lagging=lagging,
                          problems=problems, evidence=evidence, exits=exits,
                          poll_interval_s=poll_s, drip_s=drip_s, download_deadline_s=deadline_s)
        stack.down()
        server.close()
    assert not problems, f"{len(problems)} chaos checks failed (logs: {run_dir}/logs):\n" + "\n".join(problems)
