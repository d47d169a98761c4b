"""Held-out loss and perplexity of the base and of the adapter, and how often each answers right.

The rows go through the run's own path: :func:`loraforge.engine.sources.load_splits`
picks the run's evaluation rows (its ``eval_split``, or the same held-out
``eval_fraction``), :func:`loraforge.engine.data.prepare` formats, masks,
tokenizes and packs them as the run did, and the run's Trainer class, with
the run's batch size, collator and sampler, computes the loss: the adapter's
is the Trainer's own final evaluation of the run, to rounding. The base's
is the same model with the adapter turned off.

Answers are greedy generations from each row's prompt, compared with what
the run trained the model to write (exact match, ignoring surrounding space).
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loraforge.after.generation import Sampling, complete
from loraforge.after.models import TrainedModel
from loraforge.after.prompts import expected_answer, render
from loraforge.engine.sources import ROW, Rows, Splits, load_splits
from loraforge.errors import DataError


def perplexity(loss: float) -> float:
    """e to the loss (infinity where that overflows)."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


@dataclass
class Evaluation:
    """Loss of the base and of the adapter on ``samples`` samples of ``source``."""

    source: str
    samples: int
    trained_tokens: int
    base_loss: float
    adapter_loss: float

    def record(self) -> dict[str, Any]:
        """The numbers as ``--json`` writes them."""
        return {
            "data": self.source, "samples": self.samples, "trained_tokens": self.trained_tokens,
            "base": {"loss": self.base_loss, "perplexity": perplexity(self.base_loss)},
            "adapter": {"loss": self.adapter_loss, "perplexity": perplexity(self.adapter_loss)},
        }


def eval_rows(trained: TrainedModel, *, data: str | Path | None = None,
              split: str | None = None) -> Rows:
    """The rows to evaluate on: the run's held-out rows, or all of ``split`` of ``data``.

    ``data`` defaults to the run's data and ``split`` to ``train``; with
    neither, the run must have held some rows out.
    """
    recipe = trained.plan.recipe
    if data is None and split is None:
        splits = load_splits(recipe)
        if splits.eval is None:
            raise DataError(
                f"the run in {trained.run.folder} held out no rows to evaluate on",
                where="data.eval_fraction",
                hint="Give rows with --data PATH (or a split of the run's data with --split "
                "NAME), or train with data.eval_fraction or data.eval_split set.",
            )
        return splits.eval
    update: dict[str, Any] = {"split": split or "train", "eval_split": None,
                              "eval_fraction": None, "max_samples": None}
    if data is not None:
        update.update(path=str(Path(data).expanduser().resolve()), name=None, revision=None)
    section = recipe.data.model_copy(update=update)
    return load_splits(recipe.model_copy(update={"data": section})).train


def evaluate_rows(trained: TrainedModel, rows: Rows) -> Evaluation:
    """Loss of the base and of the adapter on ``rows``, through the run's Trainer."""
    from loraforge.engine import batches
    from loraforge.engine.pipeline import prepare
    from loraforge.engine.train import build_trainer, training_arguments

    recipe = trained.plan.recipe
    # the training role is the one prepare() packs and counts; nothing is trained
    prepared = prepare(Splits(rows), trained.formatter, trained.tokenizer, recipe.data)
    with tempfile.TemporaryDirectory(prefix="loraforge-eval-") as scratch:
        args = training_arguments(
            recipe.train, Path(scratch),
            **batches.training_arguments(recipe.data, evaluate=True), report_to="none",
        )
        trainer = build_trainer(trained.model, trained.tokenizer, None, args, [],
                                collator=batches.collator(recipe.data, trained.tokenizer),
                                eval_dataset=prepared.train)
        adapter = trainer.evaluate()["eval_loss"]
        with trained.model.disable_adapter():
            base = trainer.evaluate()["eval_loss"]
    return Evaluation(rows.name, prepared.stats.samples, prepared.stats.trained_tokens,
                      float(base), float(adapter))


@dataclass
class Answer:
    """One row's prompt, the answer the run trained for, and what each model wrote."""

    prompt: str
    expected: str
    adapter: str
    base: str | None = None

    @property
    def adapter_right(self) -> bool:
        return self.adapter.strip() == self.expected.strip()

    @property
    def base_right(self) -> bool:
        return self.base is not None and self.base.strip() == self.expected.strip()


@dataclass
class Answers:
    """Greedy answers to rows that have an expected answer, and the share of each model's right."""

    answers: list[Answer] = field(default_factory=list)

    def accuracy(self, which: str) -> float | None:
        if not self.answers:
            return None
        right = sum(a.base_right if which == "base" else a.adapter_right for a in self.answers)
        return right / len(self.answers)

    def record(self) -> dict[str, Any]:
        return {"rows": len(self.answers), "base_accuracy": self.accuracy("base"),
                "adapter_accuracy": self.accuracy("adapter")}


def answer_rows(trained: TrainedModel, rows: Rows, *, base: bool = True,
                limit: int | None = None, extra_tokens: int = 6) -> Answers:
    """Greedy answers of the adapter (and the base) to the rows' prompts, scored exactly.

    Each answer may run ``extra_tokens`` past the expected answer's length,
    which is enough to tell right from wrong (and to see what went wrong).
    Rows with no expected answer (a formatter that trains on the whole text)
    are left out; ``limit`` stops after that many answered rows.
    """
    tokenizer = trained.tokenizer
    answers = Answers()
    for row in rows.dataset:
        if limit is not None and len(answers.answers) >= limit:
            break
        row = {k: v for k, v in row.items() if k != ROW}
        prompt = render(trained.formatter, row, tokenizer, where=rows.name)
        expected = expected_answer(trained.formatter, row, prompt.text)
        if expected is None:
            continue
        length = len(tokenizer.encode(expected, add_special_tokens=False))
        sampling = Sampling(max_new_tokens=length + extra_tokens)
        answer = Answer(prompt.text, expected,
                        complete(trained.model, tokenizer, prompt.ids, sampling).text)
        if base:
            answer.base = complete(trained.model, tokenizer, prompt.ids, sampling, base=True).text
        answers.answers.append(answer)
    return answers
