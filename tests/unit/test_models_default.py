"""The offline default bundle: export fidelity, ImageNet sanity, zero-shot retrieval, bad input.

The bundle is built once into ``$SHOTLINE_MODEL_DIR`` (default ``~/.cache/shotline/models``)
and reused by later runs (about 70 s the first time on 2 cores, ~0 s after).
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from shotline.errors import BadInput
from shotline.models import load_bundle, mean_pool_shots, read_manifest
from shotline.models import zero_shot as zs
from shotline.models.build_default import (
    build_default_bundle, image_module, load_effnet, max_abs_diff_vs_torch,
)
from shotline.models.imagenet_concepts import load_concepts
from shotline.models.preprocess import to_tensor
from shotline.models.rank import rank


@pytest.fixture(scope="module")
def bundle() -> Path:
    return build_default_bundle()


@pytest.fixture(scope="module")
def model(bundle: Path):
    return load_bundle(bundle, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return zs.load_photos()


def test_build_is_cached(bundle: Path) -> None:
    before = {f.name: f.stat().st_mtime_ns for f in bundle.iterdir()}
    assert build_default_bundle(bundle) == bundle
    after = {f.name: f.stat().st_mtime_ns for f in bundle.iterdir()}
    assert after == before  # same build hash: no file rewritten
    manifest = read_manifest(bundle)
    assert manifest.model_id == "shotline-default-effnetlite0-minilm" and manifest.build_hash


def test_model_identity(model) -> None:
    assert model.heads == ("joint", "visual")
    assert model.dims == {"joint": 384, "visual": 1280}
    assert model.provider == "CPUExecutionProvider"
    assert model.version == "1.0.0"


def test_onnx_matches_torch_on_real_photos(model, bundle: Path, photos) -> None:
    import onnx
    from onnx import numpy_helper

    pixels = to_tensor(list(photos.values()), model.manifest.preprocess)
    # Rebuild the torch module around the concept matrix baked into the bundle's graph.
    graph = onnx.load(str(bundle / "image.onnx")).graph
    baked = [numpy_helper.to_array(t) for t in graph.initializer if tuple(t.dims) == (1000, 384)]
    assert len(baked) == 1
    module = image_module(load_effnet(), baked[0].copy())
    assert max_abs_diff_vs_torch(module, bundle / "image.onnx", pixels) < 1e-4


def test_imagenet_top1_makes_sense(model, bundle: Path, photos) -> None:
    import onnxruntime as ort

    names = [c.lemmas[0] for c in load_concepts()]
    sess = ort.InferenceSession(str(bundle / "image.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = sess.run(["logits"], {"pixels": to_tensor(list(photos.values()), model.manifest.preprocess)})
    top1 = dict(zip(photos, (names[i] for i in logits.argmax(1))))
    print("\nImageNet top-1:", top1)
    assert top1["chelsea"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert top1["coffee"] in {"espresso", "cup", "coffee mug"}
    assert top1["rocket"] in {"missile", "projectile", "space shuttle"}
    assert top1["camera"] == "tripod"
    assert top1["stereo_motorcycle"] in {"moped", "motor scooter", "crash helmet", "disk brake"}


def test_zero_shot_each_prompt_ranks_its_photo_first(model, photos) -> None:
    images = model.encode_images(list(photos.values()))
    result = zs.score(dict(zip(photos, images["joint"])), model.encode_text([p for _, p in zs.CASES]))
    print("\n" + result.table())
    assert result.top1 == 1.0
    assert result.mean_margin > 0.1


def test_embeddings_are_unit_and_consistent(model, photos) -> None:
    cat = photos["chelsea"]
    out = model.encode_images([cat, cat[::2, ::2].copy(), photos["coffee"]])
    for head, dim in model.dims.items():
        assert out[head].shape == (3, dim) and out[head].dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(out[head], axis=1), 1, atol=1e-5)
    visual = out["visual"]
    assert visual[0] @ visual[1] > visual[0] @ visual[2]  # same cat at half size beats coffee
    single = model.encode_images([cat])["visual"][0]
    np.testing.assert_allclose(single, visual[0], atol=1e-5)  # batching does not change results


def test_text_encoding(model) -> None:
    text = model.encode_text(["a cat", "a kitten", "an aeroplane", "a cat " * 500])
    assert text.shape == (4, 384)
    assert text[0] @ text[1] > text[0] @ text[2]
    assert model.encode_text([]).shape == (0, 384)


@pytest.mark.parametrize("bad", ["", "   \n", None, 3])
def test_bad_text_is_bad_input(model, bad) -> None:
    with pytest.raises(BadInput) as err:
        model.encode_text(["fine", bad])
    assert err.value.reason in {"empty_text", "bad_text"}
    assert err.value.reason == ("empty_text" if isinstance(bad, str) else "bad_text")


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((10, 10), np.uint8),  # grayscale
        np.zeros((10, 10, 4), np.uint8),  # RGBA
        np.zeros((10, 10, 3), np.float32),  # wrong dtype
        np.zeros((0, 10, 3), np.uint8),  # empty
        np.zeros((2, 10, 10, 3), np.uint8),  # a batch, not an image
        [[1, 2, 3]],  # not an array
    ],
)
def test_bad_image_is_bad_input(model, bad) -> None:
    with pytest.raises(BadInput) as err:
        model.encode_images([np.zeros((8, 8, 3), np.uint8), bad])
    assert err.value.reason == "bad_image"
    assert "image 1" in err.value.message


def test_tiny_and_extreme_images_are_resized(model) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (1, 1, 3), dtype=np.uint8),
              rng.integers(0, 255, (3, 2000, 3), dtype=np.uint8)]
    out = model.encode_images(images)
    assert np.isfinite(out["joint"]).all() and out["joint"].shape == (2, 384)


def test_mean_pool_shots_of_keyframes(model, photos) -> None:
    visual = model.encode_images([photos["chelsea"], photos["chelsea"][:, ::-1].copy(), photos["coffee"]])["visual"]
    pooled = mean_pool_shots(visual, ["shot-1", "shot-1", "shot-2"])
    assert pooled.shot_ids == ["shot-1", "shot-2"]
    assert pooled.embeddings[0] @ visual[0] > 0.9


def test_rank_images_and_video(model, photos, tmp_path: Path) -> None:
    Image.fromarray(photos["chelsea"]).save(tmp_path / "cat.jpg")
    Image.fromarray(photos["coffee"]).save(tmp_path / "coffee.png")
    video = tmp_path / "motorcycle.mp4"
    with av.open(str(video), "w") as out:  # 2 s of the motorcycle photo, slowly panning
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        moto = photos["stereo_motorcycle"]
        for i in range(20):
            crop = np.ascontiguousarray(moto[i * 5 : i * 5 + 400, i * 5 : i * 5 + 533])
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.fromarray(crop).resize((320, 240))), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    files = [tmp_path / "cat.jpg", tmp_path / "coffee.png", video]
    result = rank(model, ["a cat", "a cup of coffee", "a motorcycle"], files)
    assert result["images"] == [str(f) for f in files]
    assert [int(np.argmax(row)) for row in result["scores"]] == [0, 1, 2]


def test_rank_bad_files(model, tmp_path: Path) -> None:
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    for path, reason in [(tmp_path / "junk.jpg", "bad_media"), (tmp_path / "junk.mp4", "bad_media"),
                         (tmp_path / "absent.png", "missing_file")]:
        with pytest.raises(BadInput) as err:
            rank(model, ["a cat"], [path])
        assert err.value.reason == reason
    with pytest.raises(BadInput):
        rank(model, [], [])


def test_provider_override_by_env(bundle: Path, monkeypatch) -> None:
    monkeypatch.setenv("SHOTLINE_ORT_PROVIDERS", "CPUExecutionProvider")
    assert load_bundle(bundle).provider == "CPUExecutionProvider"
    monkeypatch.setenv("SHOTLINE_ORT_PROVIDERS", "NoSuchExecutionProvider")
    with pytest.raises(ValueError, match="not available"):
        load_bundle(bundle)


def test_a_gpu_provider_asked_for_alone_fails_loudly_where_it_cannot_run(bundle: Path, monkeypatch) -> None:
    """This machine has no GPU: naming only CUDA is refused with the reason, never a silent CPU run;
    naming CPU after it allows the fallback."""
    monkeypatch.setenv("SHOTLINE_ORT_PROVIDERS", "CUDAExecutionProvider")
    with pytest.raises(RuntimeError, match=r"asks for CUDAExecutionProvider.*CPUExecutionProvider"):
        load_bundle(bundle)
    monkeypatch.setenv("SHOTLINE_ORT_PROVIDERS", "CUDAExecutionProvider,CPUExecutionProvider")
    assert load_bundle(bundle).provider == "CPUExecutionProvider"
