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
]

# Topics a service consumes get a dead-letter twin `<topic>.dlq`.
CONSUMED = [VIDEOS_UPLOADED, SHOTS_SEGMENTED, SHOTS_EMBEDDED, SHOTS_INDEXED, LABELS_SUBMITTED, CATEGORIES_BACKFILL]


def dlq(topic: str) -> str:
    return f"{topic}.dlq"
