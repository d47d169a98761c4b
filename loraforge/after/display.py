"""How an evaluation is shown: base beside adapter, then a few answers (``eval`` and ``compare``)."""

from __future__ import annotations


def print_evaluation(console, evaluation, answers=None, *, examples: int = 3) -> None:
    """The base and adapter side by side, then a few of the answers, with rich."""
    from rich.table import Table

    from loraforge.after.evaluation import perplexity

    console.print(f"[bold]{evaluation.samples:,} held-out samples[/] of {evaluation.source} "
                  f"({evaluation.trained_tokens:,} trained tokens)")
    table = Table(box=None, header_style="bold")
    table.add_column("")
    table.add_column("loss", justify="right")
    table.add_column("perplexity", justify="right")
    if answers is not None:
        table.add_column("right answers", justify="right")
    for label, loss, which in (("base", evaluation.base_loss, "base"),
                               ("adapter", evaluation.adapter_loss, "adapter")):
        cells = [label, f"{loss:.4f}", f"{perplexity(loss):,.2f}"]
        if answers is not None:
            accuracy = answers.accuracy(which)
            cells.append("—" if accuracy is None else
                         f"{accuracy:.0%} of {len(answers.answers)}")
        table.add_row(*cells)
    console.print(table)
    if answers is None or not answers.answers or examples <= 0:
        return
    console.print("[bold]greedy answers[/]")
    shown = Table(box=None, header_style="bold")
    for column in ("prompt (its end)", "expected", "base", "adapter"):
        shown.add_column(column, overflow="fold")
    for answer in answers.answers[:examples]:
        prompt = answer.prompt if len(answer.prompt) <= 40 else "…" + answer.prompt[-39:]
        shown.add_row(repr(prompt), repr(answer.expected), repr(answer.base or ""),
                      repr(answer.adapter))
    console.print(shown)
