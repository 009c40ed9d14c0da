"""An expert's whole workflow in the annotator console, in a real browser (Debian's headless
Chromium driven by Playwright), on the sample videos, against the real stack.

Search → play a shot → create a label → label >= 10 with the keyboard → a version deploys (seen
on the page without a reload) → label from the borderline feed → correct a label in review →
roll back. Every effect is checked through the public gRPC API; a screenshot of each page goes
to .run/console-test/, and page load times measured in the browser are printed.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from shotline.stack import local  # noqa: E402
from shotline.v1 import events_pb2, query_pb2, query_pb2_grpc  # noqa: E402

from .conftest import wait_for  # noqa: E402
from .test_pipeline import FIXTURES, SAMPLES, SUFFIX, Topic, query, services  # noqa: E402, F401

pytestmark = pytest.mark.integration

CATALOG = "console-samples"
# cityCC0.mpg uploaded as bytes stalled the segmenter here (see the report), so the city is its mp4 twin;
# console-bunny stays unlabelled for the feeds.
UPLOADS = {v: FIXTURES / f"{v}{SUFFIX[v]}" for v in ("bikes", "cockatoo", "bigbuckbunny")} | {
    "console-city": FIXTURES / "work" / "cityCC0_640x360.mp4",
    "console-bunny": FIXTURES / "work" / "bigbuckbunny_640x360.mp4"}
OUT = Path(__file__).resolve().parents[2] / ".run" / "console-test"
FEED_VIDEO, FEED_SHOTS = "console-feed-montage", 60  # enough unlabelled shots for a 50-hit feed page
CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 180_000


def feed_montage(path: Path) -> Path:
    """A 60 s clip of 60 one-second shots, cycling through the four real sources (each cut joins
    two different sources), in a catalog of its own so it does not change the searches below."""
    import subprocess

    sources = [FIXTURES / "work" / f"{v}_640x360.mp4" for v in ("bikes", "cockatoo", "bigbuckbunny", "cityCC0")]
    durations = (10.0, 11.2, 5.28, 7.6)
    per = FEED_SHOTS // len(sources)
    graph = [f"[{i}:v]split={per}" + "".join(f"[s{i}_{k}]" for k in range(per)) for i in range(len(sources))]
    parts = []
    for n in range(FEED_SHOTS):
        i, k = n % len(sources), n // len(sources)
        start = (k * 0.37) % (durations[i] - 1.0)
        graph.append(f"[s{i}_{k}]trim=start={start:.2f}:duration=1,setpts=PTS-STARTPTS[p{n}]")
        parts.append(f"[p{n}]")
    graph.append("".join(parts) + f"concat=n={FEED_SHOTS}:v=1:a=0[out]")
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", *[a for src in sources for a in ("-i", str(src))],
                    "-filter_complex", ";".join(graph), "-map", "[out]", "-r", "25", "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def upload_bytes(stub: query_pb2_grpc.QueryServiceStub, video_id: str, path: Path,
                 catalog: str = CATALOG) -> query_pb2.UploadVideoResponse:
    def parts() -> Iterator[query_pb2.UploadVideoRequest]:
        yield query_pb2.UploadVideoRequest(metadata=query_pb2.UploadVideoMetadata(
            video_id=video_id, title=video_id, catalog_id=catalog, filename=path.name))
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield query_pb2.UploadVideoRequest(chunk=chunk)
    return stub.UploadVideo(parts(), timeout=120)


@pytest.fixture(scope="module")
def uploaded(stack: local.Endpoints, query: query_pb2_grpc.QueryServiceStub,  # noqa: F811
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The samples (same ids as the pipeline tests, so the index holds one copy) uploaded as bytes
    through UploadVideo: their sources are in the blob store, which is what the console plays."""
    topic = Topic(stack, "shotline.shots.indexed", events_pb2.ShotsIndexed)
    files = UPLOADS
    ids = {vid: upload_bytes(query, vid, path).upload_id for vid, path in files.items()}
    montage = feed_montage(tmp_path_factory.mktemp("feed") / f"{FEED_VIDEO}.mp4")
    ids[FEED_VIDEO] = upload_bytes(query, FEED_VIDEO, montage, catalog="console-feed").upload_id

    def complete() -> bool:
        done = {m.meta.video_id for m in topic.where(lambda m: m.video_complete and ids.get(m.meta.video_id) == m.upload_id)}
        return set(ids) <= done
    wait_for(complete, 420, interval=1.0, what="console uploads indexed")
    return ids


