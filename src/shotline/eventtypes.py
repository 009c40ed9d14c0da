"""Which protobuf message each topic carries."""

from __future__ import annotations

from google.protobuf.message import Message

from shotline import topics
from shotline.v1 import events_pb2

MESSAGES: dict[str, type[Message]] = {
    topics.VIDEOS_UPLOADED: events_pb2.VideoUploaded,
    topics.SHOTS_SEGMENTED: events_pb2.ShotsSegmented,
    topics.SHOTS_EMBEDDED: events_pb2.ShotsEmbedded,
    topics.SHOTS_INDEXED: events_pb2.ShotsIndexed,
    topics.LABELS_SUBMITTED: events_pb2.LabelSubmitted,
    topics.MODELS_DEPLOYED: events_pb2.ModelDeployed,
    topics.VIDEOS_CLASSIFIED: events_pb2.VideoClassified,
    topics.CLASSIFIER_DRIFT: events_pb2.ClassifierDrift,
    topics.ERRORS: events_pb2.ProcessingError,
    topics.VIDEOS_TRANSCRIBED: events_pb2.VideoTranscribed,
}


def message_for_topic(suffix: str) -> type[Message]:
    base = suffix.removesuffix(".dlq")
    if base not in MESSAGES:
        raise KeyError(f"unknown topic {suffix!r}; known: {', '.join(MESSAGES)}")
    return MESSAGES[base]
