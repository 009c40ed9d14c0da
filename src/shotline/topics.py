"""Topic names (suffixes; the full name is `<topic_prefix>.<suffix>`, see Settings.topic)."""

VIDEOS_UPLOADED = "videos.uploaded"
SHOTS_SEGMENTED = "shots.segmented"
SHOTS_EMBEDDED = "shots.embedded"
SHOTS_INDEXED = "shots.indexed"
LABELS_SUBMITTED = "labels.submitted"
MODELS_DEPLOYED = "models.deployed"
VIDEOS_CLASSIFIED = "videos.classified"
CLASSIFIER_DRIFT = "classifiers.drift"
ERRORS = "errors"
CATEGORIES_BACKFILL = "categories.backfill"  # one request per video, planned by the backfill job
CATEGORY_LABELS = "categories.labels"  # people's taxonomy labels for a video (LabelVideoCategories)
VIDEOS_TRANSCRIBED = "videos.transcribed"  # all that is said and shown in an upload (the transcriber)

ALL = [
    VIDEOS_UPLOADED,
    SHOTS_SEGMENTED,
    SHOTS_EMBEDDED,
    SHOTS_INDEXED,
    LABELS_SUBMITTED,
    MODELS_DEPLOYED,
    VIDEOS_CLASSIFIED,
    CLASSIFIER_DRIFT,
    ERRORS,
    CATEGORIES_BACKFILL,
    CATEGORY_LABELS,
    VIDEOS_TRANSCRIBED,
]

# What each consumer group subscribes to: the one source of truth. Service mains subscribe
# through it; the local stack and the manifests derive the `.retry` / `.dlq` twins from it.
SUBSCRIPTIONS: dict[str, list[str]] = {
    "segmenter": [VIDEOS_UPLOADED],
    "encoder": [SHOTS_SEGMENTED],
    "transcriber": [SHOTS_SEGMENTED],  # speech and on-screen text, beside (never ahead of) the encoder
    "indexer": [SHOTS_EMBEDDED],
    "trainer": [LABELS_SUBMITTED, MODELS_DEPLOYED, CATEGORY_LABELS],
    "scorer": [SHOTS_INDEXED, CATEGORIES_BACKFILL, VIDEOS_TRANSCRIBED],
}

# Every consumed topic has a retry twin `<topic>.retry` (per-record faults, delayed, read by
# the same group) and a dead-letter twin `<topic>.dlq` (poison, or retries exhausted).
CONSUMED = sorted({t for subs in SUBSCRIPTIONS.values() for t in subs})

RETRY_SUFFIX = ".retry"
DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    return f"{source(topic)}{DLQ_SUFFIX}"


def retry(topic: str) -> str:
    return f"{source(topic)}{RETRY_SUFFIX}"


def source(topic: str) -> str:
    """The topic a retry or dead-letter twin belongs to (a plain topic is its own source)."""
    for suffix in (RETRY_SUFFIX, DLQ_SUFFIX):
        if topic.endswith(suffix):
            return topic[: -len(suffix)]
    return topic


def all_topics(prefix: str) -> list[str]:
    """Every topic the system needs under `prefix`, twins included."""
    names = [f"{prefix}.{t}" for t in ALL]
    for t in CONSUMED:
        names += [retry(f"{prefix}.{t}"), dlq(f"{prefix}.{t}")]
    return names
