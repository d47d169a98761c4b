"""``loraforge chat RUN_DIR``: talk to a trained adapter in the terminal, its answers streamed."""

from __future__ import annotations

import argparse

from loraforge.cli.run_dir_args import (
    add_run_arguments,
    add_sampling_arguments,
    sampling_from_args,
)

COMMANDS = {"/reset": "forget the conversation so far", "/quit": "leave (as does Ctrl-D)"}


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "chat", parents=[common], help="chat with a trained adapter in the terminal",
        description="Load the run's base model as the run did, put its adapter on it, and "
        "answer each message you type, formatted by the run's formatter exactly as its "
        "training samples were. Answers stop at EOS. A chat formatter keeps the conversation; "
        "other formatters answer each message on its own.",
    )
    add_run_arguments(parser)
    add_sampling_arguments(parser, max_new_tokens=256)
    parser.add_argument("--show-prompt", action="store_true",
                        help="print each prompt as the model is shown it")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loraforge.after.generation import complete
    from loraforge.after.models import load_trained
    from loraforge.after.prompts import message_row, render
    from loraforge.after.runs import open_run
    from loraforge.errors import DataError

    sampling = sampling_from_args(args)
    console = Console(highlight=False)
    run = open_run(args.run_dir)  # a folder that is no run is refused before "loading"
    console.print(f"[dim]loading {run.name}…[/]")
    trained = load_trained(run, base=args.base)
    console.print(f"[bold]chatting with {trained.run.name}[/] "
                  f"[dim]({trained.plan.components.get('data.formatter')} formatter; "
                  + "; ".join(f"{c}: {what}" for c, what in COMMANDS.items()) + ")[/]")
    history: list[tuple[str, str]] = []
    while True:
        try:
            message = console.input("[bold green]you ›[/] ")
        except EOFError:
            console.print()
            return 0
        if message.strip() in ("/quit", "/exit"):
            return 0
        if message.strip() == "/reset":
            history.clear()
            console.print("[dim]conversation forgotten[/]")
            continue
        if not message.strip():
            continue
        try:
            prompt = render(trained.formatter, message_row(trained.formatter, message, history),
                            trained.tokenizer)
        except DataError as exc:
            console.print(f"[red]{exc.message}[/] [dim]{exc.hint or ''}[/]")
            continue
        if args.show_prompt:
            console.print(f"[dim]{prompt.text!r} ({len(prompt.ids)} tokens)[/]")
        answers = [("base", True)] if args.compare else []
        for label, base in [*answers, ("adapter", False)]:
            console.print(f"[bold cyan]{label} ›[/]", end=" ")

            begun = False

            def stream(text: str) -> None:
                nonlocal begun
                if not begun:
                    text = text.lstrip()  # a completion's leading space: the label spaces it
                    if not text:
                        return
                    begun = True
                console.file.write(text)
                console.file.flush()

            completion = complete(trained.model, trained.tokenizer, prompt.ids, sampling,
                                  on_text=stream, base=base)
            console.print()
            if completion.stopped == "length":
                console.print(f"[dim](cut off at --max-new-tokens {sampling.max_new_tokens}: "
                              "no EOS yet)[/]")
        history.append((message, completion.text))
