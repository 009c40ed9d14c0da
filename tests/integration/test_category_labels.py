"""Category labels from people on the real stack, through the public API only: real sample videos are
ingested and classified; a person labels a category they see is right but missing (positive) and one
that is served but wrong (negative); after the trainer's retrain the next categories honour both and
name a new category model version; clearing the positive takes it back. Bad requests are refused.

What is "right" for a sample is a person's judgement of the footage, written out here — never read
from the model under test.
"""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from shotline.stack import local
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

from .conftest import wait_for
from .test_pipeline import FIXTURES, SUFFIX, query, services, upload  # noqa: F401 - module fixtures: the stack's own services

pytestmark = pytest.mark.integration

# What a person watching each clip would call right (its categories and their ancestors), and the
# one category they would add first when it is missing.
RIGHT = {
    "bikes": ({"sports", "sports.cycling", "nature-wildlife", "nature-wildlife.landscapes", "travel",
               "travel.mountains", "sports.running", "hobbies", "hobbies.outdoor-recreation"}, "sports.cycling"),
    "cockatoo": ({"pets", "pets.birds", "nature-wildlife", "nature-wildlife.wild-birds"}, "pets.birds"),
    "bigbuckbunny": ({"movies-tv", "movies-tv.animation", "nature-wildlife", "nature-wildlife.wild-animals",
                      "family-parenting", "family-parenting.kids"}, "movies-tv.animation"),
    "cityCC0": ({"travel", "travel.cities", "transportation", "automotive", "automotive.cars", "real-estate"},
                "travel.cities"),
}
P, N, C = events_pb2.LABEL_VALUE_POSITIVE, events_pb2.LABEL_VALUE_NEGATIVE, events_pb2.LABEL_VALUE_CLEARED


def _served(query: query_pb2_grpc.QueryServiceStub, video_id: str) -> query_pb2.VideoCategories | None:  # noqa: F811
    try:
        return query.GetVideoCategories(query_pb2.GetVideoCategoriesRequest(video_id=video_id), timeout=10)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise


def _ids(res: query_pb2.VideoCategories) -> set[str]:
    return {c.category_id for c in res.categories}


def _label(query: query_pb2_grpc.QueryServiceStub, video_id: str, labels: list[tuple[str, int]]):  # type: ignore[no-untyped-def]  # noqa: F811
    return query.LabelVideoCategories(query_pb2.LabelVideoCategoriesRequest(
        video_id=video_id, annotator="expert@test",
        labels=[query_pb2.CategoryLabel(category_id=c, value=v) for c, v in labels]), timeout=30)


def _code(fn) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details()


MISLEADING = "Cute kittens playing with yarn - my cats at home"  # the uploader's title; the footage is a bike ride
LOOK_ALIKE = "bikes-again"  # the same footage and title under another id, never labelled


def test_a_category_labelled_by_a_person_changes_the_next_categories(
        stack: local.Endpoints, query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
        services: local.StackSettings) -> None:  # noqa: F811
    run = uuid.uuid4().hex[:8]
    names = [*RIGHT, LOOK_ALIKE]
    vids = {name: f"catlab-{run}-{name}" for name in names}
    for name, vid in vids.items():
        src = "bikes" if name == LOOK_ALIKE else name
        title = MISLEADING if src == "bikes" else f"clip {run} {name}"
        upload(stack, vid, FIXTURES / f"{src}{SUFFIX[src]}", title=title)
    first = wait_for(lambda: (got := {n: _served(query, v) for n, v in vids.items()}) and all(got.values()) and got,
                     300, interval=1.0, what="sample videos classified")
    print("\nserved before labels:", {n: sorted(_ids(r)) for n, r in first.items()})

    # The person watches the bike ride: the title made the model serve cats (wrong), and cycling
    # (right) is missing. They say so.
    name, vid, before = "bikes", vids["bikes"], first["bikes"]
    negative = "pets.cats"
    missing = [c for c in (RIGHT["bikes"][1], "travel.mountains", "nature-wildlife.landscapes") if c not in _ids(before)]
    assert negative in _ids(before), "precondition: the misleading title makes the text model serve cats"
    assert missing, "precondition: a category a person sees is right is missing before any label"
    positive = missing[0]
    others = {n: first[n].model_versions["categories"] for n in names if n != name}
    # Bad requests are refused before anything is published.
    code, details = _code(lambda: _label(query, vid, [(positive, P), ("no.such-category", N), ("zzz", P)]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "no.such-category" in details and "zzz" in details
    assert _code(lambda: _label(query, vid, [(positive, events_pb2.LABEL_VALUE_UNSPECIFIED)]))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: _label(query, vid, []))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: _label(query, vid, [(positive, P), (positive, N)]))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: _label(query, vid, [(positive, P)] * 501))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert _code(lambda: _label(query, f"catlab-{run}-never-uploaded", [(positive, P)]))[0] == grpc.StatusCode.NOT_FOUND

    labelled_at = time.monotonic()
    resp = _label(query, vid, [(positive, P), (negative, N)])
    assert resp.event_id and resp.accepted == 2

    def relabelled(v: str, old: str) -> query_pb2.VideoCategories | None:
        got = _served(query, v)
        return got if got is not None and got.model_versions["categories"] != old else None

    after = wait_for(lambda: relabelled(vid, before.model_versions["categories"]), 300, interval=1.0,
                     what="the labelled video re-classified by a new category model")
    print(f"label → re-classified with the new model: {time.monotonic() - labelled_at:.1f} s (reported, not asserted)")
    print(f"{name}: +{positive} -{negative}:", sorted(_ids(before)), "→",
          sorted((c.category_id, c.source, round(c.score, 3)) for c in after.categories), dict(after.model_versions))
    assert positive in _ids(after), "the category a person said is right is served"
    assert negative not in _ids(after), "the category a person said is wrong is not served"
    assert after.model_versions["categories"] != before.model_versions["categories"]
    assert "human_labels" in after.model_versions  # the version trained from people's labels
    assert after.classified_at_ms > before.classified_at_ms
    # The new model reaches the rest of the catalog too (the trainer asks for its re-classification).
    for n, old in others.items():
        got = wait_for(lambda n=n, old=old: relabelled(vids[n], old), 300, interval=1.0, what=f"{n} re-classified")
        assert "human_labels" in got.model_versions
    # The model learnt, not only the labelled video: the same footage with the same misleading title,
    # never labelled, is no longer served cats either.
    alike = _served(query, vids[LOOK_ALIKE])
    print("look-alike after:", sorted((c.category_id, c.source, round(c.score, 3)) for c in alike.categories))
    assert negative not in _ids(alike), "the wrong category is gone from the unlabelled look-alike too"

    # Clearing the label takes it back: the next model no longer serves the positive for that reason.
    _label(query, vid, [(positive, C)])
    cleared = wait_for(lambda: relabelled(vid, after.model_versions["categories"]), 300, interval=1.0,
                       what="re-classified after clearing")
    print(f"{name} after clearing {positive}:", sorted(_ids(cleared)))
    if positive not in _ids(before):
        assert positive not in _ids(cleared), "a cleared label no longer puts the category in"
    assert negative not in _ids(cleared), "the negative label still stands"
