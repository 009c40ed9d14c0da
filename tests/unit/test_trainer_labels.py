import pytest

from services.trainer.learning.labels import LabelEvent, resolve_labels, validate_label_name
from shotline.errors import BadInput


@pytest.mark.parametrize("name", ["car-chase", "a", "x9_y-z", "0" * 64])
def test_valid_label_names(name):
    assert validate_label_name(name) == name


@pytest.mark.parametrize("name", ["", "Car", "_x", "-x", "a b", "a/b", "é", "a" * 65, None, 3])
def test_bad_label_names(name):
    with pytest.raises(BadInput) as e:
        validate_label_name(name)
    assert e.value.reason == "bad_label_name"


def test_latest_label_wins_and_conflicts_are_counted():
    events = [
        LabelEvent("dog", "s1", True, 1.0),
        LabelEvent("dog", "s2", False, 1.0),
        LabelEvent("dog", "s1", False, 3.0),  # later: s1 becomes negative
        LabelEvent("dog", "s1", True, 2.0),  # arrives late but is older: ignored
        LabelEvent("dog", "s3", True, 5.0),
    ]
    r = resolve_labels(events)
    assert r.labels == {"s1": False, "s2": False, "s3": True}
    assert r.conflicts == 1
    assert sorted(r.positives) == ["s3"] and sorted(r.negatives) == ["s1", "s2"]


def test_resolve_on_top_of_prior_state():
    r1 = resolve_labels([LabelEvent("dog", "s1", True, 10.0)])
    r2 = resolve_labels([LabelEvent("dog", "s1", False, 5.0), LabelEvent("dog", "s2", True, 11.0)], prior=r1)
    assert r2.labels == {"s1": True, "s2": True}  # the stale event lost to the stored newer one
    assert r1.labels == {"s1": True}  # prior not mutated


def test_equal_timestamps_later_event_wins():
    r = resolve_labels([LabelEvent("dog", "s1", True, 1.0), LabelEvent("dog", "s1", False, 1.0)])
    assert r.labels == {"s1": False} and r.conflicts == 1


def test_mixed_labels_in_one_batch_rejected():
    with pytest.raises(BadInput) as e:
        resolve_labels([LabelEvent("dog", "s1", True, 1.0), LabelEvent("cat", "s2", True, 1.0)])
    assert e.value.reason == "mixed_labels"


@pytest.mark.parametrize("raw", [
    {"label": "Dog", "shot_id": "s1", "positive": True, "ts": 1},
    {"label": "dog", "shot_id": "", "positive": True, "ts": 1},
    {"label": "dog", "shot_id": "s1", "positive": "yes", "ts": 1},
    {"label": "dog", "shot_id": "s1", "positive": True, "ts": float("nan")},
    {"label": "dog", "shot_id": "s1", "positive": True},
    "not a dict",
])
def test_malformed_events_are_bad_input(raw):
    with pytest.raises(BadInput):
        LabelEvent.from_dict(raw)


def test_event_from_dict():
    ev = LabelEvent.from_dict({"label": "dog", "shot_id": "v1/3", "positive": False, "ts": 7})
    assert ev == LabelEvent("dog", "v1/3", False, 7.0)
