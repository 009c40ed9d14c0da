"""The trainer's event handling: label events, new shots, and time-driven work.

- labels.submitted → annotations stored in Redis (latest wins; the Kafka topic is the
  recoverable log) and the classifier marked dirty. Retraining is debounced in `tick`: a
  burst of labels yields one retrain, then deploy (unless pinned), rescore, feeds.
- models.deployed (a pin or rollback through the API) → feeds and per-video results rebuilt.
- categories.labels → people's taxonomy labels of a video stored, the category model marked
  dirty (`services/trainer/categories.py`); a debounced retrain in `tick` releases a new
  category model and asks the scorers to re-classify (labelled videos first).
- tick → due retrains, and drift checks every `drift_interval` seconds.

New shots are scored by the scorer (`services/scorer`), never here: a retrain must not delay
the real-time path.
"""

from __future__ import annotations

import time
import numpy as np
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge

from shotline.learning.drift import detect_drift
from shotline.learning.labels import validate_label_name
from services.trainer.categories import CategoryLabels
from services.trainer.pipeline import ClassifierPipeline
from shotline import logs, topics
from shotline.errors import BadInput, TransientError
from shotline.events import new_meta, parse, parse_shot_id
from shotline.registry import Annotation, Registry
from shotline.settings import Settings
from shotline.v1 import events_pb2
from shotline.worker import Output, TickResult

SERVICE = "trainer"
log = logs.get("trainer")

LABEL_EVENTS = Counter("shotline_trainer_label_events_total", "Label events by outcome", ["outcome"])
LABEL_ISSUES = Counter("shotline_trainer_label_issues_total", "Individual labels rejected or overridden",
                       ["reason"])
DRIFT_PSI = Gauge("shotline_trainer_drift_psi", "PSI of recent scores vs the deploy-time reference", ["label"])
DRIFT_EVENTS = Counter("shotline_trainer_drift_events_total", "Drift threshold crossings published")

