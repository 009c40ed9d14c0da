"""What the chaos suite sees of the stack: the uploads it publishes, every event of the topics
it checks (recorded from the beginning, across broker restarts), consumer lag, Milvus rows and
categories through the query API."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import grpc
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2
from pymilvus import MilvusClient

from shotline import topics
from shotline.events import new_meta
from shotline.index.shot_index import GRPC_OPTIONS
from shotline.stack import local
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

PREFIX = "shotline"  # the local stack's topic prefix


def t(name: str) -> str:
    return f"{PREFIX}.{name}"


def partition_of(key: str, partitions: int) -> int:
    """The partition kafka-python's default partitioner (murmur2, like Java's) picks for a key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class Upload:
    video_id: str
    uri: str
    upload_id: str
    partition: int
    published_ms: int
    fault: str = ""  # "" for a plain good video


class Publisher:
    def __init__(self, bootstrap: str):
        self.p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=20, request_timeout_ms=30_000)

    def upload(self, video_id: str, uri: str, fault: str = "") -> Upload:
        ev = events_pb2.VideoUploaded(meta=new_meta(video_id, "chaos"), uri=uri, title=video_id,
                                      upload_id=str(uuid.uuid4()))
        md = self.p.send(t(topics.VIDEOS_UPLOADED), key=video_id.encode(), value=ev.SerializeToString()).get(90)
        published = md.timestamp if md.timestamp and md.timestamp > 0 else int(time.time() * 1000)
        return Upload(video_id, uri, ev.upload_id, md.partition, published, fault)

    def close(self) -> None:
        self.p.close()


@dataclass
class Seen:
    """Everything recorded for one video id."""

    segmented: set[str] = field(default_factory=set)  # shot ids (this upload)
    embedded: set[str] = field(default_factory=set)
    indexed: set[str] = field(default_factory=set)
    complete_ms: int | None = None  # first shots.indexed with video_complete for the upload
    classified_ms: int | None = None
    dlq: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (topic, headers)
    retries: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (service, reason)


class Recorder(threading.Thread):
    """Reads the checked topics from the beginning (no group) and keeps what it saw per video."""

    def __init__(self, bootstrap: str):
        super().__init__(name="chaos-recorder", daemon=True)
        self.bootstrap = bootstrap
        self.uploads: dict[str, Upload] = {}  # video id → its upload (the one we published)
        self.seen: dict[str, Seen] = defaultdict(Seen)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.poll_errors = 0
        consumed = topics.CONSUMED
        self.watch = [t(topics.SHOTS_SEGMENTED), t(topics.SHOTS_EMBEDDED), t(topics.SHOTS_INDEXED),
                      t(topics.VIDEOS_CLASSIFIED), t(topics.ERRORS)]
        self.watch += [topics.dlq(t(c)) for c in consumed] + [topics.retry(t(c)) for c in consumed]

    def expect(self, up: Upload) -> None:
        with self.lock:
            self.uploads[up.video_id] = up

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        c = KafkaConsumer(*self.watch, bootstrap_servers=self.bootstrap, group_id=None,
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          reconnect_backoff_max_ms=2000, metadata_max_age_ms=5000)
        try:
            while not self._stop.is_set():
                try:
                    polled = c.poll(timeout_ms=500)
                except Exception:  # noqa: BLE001 - a broker restart; keep reading afterwards
                    self.poll_errors += 1
                    time.sleep(1)
                    continue
                for recs in polled.values():
                    for r in recs:
                        self._record(r)
        finally:
            c.close()

    def _record(self, r) -> None:  # type: ignore[no-untyped-def]
        key = r.key.decode("utf-8", "replace") if r.key else ""
        headers = {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for k, v in (r.headers or [])}
        with self.lock:
            up = self.uploads.get(key)
            s = self.seen[key]
            if r.topic.endswith(topics.DLQ_SUFFIX):
                s.dlq.append((r.topic, headers))
            elif r.topic.endswith(topics.RETRY_SUFFIX):
                s.retries.append((r.topic, headers))
            elif r.topic == t(topics.ERRORS):
                m = events_pb2.ProcessingError.FromString(r.value)
                s.errors.append((m.service, m.reason))
            elif r.topic == t(topics.VIDEOS_CLASSIFIED):
                s.classified_ms = s.classified_ms or r.timestamp
            else:
                cls = {t(topics.SHOTS_SEGMENTED): events_pb2.ShotsSegmented,
                       t(topics.SHOTS_EMBEDDED): events_pb2.ShotsEmbedded,
                       t(topics.SHOTS_INDEXED): events_pb2.ShotsIndexed}[r.topic]
                m = cls.FromString(r.value)
                if up is not None and m.upload_id != up.upload_id:
                    return
                if r.topic == t(topics.SHOTS_SEGMENTED):
                    s.segmented.update(sh.shot_id for sh in m.shots)
                elif r.topic == t(topics.SHOTS_EMBEDDED):
                    s.embedded.update(e.shot.shot_id for e in m.shots)
                else:
                    s.indexed.update(m.shot_ids)
                    if m.video_complete and s.complete_ms is None:
                        s.complete_ms = r.timestamp

    def get(self, video_id: str) -> Seen:
        with self.lock:
            return self.seen[video_id]

    def complete(self, video_id: str) -> bool:
        return self.get(video_id).complete_ms is not None

    def reached(self, video_id: str, stage: str) -> bool:
        s = self.get(video_id)
        return bool({"segmenter": s.segmented, "encoder": s.embedded, "indexer": s.indexed,
                     "scorer": s.classified_ms}[stage])

    def delay_s(self, video_id: str) -> float | None:
        s, up = self.get(video_id), self.uploads.get(video_id)
        if s.complete_ms is None or up is None:
            return None
        return (s.complete_ms - up.published_ms) / 1000


