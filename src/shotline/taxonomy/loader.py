"""Load and validate a category taxonomy (CSV or JSON).

A taxonomy is a forest of categories: ``id, name, parent, visual, description``. The
``description`` is one sentence written for text-embedding zero-shot; ``visual`` says
whether video frames can show the category (the visual model only trains on those).
Which taxonomy a service uses is configuration (a path); the version travels with every
classification so stored results say which taxonomy they refer to.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from shotline.errors import BadInput

DEFAULT_TAXONOMY = "shotline-iab-like-v1"
_VERSION_LINE = re.compile(r"^#\s*taxonomy_version:\s*([A-Za-z0-9_.\-]+)")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,127}$")
FIELDS = ("id", "name", "parent", "visual", "description")


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    parent: str | None
    visual: bool
    description: str


class Taxonomy:
    """Validated categories in file order, with parent/child lookups."""

    def __init__(self, version: str, categories: list[Category]):
        _validate(version, categories)
        self.version = version
        self.categories = list(categories)
        self._by_id = {c.id: c for c in categories}

    def __len__(self) -> int:
        return len(self.categories)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def __getitem__(self, category_id: str) -> Category:
        try:
            return self._by_id[category_id]
        except KeyError:
            raise BadInput("unknown_category", f"{category_id!r} is not in taxonomy {self.version}") from None

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.categories]

    @property
    def visual_ids(self) -> list[str]:
        return [c.id for c in self.categories if c.visual]

    def children(self, category_id: str) -> list[Category]:
        return [c for c in self.categories if c.parent == category_id]

    def ancestors(self, category_id: str) -> list[str]:
        """Parent first, root last."""
        out: list[str] = []
        parent = self[category_id].parent
        while parent is not None:
            out.append(parent)
            parent = self._by_id[parent].parent
        return out

    def path_name(self, category_id: str) -> str:
        """``Automotive > Cars`` — the readable full path."""
        chain = [category_id, *self.ancestors(category_id)][::-1]
        return " > ".join(self._by_id[c].name for c in chain)


def _validate(version: str, categories: list[Category]) -> None:
    if not version or not _ID.match(version.lower()):
        raise BadInput("bad_taxonomy", f"bad taxonomy version {version!r}")
    if not categories:
        raise BadInput("empty_taxonomy", f"taxonomy {version} has no categories")
    seen: dict[str, Category] = {}
    for c in categories:
        if not _ID.match(c.id):
            raise BadInput("bad_taxonomy", f"bad category id {c.id!r} (lower-case, digits, . _ -)")
        if c.id in seen:
            raise BadInput("bad_taxonomy", f"duplicate category id {c.id!r}")
        if not c.name.strip() or not c.description.strip():
            raise BadInput("bad_taxonomy", f"category {c.id!r} needs a name and a description")
        seen[c.id] = c
    for c in categories:
        if c.parent is not None and c.parent not in seen:
            raise BadInput("bad_taxonomy", f"category {c.id!r}: parent {c.parent!r} does not exist")
    for c in categories:  # walk up from each node; a walk longer than the forest is a cycle
        node, steps = c, 0
        while node.parent is not None:
            node, steps = seen[node.parent], steps + 1
            if steps > len(categories):
                raise BadInput("bad_taxonomy", f"parent cycle through {c.id!r}")


def _flag(value: object, where: str) -> bool:
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y"}:
        return True
    if text in {"0", "false", "no", "n", ""}:
        return False
    raise BadInput("bad_taxonomy", f"{where}: visual must be 0/1/true/false, got {value!r}")


def _category(row: dict[str, object], where: str) -> Category:
    missing = [f for f in ("id", "name", "description") if not str(row.get(f) or "").strip()]
    if missing:
        raise BadInput("bad_taxonomy", f"{where}: missing {', '.join(missing)}")
    parent = str(row.get("parent") or "").strip() or None
    return Category(id=str(row["id"]).strip(), name=str(row["name"]).strip(), parent=parent,
                    visual=_flag(row.get("visual", "0"), where), description=str(row["description"]).strip())


def parse_taxonomy(text: str, fmt: str = "csv", version: str | None = None,
                   default_version: str = "") -> Taxonomy:
    """Parse taxonomy text. CSV: header ``id,name,parent,visual,description``, an optional
    ``# taxonomy_version: <v>`` first line. JSON: ``{"version": ..., "categories": [...]}``."""
    if fmt == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise BadInput("bad_taxonomy", f"taxonomy is not valid JSON: {e}") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("categories"), list):
            raise BadInput("bad_taxonomy", "JSON taxonomy must be {version, categories: [...]}")
        rows = doc["categories"]
        if not all(isinstance(r, dict) for r in rows):
            raise BadInput("bad_taxonomy", "each JSON category must be an object")
        cats = [_category(r, f"category {i}") for i, r in enumerate(rows)]
        return Taxonomy(version or str(doc.get("version") or "") or default_version, cats)
    if fmt != "csv":
        raise BadInput("bad_taxonomy", f"unknown taxonomy format {fmt!r}")
    lines = text.splitlines()
    found = None
    body = []
    for line in lines:
        m = _VERSION_LINE.match(line)
        if m:
            found = m.group(1)
        elif not line.startswith("#") and line.strip():
            body.append(line)
    if not body:
        raise BadInput("empty_taxonomy", "taxonomy file has no header and no categories")
    reader = csv.DictReader(io.StringIO("\n".join(body)))
    if not reader.fieldnames or not {"id", "name", "description"} <= set(reader.fieldnames):
        raise BadInput("bad_taxonomy", f"CSV header must include {','.join(FIELDS)}; got {reader.fieldnames}")
    cats = [_category(r, f"line {i + 2}") for i, r in enumerate(reader)]
    return Taxonomy(version or found or default_version, cats)


def default_taxonomy_path() -> Path:
    return Path(__file__).parent / "data" / f"{DEFAULT_TAXONOMY}.csv"


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load a taxonomy file (``.csv`` or ``.json``; default: the shipped one). The version is
    the file's ``taxonomy_version`` (CSV comment / JSON field), else the file stem."""
    p = Path(path) if path is not None else default_taxonomy_path()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput("bad_taxonomy", f"cannot read taxonomy {p}: {e}") from e
    fmt = "json" if p.suffix.lower() == ".json" else "csv"
    return parse_taxonomy(text, fmt, default_version=p.stem)
