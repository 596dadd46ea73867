"""The little XML the surveys read without a parser: attributes of a tag, text between tags, character
references. Every pattern is bounded by `[^<>]`, so each scan stays linear whatever the bytes."""

from __future__ import annotations

import html
import re

ATTR_RE = re.compile(rb"""([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
REL_RE = re.compile(rb"<(?:[\w.-]+:)?Relationship\s([^<>]*)>")
TAGS = re.compile(rb"<[^<>]*>")


def tag_attrs(raw: bytes) -> dict[bytes, bytes]:
    """A tag's attributes by local name (namespace declarations by their full name)."""
    return {
        k.split(b":")[-1] if not k.startswith(b"xmlns") else k: a or b for k, a, b in ATTR_RE.findall(raw)
    }


def unescape(raw: bytes) -> str:
    """An attribute's or a text's characters: entities and character references (`&amp;`, `&#38;`,
    `&#x26;`) resolved as an XML parser would."""
    return html.unescape(raw.decode("utf-8", "replace"))


def error_text(raw: bytes) -> str:
    """An error value as the file writes it (#DIV/0!, Err:502), short."""
    return unescape(raw).strip()[:40]
