"""The ``compare`` callback: after a finished run, the base beside the adapter on held-out rows.

It loads the saved adapter again (as ``loraforge eval`` does, so what it
shows is what the folder holds) and prints the held-out loss and perplexity
of both, how many of their greedy answers match the rows' completions, and a
few of those answers: ``loraforge eval RUN_DIR --answers``, at the end of the
run. A run without held-out rows gets one line saying so.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loraforge.components import TrainingCallback


class CompareOptions(BaseModel):
    """Options of the ``compare`` callback."""

    model_config = ConfigDict(extra="forbid")

    examples: int = Field(3, ge=0, le=100, title="Answers shown",
                          description="How many greedy answers to show.")
    answers: bool = Field(
        True, title="Count right answers", description="Answer every held-out row and count the answers that match its "
        "completion (loss and perplexity only when false).",
    )


class CompareAfterTraining(TrainingCallback):
    """Prints base versus adapter on the held-out rows once the run has saved its adapter."""

    name = "compare"
    description = "After a finished run, print base vs adapter: held-out loss and greedy answers."
    Options = CompareOptions

    def on_end(self, summary: dict[str, Any]) -> None:
        if summary.get("status") != "finished" or not summary.get("output_dir"):
            return
        from rich.console import Console

        from loraforge.after.display import print_evaluation
        from loraforge.after.evaluation import answer_rows, eval_rows, evaluate_rows
        from loraforge.after.models import load_trained
        from loraforge.after.runs import open_run
        from loraforge.errors import DataError

        console = Console(file=sys.stdout, highlight=False)
        trained = load_trained(open_run(summary["output_dir"]))
        try:
            rows = eval_rows(trained)
        except DataError as exc:
            console.print(f"compare: {exc.message}")
            return
        evaluation = evaluate_rows(trained, rows)
        answers = answer_rows(trained, rows) if self.options.answers else None
        console.print()
        print_evaluation(console, evaluation, answers, examples=self.options.examples)
