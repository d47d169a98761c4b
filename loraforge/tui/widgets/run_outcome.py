"""How the run ended, in a panel: the final numbers and where the adapter is, or what went wrong.

A failed run shows the words of the command line's error panel (title,
where, message, hint); a process that died without ending the run shows how
it died and the last lines of its log. Every ending names the headless
command: the run again, or its continuation from the checkpoint.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from loraforge.console import duration
from loraforge.tui.run_state import RunOutcome, RunState


def final_losses(state: RunState, mean: float | None) -> str:
    parts = []
    if state.last_train_loss is not None:
        parts.append(f"train {state.last_train_loss:.4f} (last logged)")
    if mean is not None:
        parts.append(f"{float(mean):.4f} (mean)")
    words = "Loss: " + ", ".join(parts) if parts else "Loss: none logged"
    if state.last_eval_loss is not None:
        words += f" · eval {state.last_eval_loss:.4f}"
    return words


class RunOutcomePanel(Static):
    """The end of the run; hidden until there is one."""

    def show(self, state: RunState, outcome: RunOutcome, command: str | None,
             log: list[str]) -> None:
        text = Text()
        ended = state.ended or {}
        if outcome.status == "finished":
            self.set_classes("outcome-finished")
            text.append("✓ Finished", style="bold")
            text.append(f": {state.step} steps")
            if ended.get("runtime_s") is not None:
                text.append(f" in {duration(float(ended['runtime_s']), compact=True)}")
            text.append("\n" + final_losses(state, ended.get("train_loss")))
            text.append(f"\nAdapter: {outcome.output_dir}")
            if command:
                text.append(f"\nHeadless: {command}")
        elif outcome.status == "interrupted":
            self.set_classes("outcome-interrupted")
            by = f" by {ended['signal']}" if ended.get("signal") else ""
            text.append(f"■ Stopped{by} at step {state.step}", style="bold")
            text.append(f": checkpoint in {outcome.checkpoint}" if outcome.checkpoint else
                        ": no checkpoint was saved (it stopped before the first step)")
            if command:
                text.append(f"\nContinue headless: {command} --resume" if outcome.checkpoint
                            else f"\nHeadless: {command}")
        elif outcome.status == "failed":
            self.set_classes("outcome-failed")
            error = outcome.error or {}
            title = error.get("title") or "Error"
            text.append(f"✗ {title}", style="bold")
            if ended.get("phase"):
                text.append(f" (in the {ended['phase']} phase)")
            text.append("\n")
            if error.get("where"):
                text.append(f"{error['where']}: ", style="bold")
            text.append(str(error.get("message") or "the run failed"))
            if error.get("hint"):
                text.append(f"\n{error['hint']}", style="italic")
            if command:
                text.append(f"\nHeadless: {command}")
        else:  # crashed
            self.set_classes("outcome-failed")
            text.append("✗ The run's process died without ending the run", style="bold")
            text.append(f": {outcome.detail}." if outcome.detail else ".")
            if log:
                text.append("\nThe last lines of its log:")
                for line in log:
                    text.append(f"\n  {line}", style="dim")
            if outcome.checkpoint and command:
                text.append(f"\nIts newest checkpoint: {outcome.checkpoint}; continue with: "
                            f"{command} --resume")
            elif command:
                text.append(f"\nHeadless: {command}")
        self.update(text)
        self.display = True