@pytest.fixture(scope="module")
def base_url(services: local.StackSettings) -> str:  # noqa: F811
    return f"http://127.0.0.1:{services.console_port}"


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--autoplay-policy=no-user-gesture-required"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 900}, base_url=base_url)
        ctx.set_default_timeout(30_000)
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.js_errors = errors  # type: ignore[attr-defined]
        try:
            yield pg
        finally:
            browser.close()


def shot(page: Page, shot_id: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("article", name=f"shot {shot_id}", exact=True)


def load_ms(page: Page, url: str, mark: str) -> float:
    """A fresh load of `url`: ms from navigation start to the view's results rendered with every
    thumbnail decoded (the app sets performance.mark(`<view>:loaded`))."""
    page.goto("about:blank")
    page.goto(url)
    page.wait_for_function(f"performance.getEntriesByName('{mark}:loaded').length > 0", timeout=TIMEOUT_MS)
    return page.evaluate(f"performance.getEntriesByName('{mark}:loaded')[0].startTime")


def annotations(query: query_pb2_grpc.QueryServiceStub, label: str) -> dict[str, int]:  # noqa: F811
    try:
        res = query.ListAnnotations(query_pb2.ListAnnotationsRequest(label=label), timeout=10)
    except grpc.RpcError:
        return {}
    return {a.shot_id: a.value for a in res.annotations}


def test_expert_workflow_in_the_browser(page: Page, base_url: str, uploaded: dict[str, str],
                                        query: query_pb2_grpc.QueryServiceStub) -> None:  # noqa: F811
    try:
        workflow(page, base_url, query)
    except BaseException:
        page.screenshot(path=str(OUT / "failure.png"), full_page=True)  # where it stopped
        raise
    assert page.js_errors == [], f"JavaScript errors on the page: {page.js_errors}"  # type: ignore[attr-defined]


def workflow(page: Page, base_url: str, query: query_pb2_grpc.QueryServiceStub) -> None:  # noqa: F811
    t_start = time.monotonic()
    label = f"console-cycling-{uuid.uuid4().hex[:6]}"
    POS, NEG = events_pb2.LABEL_VALUE_POSITIVE, events_pb2.LABEL_VALUE_NEGATIVE

    # --- search: text, filtered to our catalog; grouped by video; more like this -----------------
    page.goto(f"/#/search?q=a+bicycle&catalog={CATALOG}")
    expect(page.get_by_role("heading", name=re.compile("Results for “a bicycle”"))).to_be_visible()
    first_bike = page.get_by_role("article", name=re.compile(r"^shot bikes\/")).first
    expect(first_bike).to_be_visible()
    expect(first_bike.get_by_role("img")).to_have_attribute("src", re.compile(r"^/media/keyframes/bikes/"))
    page.screenshot(path=str(OUT / "1-search.png"), full_page=True)
    page.get_by_label("Group by video").check()
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("region", name="video bikes", exact=True)).to_be_visible()
    page.screenshot(path=str(OUT / "2-search-grouped.png"), full_page=True)
    shot(page, "bikes/2").get_by_role("button", name="More like this").click()
    expect(page.get_by_role("heading", name=re.compile(r"shots like bikes\/2"))).to_be_visible()
    expect(page.get_by_role("article").first).to_have_accessible_name("shot bikes/2")

    # --- play a shot for its exact range -------------------------------------------------------
    card = shot(page, "bikes/2")
    times = card.locator(".meta span").first.inner_text()  # "a.aa s–b.bb s"
    start, end = (float(x) for x in re.findall(r"[\d.]+", times)[:2])
    card.get_by_role("button", name="Play").click()
    player = page.get_by_role("dialog", name="Player")
    expect(player).to_be_visible()
    t0 = page.wait_for_function(f"(() => {{ const v = document.getElementById('player-video');"
                                f" return v.readyState >= 2 && v.currentTime >= {start - 0.05} && v.currentTime; }})()",
                                timeout=60_000).json_value()
    t1 = page.wait_for_function(f"(() => {{ const v = document.getElementById('player-video');"
                                f" return v.currentTime > {t0 + 0.2} && v.currentTime; }})()", timeout=60_000).json_value()
    assert start - 0.05 <= t0 < t1 <= end + 0.1, (start, end, t0, t1)
    page.screenshot(path=str(OUT / "3-player.png"))
    page.wait_for_function("document.getElementById('player-video').paused", timeout=60_000)  # stops at the shot's end
    t_end = page.evaluate("document.getElementById('player-video').currentTime")
    assert t_end <= end + 0.3, (end, t_end)
    player.get_by_role("button", name="Close").click()

    # --- create a label with its description --------------------------------------------------
    page.goto("/#/classifiers")
    page.get_by_label("Label name").fill(label)
    page.get_by_label("Description").fill("people riding bicycles")
    page.get_by_role("button", name="Create label").click()
    expect(page.get_by_role("heading", name=re.compile(f"Workspace: {label}"))).to_be_visible()
    expect(page.get_by_role("status", name="Retrain state")).to_have_text(re.compile(r"^deployed v1"),
                                                                          timeout=TIMEOUT_MS)
    c = query.GetClassifier(query_pb2.GetClassifierRequest(label=label), timeout=10)
    assert c.description == "people riding bicycles" and c.deployed_version == 1

    # --- label 10 shots with the keyboard (one deliberately wrong: cockatoo/0 as positive) ------
    page.goto(f"/#/search?q=a+bicycle&catalog={CATALOG}&limit=48")
    expect(page.get_by_role("article", name=re.compile("^shot ")).first).to_be_visible()
    expect(page.get_by_label("Active label")).to_have_value(label)
    n_cards = page.get_by_role("article", name=re.compile("^shot ")).count()
    wanted = {f"bikes/{i}": "y" for i in range(6)} | {"cockatoo/0": "y", "bigbuckbunny/0": "n",
                                                       "console-city/0": "n", "console-city/1": "n"}
    pressed: list[str] = []
    for i in range(n_cards):
        if len(pressed) == len(wanted):
            break
        current = page.locator("article[aria-current=true]")
        sid = current.get_attribute("aria-label").removeprefix("shot ")  # type: ignore[union-attr]
        if sid in wanted:
            page.keyboard.press(wanted[sid])  # labels, then moves to the next shot
            expect(shot(page, sid).locator(".badge")).to_have_text("positive" if wanted[sid] == "y" else "negative")
            pressed.append(sid)
        elif i < n_cards - 1:  # j on the last card has nowhere to go
            page.keyboard.press("j")
            expect(current).not_to_have_attribute("aria-label", f"shot {sid}")
    assert sorted(pressed) == sorted(wanted), pressed
    page.keyboard.press("k")  # and back: the selection follows
    page.screenshot(path=str(OUT / "4-labelled.png"), full_page=True)
    want = {s: POS if k == "y" else NEG for s, k in wanted.items()}
    wait_for(lambda: all(annotations(query, label).get(s) == v for s, v in want.items()), 60, interval=0.5,
             what="the ten keyboard labels in ListAnnotations")

    # --- a version trained on them deploys; the page shows it without a reload ----------------
    page.goto(f"/#/workspace/{label}")
    status = page.get_by_role("status", name="Retrain state")

    def deployed() -> query_pb2.Classifier | None:
        c = query.GetClassifier(query_pb2.GetClassifierRequest(label=label), timeout=10)
        v = c.versions[-1]
        return c if (v.positives, v.negatives) == (7, 3) and c.deployed_version == v.version else None
    c = wait_for(deployed, 180, interval=0.5, what="a version on 7+/3- deployed")
    expect(status).to_have_text(f"deployed v{c.deployed_version}", timeout=30_000)
    trained_v = c.deployed_version
    assert trained_v >= 2
    expect(page.get_by_role("row", name=f"version {trained_v}", exact=True)).to_contain_text("7+ / 3−")

    # --- label from the borderline feed ---------------------------------------------------------
    page.get_by_role("tab", name="Borderline").click()
    expect(page.get_by_role("tab", name="Borderline")).to_have_attribute("aria-selected", "true")
    feed_card = page.locator("article[aria-current=true]")
    expect(feed_card).to_be_visible()
    border_sid = feed_card.get_attribute("aria-label").removeprefix("shot ")  # type: ignore[union-attr]
    assert border_sid not in want, "feeds exclude labelled shots"
    page.keyboard.press("n")
    expect(shot(page, border_sid).locator(".badge")).to_have_text("negative")
    page.screenshot(path=str(OUT / "5-workspace.png"), full_page=True)
    wait_for(lambda: annotations(query, label).get(border_sid) == NEG, 60, interval=0.5,
             what=f"{border_sid} labelled negative from the borderline feed")

    # --- review: filter by value, correct cockatoo/0 in place -----------------------------------
    page.goto(f"/#/review/{label}")
    row = page.get_by_role("row", name="annotation cockatoo/0", exact=True)
    expect(row).to_contain_text("positive")
    page.get_by_label("Value").select_option("negative")
    expect(page.get_by_role("row", name="annotation console-city/0", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name="annotation bikes/0", exact=True)).to_have_count(0)
    page.get_by_label("Value").select_option("")
    row.get_by_role("button", name="Negative").click()
    expect(row.locator(".badge")).to_have_text("negative")
    page.screenshot(path=str(OUT / "6-review.png"), full_page=True)
    wait_for(lambda: annotations(query, label).get("cockatoo/0") == NEG, 60, interval=0.5,
             what="cockatoo/0 corrected to negative")
    page.get_by_label("Sort").select_option("disagreement")
    expect(page.get_by_role("row", name=re.compile("^annotation ")).first).to_be_visible()

    # --- roll back to v1 -----------------------------------------------------------------------
    page.goto(f"/#/workspace/{label}")
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("status", name="Retrain state")).to_have_text("deployed v1 (pinned)")
    c = query.GetClassifier(query_pb2.GetClassifierRequest(label=label), timeout=10)
    assert (c.deployed_version, c.pinned) == (1, True)
    page.screenshot(path=str(OUT / "7-rolled-back.png"), full_page=True)

    # --- video page: shots on a timeline, categories, classifier scores ------------------------
    page.goto("/#/video/bikes")
    expect(page.get_by_role("list", name="Timeline").get_by_role("listitem")).to_have_count(SAMPLES["bikes"])
    expect(page.get_by_role("heading", name="Taxonomy categories")).to_be_visible()
    page.screenshot(path=str(OUT / "8-video.png"), full_page=True)
    workflow_s = time.monotonic() - t_start

    # --- page load times, measured in the browser -----------------------------------------------
    search_ms = load_ms(page, f"{base_url}/#/search?q=a+bicycle&limit=50", "search")
    n_search = page.get_by_role("article", name=re.compile("^shot ")).count()
    feed_ms = load_ms(page, f"{base_url}/#/workspace/{label}?feed=random&limit=50", "feed")
    n_feed = page.get_by_role("article", name=re.compile("^shot ")).count()
    assert n_feed == 50, f"the feed page should show 50 hits, got {n_feed}"
    print(f"\nconsole workflow: {workflow_s:.1f} s (search, play, create, 10 keyboard labels, deploy, "
          f"borderline label, review correction, rollback, video page)")
    print(f"page load (navigation start → results rendered, thumbnails decoded): search {search_ms:.0f} ms "
          f"({n_search} hits), random feed {feed_ms:.0f} ms ({n_feed} hits)")
    print(f"screenshots: {OUT}")
