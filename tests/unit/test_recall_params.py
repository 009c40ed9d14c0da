"""Per-query-kind search parameters of ShotIndex (text prompts get a wider search than shots)."""

from __future__ import annotations

import pytest

from shotline.errors import BadInput
from shotline.index import ShotIndex


def _index(index_type: str, **kw) -> ShotIndex:  # type: ignore[no-untyped-def]
    # Constructing never connects: the parameters are pure configuration.
    return ShotIndex("http://127.0.0.1:1", "c", {"joint": 8}, index_type=index_type, **kw)  # type: ignore[arg-type]


def test_text_queries_search_wider_than_shot_queries_by_default() -> None:
    hnsw = _index("HNSW")
    assert hnsw.params_for("shot")["ef"] == 128
    assert hnsw.params_for("text")["ef"] == 1024
    ivf = _index("IVF_FLAT")
    assert ivf.params_for("shot")["nprobe"] == 32
    assert ivf.params_for("text")["nprobe"] == 128
    assert _index("FLAT").params_for("text") == {}


def test_configured_params_and_overrides() -> None:
    ix = _index("HNSW", search_params={"ef": 64}, text_search_params={"ef": 300})
    assert ix.params_for("shot")["ef"] == 64
    assert ix.params_for("text")["ef"] == 300
    assert ix.params_for("text", override={"ef": 1000})["ef"] == 1000
    # shot params the text ones don't name are inherited
    ix = _index("IVF_FLAT", search_params={"nprobe": 16, "radius": 0.1})
    assert ix.params_for("text") == {"nprobe": 128, "radius": 0.1}


def test_hnsw_ef_is_never_below_top_k() -> None:
    ix = _index("HNSW", search_params={"ef": 64})
    assert ix.params_for("shot", top_k=10)["ef"] == 64
    assert ix.params_for("shot", top_k=500)["ef"] == 500  # Milvus refuses ef < limit
    assert ix.params_for("text", top_k=2000)["ef"] == 2000


def test_ivf_nprobe_is_capped_at_nlist() -> None:
    ix = _index("IVF_FLAT", index_params={"nlist": 64}, text_search_params={"nprobe": 256})
    assert ix.params_for("text")["nprobe"] == 64
    assert ix.params_for("shot")["nprobe"] == 32


def test_unknown_kind_is_bad_input() -> None:
    with pytest.raises(BadInput, match="kind"):
        _index("HNSW").params_for("image")  # type: ignore[arg-type]
