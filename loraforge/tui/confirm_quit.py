"""Asking before unsaved changes are thrown away."""

from __future__ import annotations

from loraforge.tui.choice import Choice


class ConfirmQuit(Choice):
    """Save and quit, quit without saving, or go back ("save", "quit" or None)."""

    def __init__(self) -> None:
        super().__init__("The recipe has changes that are not saved.",
                         [("save", "Save and quit", "primary"),
                          ("quit", "Quit without saving", "error")], back="Back", back_id="back")
