"""Printing a :class:`LoraforgeError` as a short panel on stderr."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from loraforge.errors import LoraforgeError, RecipeError


def print_error(exc: LoraforgeError) -> None:
    body = Text()
    if isinstance(exc, RecipeError) and len(exc.problems) > 1:
        if exc.where:
            body.append(f"{exc.where}\n", style="bold")
        for problem in exc.problems:
            body.append(f"  • {problem}\n")
    else:
        if exc.where:
            body.append(f"{exc.where}: ", style="bold")
        body.append(exc.message + "\n")
    if exc.hint:
        body.append(exc.hint, style="italic")
    body.rstrip()
    console = Console(stderr=True, highlight=False)
    console.print(Panel(body, title=exc.title, title_align="left", border_style="red",
                        expand=False))