class TrainerHandler:
    def __init__(self, settings: Settings, registry: Registry, pipeline: ClassifierPipeline, *,
                 debounce_seconds: float = 2.0, drift_interval: float = 60.0,
                 categories: CategoryLabels | None = None):
        self.settings = settings
        self.registry = registry
        self.pipeline = pipeline
        self.debounce = debounce_seconds
        self.drift_interval = drift_interval
        self._last_drift = time.monotonic()
        self._drift_reported: set[tuple[str, int]] = set()
        self.t_labels = settings.topic(topics.LABELS_SUBMITTED)
        self.t_deployed = settings.topic(topics.MODELS_DEPLOYED)
        self.categories = categories
        self.t_category_labels = settings.topic(topics.CATEGORY_LABELS)

    def handle(self, record: ConsumerRecord) -> list[Output]:
        if record.topic == self.t_labels:
            return self._labels(record)
        if record.topic == self.t_deployed:
            return self._deployed(record)
        if record.topic == self.t_category_labels and self.categories is not None:
            return self.categories.handle(record)
        raise BadInput("unexpected_topic", record.topic)

    # -- labels ---------------------------------------------------------------------------
    def _labels(self, record: ConsumerRecord) -> list[Output]:
        ev = parse(events_pb2.LabelSubmitted, record.value, require_video_id=False)
        label = validate_label_name(ev.label)
        ts_ms = ev.meta.occurred_at.ToMilliseconds() or int(time.time() * 1000)
        latest: dict[str, events_pb2.ShotLabel] = {}
        problems: list[str] = []
        for item in ev.labels:
            try:
                parse_shot_id(item.shot_id)
            except BadInput:
                LABEL_ISSUES.labels("bad_shot_id").inc()
                problems.append(f"bad shot id {item.shot_id!r}")
                continue
            if item.value == events_pb2.LABEL_VALUE_UNSPECIFIED:
                LABEL_ISSUES.labels("unspecified_value").inc()
                problems.append(f"no value for {item.shot_id}")
                continue
            if item.shot_id in latest and latest[item.shot_id].value != item.value:
                LABEL_ISSUES.labels("contradiction").inc()  # later in the batch wins
                problems.append(f"contradictory labels for {item.shot_id}: the later one kept")
            latest[item.shot_id] = item
        unknown = self._unknown_shots(list(latest))
        for sid in unknown:
            LABEL_ISSUES.labels("unknown_shot").inc()
            problems.append(f"unknown shot {sid}")
            latest.pop(sid)
        cleared = [sid for sid, it in latest.items() if it.value == events_pb2.LABEL_VALUE_CLEARED]
        stored = [Annotation(sid, it.value == events_pb2.LABEL_VALUE_POSITIVE, ev.annotator, ts_ms)
                  for sid, it in latest.items() if it.value != events_pb2.LABEL_VALUE_CLEARED]
        if not stored and not cleared and not ev.description:
            LABEL_EVENTS.labels("rejected").inc()
            raise BadInput("no_valid_labels", "; ".join(problems) or "label event carries no labels")
        self.registry.add_annotations(label, stored, ev.description)
        self.registry.clear_annotations(label, cleared)
        self.registry.mark_dirty(label)
        LABEL_EVENTS.labels("accepted").inc()
        if not problems:
            return []
        # Accepted in part: say clearly what was dropped, without dead-lettering the rest.
        err = events_pb2.ProcessingError(
            meta=new_meta(ev.meta.video_id, SERVICE, ev.meta.trace_id), service=SERVICE,
            reason="labels_partially_rejected", message=f"label {label}: " + "; ".join(problems)[:3900],
            source_topic=record.topic, source_partition=record.partition, source_offset=record.offset,
        )
        return [Output.event(self.settings.topic(topics.ERRORS), label, err)]

    def _unknown_shots(self, shot_ids: list[str]) -> list[str]:
        if not shot_ids:
            return []
        index = self.pipeline.index
        pks = {index.pk_of(*parse_shot_id(s)): s for s in shot_ids}
        found = {r.pk for r in index.get(list(pks))}
        return [s for pk, s in pks.items() if pk not in found]

    def _deployed(self, record: ConsumerRecord) -> list[Output]:
        """A pin or rollback through the API: rebuild feeds and per-video results for it."""
        ev = parse(events_pb2.ModelDeployed, record.value, require_video_id=False)
        if ev.reason != "auto" and self.registry.deployed(ev.label) == ev.version:
            self.pipeline.rescore(ev.label, ev.version)
        return []

    # -- time-driven ----------------------------------------------------------------------
    def tick(self) -> TickResult:
        """Due retrains and drift checks. State is marked clean only in `on_delivered`, after
        the broker confirmed the outputs: a failed produce retrains again (at-least-once)."""
        out: list[Output] = []
        done: list[tuple[str, float]] = []
        for label in self.registry.due(self.debounce):
            seen_at = self.registry.dirty_score(label) or time.time()
            out.extend(self.retrain(label))
            done.append((label, seen_at))
        category_seen = self.categories.due() if self.categories is not None else None
        if category_seen is not None:
            try:
                out.extend(self.categories.backfill_outputs(self.categories.retrain()))
            except TransientError:
                raise  # the worker retries, then stops: infrastructure is down
            except Exception as e:  # noqa: BLE001 - a bad retrain must not stop the trainer
                # Deterministic failure (data, bug): keep serving the last release, say why, and
                # try again on the next category label event instead of in a crash loop.
                log.error("category_retrain_failed", error=str(e)[:500])
        reported: list[tuple[str, int]] = []
        if time.monotonic() - self._last_drift >= self.drift_interval:
            self._last_drift = time.monotonic()
            drift_out, reported = self.check_drift()
            out.extend(drift_out)

        def delivered() -> None:
            for label, seen_at in done:
                self.registry.undirty(label, seen_at)
            if category_seen is not None:
                self.categories.undirty(category_seen)
            self._drift_reported.update(reported)

        return TickResult(out, delivered)

    def retrain(self, label: str) -> list[Output]:
        self.registry.set_training(label)  # the console shows "training" until this returns
        try:
            return self._retrain(label)
        finally:
            self.registry.clear_training(label)

    def _retrain(self, label: str) -> list[Output]:
        trained = self.pipeline.retrain(label)
        if trained is None:
            return []
        if not trained.deployed:
            # Pinned: the new version waits, but the pinned version's feeds must drop the
            # shots just labelled (an expert should not be shown them again).
            pinned = self.registry.deployed(label)
            if pinned:
                self.pipeline.rescore(label, pinned)
            return []
        v = trained.version
        self.pipeline.rescore(label, v.version)
        ev = events_pb2.ModelDeployed(meta=new_meta("", SERVICE), label=label, version=v.version, kind=v.kind,
                                      ap=v.ap if v.ap is not None else float("nan"), reason="auto")
        return [Output.event(self.settings.topic(topics.MODELS_DEPLOYED), label, ev)]

    def check_drift(self) -> tuple[list[Output], list[tuple[str, int]]]:
        out, reported = [], []
        for label in self.registry.labels():
            version = self.registry.deployed(label)
            ref, cur = self.registry.reference(label), self.registry.recent(label)
            if not version or len(ref) < 20 or len(cur) < 20:
                continue
            report = detect_drift(np.asarray(ref), np.asarray(cur))
            DRIFT_PSI.labels(label).set(report.psi)
            if report.drifted and (label, version) not in self._drift_reported:
                reported.append((label, version))
                DRIFT_EVENTS.inc()
                out.append(Output.event(self.settings.topic(topics.CLASSIFIER_DRIFT), label,
                                        events_pb2.ClassifierDrift(meta=new_meta("", SERVICE), label=label,
                                                                   version=version, psi=report.psi)))
        return out, reported
