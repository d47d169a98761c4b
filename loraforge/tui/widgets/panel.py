"""A framed box of live facts that takes no room until it has something to say."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static


class Panel(Static):
    """A ``Static`` in a frame, shown only while it has content."""

    DEFAULT_CLASSES = "panel"

    def __init__(self, content: Any = "", **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.display = _has(content)

    def update(self, content: Any = "", *, layout: bool = True) -> None:
        super().update(content, layout=layout)
        self.display = _has(content)


def _has(content: Any) -> bool:
    return not (content is None or (isinstance(content, str) and not content.strip()))
