"""Small helpers to assemble SR content trees from highdicom's generic content items."""

from __future__ import annotations

from collections.abc import Iterable

from highdicom.sr import ContentItem, ContentSequence


def attach(parent: ContentItem, children: Iterable[ContentItem]) -> ContentItem:
    """Append ``children`` to ``parent``'s content sequence (each child carries its relationship type)."""
    items = list(children)
    if items:
        existing = list(parent.ContentSequence) if "ContentSequence" in parent else []
        parent.ContentSequence = ContentSequence(existing + items)
    return parent
