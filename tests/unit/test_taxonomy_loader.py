"""The shipped taxonomy and the loader's validation of bad taxonomies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shotline.errors import BadInput
from shotline.taxonomy import DEFAULT_TAXONOMY, load_taxonomy, parse_taxonomy

HEADER = "id,name,parent,visual,description\n"


def test_default_taxonomy_is_about_200_validated_categories() -> None:
    tax = load_taxonomy()
    assert tax.version == DEFAULT_TAXONOMY
    assert 180 <= len(tax) <= 220
    assert len(set(tax.ids)) == len(tax)
    assert tax["pets.dogs"].visual and not tax["news-politics.politics"].visual
    assert tax.path_name("automotive.motorcycles") == "Automotive > Motorcycles"
    roots = [c for c in tax.categories if c.parent is None]
    assert 15 <= len(roots) <= 40
    assert all(len(c.description.split()) >= 4 for c in tax.categories)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty_taxonomy"),
    ("# taxonomy_version: x\n", "empty_taxonomy"),
    (HEADER, "empty_taxonomy"),
    (HEADER + "a,A,,1,Alpha things.\na,A2,,1,Again alpha.\n", "bad_taxonomy"),
    (HEADER + "a,A,missing,1,Alpha things.\n", "bad_taxonomy"),
    (HEADER + "a,A,b,1,Alpha.\nb,B,a,1,Beta.\n", "bad_taxonomy"),
    (HEADER + "a,A,,maybe,Alpha things.\n", "bad_taxonomy"),
    (HEADER + "a,A,,1,\n", "bad_taxonomy"),
    (HEADER + "Bad Id,A,,1,Alpha things.\n", "bad_taxonomy"),
    ("name,description\nA,Alpha\n", "bad_taxonomy"),
])
def test_bad_taxonomies_are_bad_input(text: str, reason: str) -> None:
    with pytest.raises(BadInput) as e:
        parse_taxonomy(text, default_version="t1")
    assert e.value.reason == reason


def test_another_taxonomy_is_configuration(tmp_path: Path) -> None:
    p = tmp_path / "tiny-v7.json"
    p.write_text(json.dumps({"version": "tiny-v7", "categories": [
        {"id": "animals", "name": "Animals", "visual": True, "description": "Animals of all kinds."},
        {"id": "animals.dogs", "name": "Dogs", "parent": "animals", "visual": True, "description": "Dogs."},
        {"id": "ideas", "name": "Ideas", "visual": False, "description": "Abstract ideas."},
    ]}))
    tax = load_taxonomy(p)
    assert tax.version == "tiny-v7" and tax.ids == ["animals", "animals.dogs", "ideas"]
    assert tax.visual_ids == ["animals", "animals.dogs"] and tax.ancestors("animals.dogs") == ["animals"]
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text(HEADER + "x,X,,0,Something abstract.\n")
    assert load_taxonomy(csv_path).version == "mine"  # no version line: the file stem


def test_unknown_category_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as e:
        load_taxonomy()["no.such.category"]
    assert e.value.reason == "unknown_category"
    with pytest.raises(BadInput):
        load_taxonomy(tmp_path / "missing.csv")
    with pytest.raises(BadInput):
        parse_taxonomy("{not json", "json")
