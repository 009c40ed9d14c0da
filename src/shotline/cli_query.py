"""CLI verbs over the query gRPC API: search, similar, categories, label, feed, classifiers."""

from __future__ import annotations

from pathlib import Path

import grpc
import typer
from rich.console import Console
from rich.table import Table

from shotline import tls
from shotline.cli import app
from shotline.settings import Settings
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc

console = Console()

FEEDS = {"top_positive": query_pb2.FEED_KIND_TOP_POSITIVE, "top_negative": query_pb2.FEED_KIND_TOP_NEGATIVE,
         "borderline": query_pb2.FEED_KIND_BORDERLINE, "random": query_pb2.FEED_KIND_RANDOM}


def _stub() -> tuple[query_pb2_grpc.QueryServiceStub, list[tuple[str, str]]]:
    s = Settings()
    channel = tls.channel(s.query_address, s)
    md = [("authorization", f"Bearer {s.api_token.get_secret_value()}")] if s.api_token else []
    return query_pb2_grpc.QueryServiceStub(channel), md


def _call(method, request, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    try:
        return method(request, timeout=timeout, metadata=_stub_md)
    except grpc.RpcError as e:
        console.print(f"[red]{e.code().name}[/red]: {e.details()}")  # type: ignore[attr-defined]
        raise typer.Exit(1) from e


_stub_md: list[tuple[str, str]] = []


def _client() -> query_pb2_grpc.QueryServiceStub:
    global _stub_md
    stub, _stub_md = _stub()
    return stub


def _hits_table(res: query_pb2.SearchResponse) -> Table:
    mode = query_pb2.SearchMode.Name(res.mode).removeprefix("SEARCH_MODE_").lower() if res.mode else ""
    title = f"model {res.model.model_id} · head {res.head}" + (f" · {mode}" if mode else "") + (f" · {res.note}" if res.note else "")
    texts = any(h.transcript or h.on_screen_text for h in res.hits)
    t = Table("#", "shot", "video", "start", "end", "score", *(("matched", "said / shown") if texts else ()), title=title)
    for i, h in enumerate(res.hits, 1):
        said = " | ".join(x for x in (h.transcript, h.on_screen_text) if x)
        t.add_row(str(i), h.shot.shot_id, h.shot.video_id, f"{h.shot.start_ms / 1000:.2f}s",
                  f"{h.shot.end_ms / 1000:.2f}s", f"{h.score:.3f}",
                  *((",".join(h.signals), said[:80] + ("…" if len(said) > 80 else "")) if texts else ()))
    return t


MODES = {"hybrid": query_pb2.SEARCH_MODE_HYBRID, "vector": query_pb2.SEARCH_MODE_VECTOR,
         "keyword": query_pb2.SEARCH_MODE_KEYWORD}


@app.command()
def search(query: str, top_k: int = typer.Option(10, "--top-k", "-k"), video: list[str] = typer.Option([]),
           catalog: list[str] = typer.Option([]),
           mode: str = typer.Option("hybrid", help="hybrid (meaning + words), vector (meaning) or keyword (words); "
                                                   '"quoted phrases" must appear word for word')) -> None:
    """Text → shots."""
    if mode not in MODES:
        raise typer.BadParameter(f"choose one of {', '.join(MODES)}", param_hint="--mode")
    req = query_pb2.SearchTextRequest(query=query, top_k=top_k, mode=MODES[mode],
                                      filters=query_pb2.SearchFilters(video_ids=video, catalog_ids=catalog))
    console.print(_hits_table(_call(_client().SearchText, req)))


@app.command()
def similar(shot: str = typer.Argument("", help="A shot id '<video>/<index>'"),
            clip: Path | None = typer.Option(None, help="A short video file instead of a shot"),
            top_k: int = typer.Option(10, "--top-k", "-k")) -> None:
    """Shot or clip → similar shots."""
    if clip is not None:
        req = query_pb2.SearchSimilarRequest(clip=clip.read_bytes(), top_k=top_k)
    else:
        req = query_pb2.SearchSimilarRequest(shot_id=shot, top_k=top_k)
    console.print(_hits_table(_call(_client().SearchSimilar, req, timeout=120)))


@app.command()
def categories(video_id: str) -> None:
    """A video's taxonomy categories and classifier scores."""
    res = _call(_client().GetVideoCategories, query_pb2.GetVideoCategoriesRequest(video_id=video_id))
    t = Table("category", "name", "score", "threshold", "source", title=f"taxonomy {res.taxonomy_version}",
              caption=f"text read: {', '.join(res.text_sources) or 'none (pixels only)'}")
    for c in res.categories:
        t.add_row(c.category_id, c.name, f"{c.score:.3f}", f"{c.threshold:.3f}", c.source)
    console.print(t)
    if res.classifiers:
        t2 = Table("classifier", "version", "score")
        for c in res.classifiers:
            t2.add_row(c.label, str(c.version), f"{c.score:.3f}")
        console.print(t2)


@app.command("label-categories")
def label_categories(video_id: str, positive: list[str] = typer.Option([], "--positive", "--pos", help="Right category ids"),
                     negative: list[str] = typer.Option([], "--negative", "--neg", help="Wrong category ids"),
                     clear: list[str] = typer.Option([], "--clear", help="Category ids whose label to retract"),
                     annotator: str = typer.Option("cli")) -> None:
    """Label a video's taxonomy categories; the category model retrains and the video is re-classified."""
    labels = [query_pb2.CategoryLabel(category_id=c, value=v) for ids, v in (
        (positive, events_pb2.LABEL_VALUE_POSITIVE), (negative, events_pb2.LABEL_VALUE_NEGATIVE),
        (clear, events_pb2.LABEL_VALUE_CLEARED)) for c in ids]
    res = _call(_client().LabelVideoCategories, query_pb2.LabelVideoCategoriesRequest(
        video_id=video_id, labels=labels, annotator=annotator))
    console.print(f"accepted {res.accepted} category labels (event {res.event_id}); "
                  f"`shotline categories {video_id}` shows them once the new model has re-classified it")


@app.command()
def label(name: str, positive: list[str] = typer.Option([], "--pos", help="Positive shot ids"),
          negative: list[str] = typer.Option([], "--neg", help="Negative shot ids"),
          description: str = typer.Option("", help="Text description (zero-shot start)"),
          annotator: str = typer.Option("cli")) -> None:
    """Submit labels for a classifier (trained asynchronously)."""
    labels = [events_pb2.ShotLabel(shot_id=s, value=events_pb2.LABEL_VALUE_POSITIVE) for s in positive]
    labels += [events_pb2.ShotLabel(shot_id=s, value=events_pb2.LABEL_VALUE_NEGATIVE) for s in negative]
    res = _call(_client().SubmitLabels, query_pb2.SubmitLabelsRequest(
        label=name, labels=labels, annotator=annotator, description=description))
    console.print(f"accepted {res.accepted} labels (event {res.event_id})")


@app.command()
def feed(name: str, kind: str = typer.Option("borderline", help=", ".join(FEEDS)),
         n: int = typer.Option(20, "-n", "--n")) -> None:
    """Shots to label next for a classifier."""
    if kind not in FEEDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(FEEDS)}")
    res = _call(_client().GetFeed, query_pb2.GetFeedRequest(label=name, kind=FEEDS[kind], n=n))
    t = Table("shot", "start", "end", "score", title=f"{name} v{res.version} · {kind}")
    for h in res.shots:
        t.add_row(h.shot.shot_id, f"{h.shot.start_ms / 1000:.2f}s", f"{h.shot.end_ms / 1000:.2f}s", f"{h.score:.3f}")
    console.print(t)


@app.command()
def classifiers() -> None:
    """Classifiers with their deployed version, AP and label counts."""
    res = _call(_client().ListClassifiers, query_pb2.ListClassifiersRequest())
    t = Table("label", "deployed", "pinned", "versions", "AP", "pos", "neg")
    for c in res.classifiers:
        dv = next((v for v in c.versions if v.version == c.deployed_version), None)
        t.add_row(c.label, str(c.deployed_version), "yes" if c.pinned else "", str(len(c.versions)),
                  f"{dv.ap:.3f}" if dv else "", str(c.positives), str(c.negatives))
    console.print(t)
