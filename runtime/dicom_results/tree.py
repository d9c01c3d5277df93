"""Small helpers to assemble SR content trees from highdicom's generic content items."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from highdicom.sr import ContentItem, ContentSequence

Item = TypeVar("Item", bound=ContentItem)


def attach(parent: Item, children: Iterable[ContentItem]) -> Item:
    """Append ``children`` to ``parent``'s content sequence (each child carries its relationship type)."""
    items = list(children)
    if items:
        existing = list(parent.ContentSequence) if "ContentSequence" in parent else []
        parent.ContentSequence = ContentSequence(existing + items)
    return parent
