"""Asking, when the run view is closed on a live run, whether to stop the run or leave it running."""

from __future__ import annotations

from loraforge.tui.choice import Choice


class LeaveRun(Choice):
    """Stop the run (it saves a checkpoint), leave it running, or stay ("stop", "leave" or None)."""

    def __init__(self, watch_command: str) -> None:
        super().__init__(
            "The run is still going. Stop it (it saves a checkpoint at the next step, to resume "
            "from), or leave it running in the background (follow it again with "
            f"`{watch_command}`)?",
            [("stop", "Stop it", "warning"), ("leave", "Leave it running", "primary")],
            back="Stay", back_id="stay")
