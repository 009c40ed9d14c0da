"""Evaluation data. There is NO labelled video-category dataset on this machine, so:

``synthetic_benchmark`` (clearly synthetic): each visual category gets a prototype in the joint
space — the MiniLM embedding of its *description* blended with a random direction of its own
(so the visual task is not a copy of the zero-shot text task); a video has 1–2 leaf categories
(plus their ancestors as labels) and 1–12 shots, each shot a noisy draw around one of its
categories' prototypes or a distractor (another category's prototype / pure noise).
Non-visual categories contribute no visual signal. Text is made from templates: English titles
naming the category, titles in es/fr/de/pt/ja/zh templates around the *English* category name
(we have no translations of the taxonomy), uninformative titles, "clickbait" titles naming a
wrong category, and no text at all — mirroring "most uploads have little or no text".
With ``p_speech`` / ``p_on_screen`` a share of videos also carries what a transcriber would give:
spoken sentences about the video's category among off-topic chatter (or, as often as real speech
wanders, about another category), and on-screen captions naming the category or saying nothing
useful ("SUBSCRIBE", "EPISODE 3"); a video may have only these. The text blend's weights are
learned on such data (``TextBlend.fit``).

``real_photo_set`` (real pixels, hand labels, tiny): scikit-image sample photos treated as
one-shot videos and frames sampled from the real test videos, with categories assigned by hand
and titles written by hand in several languages (see ``REAL_ITEMS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shotline.categories.inputs import VideoText
from shotline.categories.service import Request
from shotline.categories.train import Example
from shotline.models import VisionLanguageModel, l2_normalize
from shotline.taxonomy import Taxonomy

TEMPLATES = {
    "en": ["{n}", "Best {n} of the year", "My {n} vlog", "{n} - full video", "Amazing {n} compilation",
           "Everything about {n}"],
    "es": ["Mi vídeo de {n}", "Lo mejor de {n}", "{n} en español"],
    "fr": ["Ma vidéo {n}", "Le meilleur de {n}", "{n} : la vidéo complète"],
    "de": ["Mein {n} Video", "Alles über {n}"],
    "pt": ["Meu vídeo de {n}", "{n} incrível"],
    "ja": ["私の{n}動画", "{n}まとめ"],
    "zh": ["我的{n}视频", "{n}合集"],
}
UNINFORMATIVE = [("en", "vlog #{k}"), ("en", "untitled {k}"), ("es", "día {k}"), ("fr", "jour {k}"),
                 ("de", "Tag {k}"), ("ja", "動画{k}"), ("", "IMG_{k}")]
DESCRIPTIONS_EN = ["A video about {n}.", "Watch this {n} video and subscribe.", ""]
SPOKEN = ["so today we are talking about {n}", "this is all about {n} and why I love it",
          "let me show you some {n}", "welcome back everyone to another {n} session"]
CHATTER = ["hey guys what's up", "don't forget to like and subscribe", "okay let's get started",
           "thanks for watching see you next time", "um so yeah anyway", "as you can see here"]
CAPTIONS = ["{N}", "{N} SPECIAL", "BEST OF {N}"]
CAPTIONS_NOISE = ["SUBSCRIBE", "EPISODE {k}", "LIVE", "PART {k}"]


def _prototypes(taxonomy: Taxonomy, encode_text, rng: np.random.Generator, own: float = 0.6) -> np.ndarray:
    desc = encode_text([c.description for c in taxonomy.categories])
    noise = l2_normalize(rng.normal(size=desc.shape).astype(np.float32))
    return l2_normalize(own * desc + (1 - own) * noise)


def synthetic_benchmark(taxonomy: Taxonomy, encode_text, n_videos: int, seed: int = 0,
                        shot_noise: float = 1.1, p_text: tuple[float, float, float, float] = (0.35, 0.25, 0.15, 0.05),
                        p_speech: float = 0.0, p_on_screen: float = 0.0) -> list[Example]:
    """``p_text``: shares of (English title, foreign-template title, uninformative title, wrong-category
    title); the rest has no text. ``p_speech`` / ``p_on_screen``: shares with a transcript / on-screen
    captions (drawn from their own generator, so the rest of the data is the same for any value).
    Shot vectors under head ``joint``."""
    spoken_rng = np.random.default_rng([seed, 7])
    rng = np.random.default_rng(seed)
    protos = _prototypes(taxonomy, encode_text, np.random.default_rng(12345))  # fixed across splits
    ids = taxonomy.ids
    leaves = [j for j, c in enumerate(taxonomy.categories) if not taxonomy.children(c.id)]
    vis_leaves = [j for j in leaves if taxonomy.categories[j].visual]
    d = protos.shape[1]
    out = []
    for i in range(n_videos):
        pool = vis_leaves if rng.random() < 0.75 else leaves
        cats = list(rng.choice(pool, size=1 + int(rng.random() < 0.3), replace=False))
        labels = set()
        for j in cats:
            labels |= {ids[j], *taxonomy.ancestors(ids[j])}
        signal = [j for j in cats if taxonomy.categories[j].visual]
        shots = []
        for _ in range(int(rng.integers(1, 13))):
            r = rng.random()
            if signal and r < 0.65:
                centre = protos[rng.choice(signal)]
            elif r < 0.85:
                centre = protos[rng.choice(vis_leaves)]  # distractor: something else on screen
            else:
                centre = np.zeros(d, np.float32)
            shots.append(centre + shot_noise * rng.normal(size=d).astype(np.float32) / np.sqrt(d))
        main = taxonomy.categories[cats[0]].name
        u = rng.random()
        edges = np.cumsum(p_text)
        if u < edges[0]:
            text = VideoText(str(rng.choice(TEMPLATES["en"])).format(n=main),
                             str(rng.choice(DESCRIPTIONS_EN)).format(n=main.lower()), "en")
        elif u < edges[1]:
            lang = str(rng.choice([k for k in TEMPLATES if k != "en"]))
            text = VideoText(str(rng.choice(TEMPLATES[lang])).format(n=main), "", lang)
        elif u < edges[2]:
            lang, tpl = UNINFORMATIVE[rng.integers(len(UNINFORMATIVE))]
            text = VideoText(tpl.format(k=int(rng.integers(1, 999))), "", lang)
        elif u < edges[3]:
            wrong = taxonomy.categories[int(rng.choice(leaves))].name
            text = VideoText(str(rng.choice(TEMPLATES["en"])).format(n=wrong), "", "en")
        else:
            text = VideoText()
        if p_speech or p_on_screen:
            text = _with_spoken(text, spoken_rng, main, taxonomy.categories[int(spoken_rng.choice(leaves))].name,
                                p_speech, p_on_screen)
        vid = f"syn-{seed}-{i:05d}"
        req = Request(vid, {"joint": l2_normalize(np.stack(shots).astype(np.float32))}, text,
                      duration_ms=int(rng.integers(10_000, 900_000)), catalog_id=f"cat{int(rng.integers(0, 5))}")
        out.append(Example(req, frozenset(labels)))
    return out


def _with_spoken(text: VideoText, rng: np.random.Generator, main: str, other: str, p_speech: float,
                 p_on_screen: float) -> VideoText:
    """``text`` plus a transcript (3 in 4 about the video's category, else about another one, always
    among chatter) and/or on-screen captions (half naming the category, half noise)."""
    from dataclasses import replace

    transcript = on_screen = ""
    if rng.random() < p_speech:
        topic = main if rng.random() < 0.75 else other
        lines = [str(rng.choice(CHATTER)) for _ in range(int(rng.integers(1, 6)))]
        lines.insert(int(rng.integers(0, len(lines) + 1)), str(rng.choice(SPOKEN)).format(n=topic.lower()))
        transcript = " ".join(lines)
    if rng.random() < p_on_screen:
        on_screen = (str(rng.choice(CAPTIONS)).format(N=main.upper()) if rng.random() < 0.5
                     else str(rng.choice(CAPTIONS_NOISE)).format(k=int(rng.integers(1, 20))))
    return replace(text, transcript=transcript, on_screen=on_screen)


# (source, hand-assigned leaf categories, title, language). Sources: "skimage:<name>" (one photo =
# a one-shot video) or "video:<fixture file>" (frames sampled every ~1 s, one shot per frame).
REAL_ITEMS: list[tuple[str, tuple[str, ...], str, str]] = [
    ("skimage:astronaut", ("science.space",), "Astronaut portrait before the mission", "en"),
    ("skimage:rocket", ("science.space",), "Lanzamiento del cohete", "es"),
    ("skimage:coffee", ("food-drink.coffee-tea",), "", ""),
    ("skimage:chelsea", ("pets.cats",), "Mon chat Chelsea", "fr"),
    ("skimage:cat", ("pets.cats",), "", ""),
    ("skimage:camera", ("arts-crafts.photography",), "Alte Kamera", "de"),
    ("skimage:hubble_deep_field", ("science.space",), "", ""),
    ("skimage:moon", ("science.space",), "月の表面", "ja"),
    ("skimage:immunohistochemistry", ("science.biology",), "Tissue under the microscope", "en"),
    ("skimage:coins", ("hobbies.collecting",), "Old coin collection", "en"),
    ("skimage:page", ("education.literature",), "", ""),
    ("skimage:retina", ("health-fitness.medical-conditions",), "Retina scan explained", "en"),
    ("skimage:motorcycle_left", ("automotive.motorcycles",), "", ""),
    ("skimage:brick", ("home-garden.diy-home-improvement",), "brick wall", "en"),
    ("skimage:grass", ("home-garden.gardening",), "", ""),
    ("video:bikes.mp4", ("sports.cycling",), "Mountainbike Trail", "de"),
    ("video:cockatoo.mp4", ("pets.birds",), "", ""),
    ("video:bigbuckbunny.mp4", ("movies-tv.animation",), "Big Buck Bunny", "en"),
    ("video:cityCC0.mpg", ("travel.cities",), "", ""),
]


def _skimage(name: str) -> np.ndarray:
    from skimage import color, data

    obj = getattr(data, name)()
    img = np.asarray(obj[0] if isinstance(obj, tuple) else obj)  # stereo pairs: the left image
    if img.ndim == 2:
        img = (color.gray2rgb(img) * (255 if img.dtype != np.uint8 else 1)).astype(np.uint8)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return img[..., :3]


def _frames(path: Path, every_s: float = 1.0, limit: int = 12) -> list[np.ndarray]:
    import av

    frames, next_t = [], 0.0
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            t = float(f.time or 0.0)
            if t >= next_t:
                frames.append(f.to_ndarray(format="rgb24"))
                next_t = t + every_s
                if len(frames) >= limit:
                    break
    return frames


def real_photo_set(taxonomy: Taxonomy, model: VisionLanguageModel, fixtures: Path) -> list[Example]:
    out = []
    for source, leaves, title, lang in REAL_ITEMS:
        kind, name = source.split(":", 1)
        if kind == "skimage":
            images = [_skimage(name.replace("motorcycle_left", "stereo_motorcycle"))]
        else:
            if not (fixtures / name).is_file():
                continue  # fixtures not fetched: the set is simply smaller (reported by count)
            images = _frames(fixtures / name)
        emb = model.encode_images(images)
        labels = set()
        for c in leaves:
            labels |= {c, *taxonomy.ancestors(c)}
        req = Request(source, {h: v for h, v in emb.items()}, VideoText(title, "", lang),
                      duration_ms=1000 * len(images))
        out.append(Example(req, frozenset(labels)))
    return out
