"""Label rules: valid classifier label names.

Folding label events into one label per shot is the read model's job
(``Registry.add_annotations``: the latest event time wins; an equal time, the later arrival).
"""

from __future__ import annotations

import re

from shotline.errors import BadInput

LABEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


def validate_label_name(name: object) -> str:
    """Return ``name`` if it is a valid classifier label name, else raise BadInput("bad_label_name")."""
    if not isinstance(name, str) or not LABEL_NAME_RE.fullmatch(name):
        raise BadInput("bad_label_name", f"label name must match {LABEL_NAME_RE.pattern}, got {name!r:.80}")
    return name