# ---- consumer lag ---------------------------------------------------------------------

def groups_and_topics() -> dict[str, list[str]]:
    """The stack's consumer groups and the topics each must have consumed to the end."""
    out = {}
    for svc, subs in topics.SUBSCRIPTIONS.items():
        if svc in local.SERVICES:
            out[f"{PREFIX}-{svc}"] = [t(s) for s in subs] + [topics.retry(t(s)) for s in subs]
    return out


def lagging_partitions(bootstrap: str) -> list[str]:
    """'group topic[p] committed C < end E' for every partition with records not committed."""
    wanted = groups_and_topics()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-lag", request_timeout_ms=15_000)
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, client_id="chaos-lag-ends")
    try:
        committed = admin.list_group_offsets(list(wanted))
        out = []
        for group, names in wanted.items():
            mine = committed.get(group, {})
            tps = {TopicPartition(n, p) for n in names for p in (c.partitions_for_topic(n) or ())}
            tps |= set(mine)  # anything else the group committed must be at its end too
            ends = c.end_offsets(sorted(tps))
            for tp in sorted(tps):
                om = mine.get(tp)
                at = om.offset if om is not None and om.offset >= 0 else 0
                if ends.get(tp, 0) > at:
                    out.append(f"{group} {tp.topic}[{tp.partition}] committed {at} < end {ends[tp]}")
        return out
    finally:
        c.close()
        admin.close()


# ---- Milvus and the query API ---------------------------------------------------------

def milvus_rows(uri: str, video_ids: list[str]) -> dict[str, list[dict]]:
    client = MilvusClient(uri=uri, grpc_options=GRPC_OPTIONS)
    try:
        names = [n for n in client.list_collections() if n.startswith("shotline_")]
        out: dict[str, list[dict]] = {v: [] for v in video_ids}
        for name in names:
            for v in video_ids:
                out[v] += client.query(name, filter=f'video_id == "{v}"',
                                       output_fields=["pk", "video_id", "shot_index", "video_version"],
                                       consistency_level="Strong")
        return out
    finally:
        client.close()


class Query:
    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address)
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = query_pb2_grpc.QueryServiceStub(self.channel)

    def categories(self, video_id: str) -> tuple[bool, str]:
        """(stored, detail): stored = the API returns a classified result for the video."""
        try:
            res = self.stub.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=video_id), timeout=10)
        except grpc.RpcError as e:
            return False, f"{e.code().name}: {e.details()}"
        ok = bool(res.taxonomy_version) and res.classified_at_ms > 0
        return ok, f"{len(res.categories)} categories, taxonomy {res.taxonomy_version!r}"

    def close(self) -> None:
        self.channel.close()
