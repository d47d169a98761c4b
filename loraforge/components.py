"""The four kinds of component a plugin can provide, and the values they exchange.

Every component class has a ``name`` (what recipes call it), a one-line
``description`` and an ``Options`` pydantic model, validated from the recipe
and shown by ``loraforge plugins``. Nothing here imports torch: model objects
are passed through as they come.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from loraforge.recipe import ModelSection


class NoOptions(BaseModel):
    """Options of a component that takes none."""

    model_config = ConfigDict(extra="forbid")


class Component:
    """Base of every component: a name, a description and validated options."""

    kind: ClassVar[str] = "component"
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    plugin_name: str | None = None
    """The plugin that registered the class; set by loraforge on the components it creates,
    so that an error raised inside one can be reported by plugin."""

    def __init__(self, options: BaseModel | None = None):
        self.options = options if options is not None else self.Options()


@dataclass
class LoadedModel:
    """What a model loader returns.

    ``default_targets`` are the family's usual LoRA targets (used when the
    recipe leaves ``lora.targets`` at ``"auto"``); ``quantized`` says whether
    the weights were loaded through bitsandbytes.
    """

    model: Any
    tokenizer: Any
    default_targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    quantized: bool = False


class ModelLoader(Component):
    """Loads a model and its tokenizer as ``[model]`` describes."""

    kind = "loader"

    def handles(self, config: Mapping[str, Any]) -> bool:
        """Whether this loader is the one for a checkpoint with this ``config.json``."""
        return False

    def check_checkpoint(self, config: Mapping[str, Any], spec: ModelSection) -> None:
        """Refuse, before anything is loaded, a checkpoint this loader cannot load as ``spec`` says.

        Called by ``loraforge validate`` and ``run`` with the checkpoint's
        ``config.json`` (plugin API 1.1). Raise a
        :class:`~loraforge.errors.ModelError` naming the recipe field to
        change. The default refuses an architecture that :meth:`handles`
        does not recognise, when the loader overrides ``handles``.
        """
        from loraforge.errors import ModelError

        if type(self).handles is ModelLoader.handles or self.handles(config):
            return
        architectures = ", ".join(config.get("architectures") or []) or config.get(
            "model_type", "unknown")
        raise ModelError(
            f"the {self.name} loader does not handle this checkpoint's architecture "
            f"({architectures})",
            where="model.loader",
            hint="Leave model.loader out to let loraforge pick the loader that recognises the "
            "checkpoint, or install the plugin for this model family; `loraforge plugins` "
            "lists the loaders.",
        )

    def load(self, spec: ModelSection) -> LoadedModel:
        raise NotImplementedError

    def model_config(self, spec: ModelSection) -> dict[str, Any] | None:
        """The ``config.json`` of the model :meth:`load` would return, without loading weights.

        Used by ``loraforge inspect`` and ``estimate`` (plugin API 1.1) to build
        the model on the meta device. The default reads ``config.json`` from a
        local ``spec.path``; a loader that converts a checkpoint returns the
        converted model's config. None: not known without loading.
        """
        import json
        from pathlib import Path

        if not spec.path:
            return None
        config = Path(spec.path).expanduser() / "config.json"
        if not config.is_file():
            return None
        return json.loads(config.read_text(encoding="utf-8"))

    def default_targets(self, config: Mapping[str, Any]) -> list[str]:
        """The family's usual LoRA targets for a model with this config (plugin API 1.1).

        What :meth:`load` puts in ``LoadedModel.default_targets``, known
        without loading; the default is the LLaMA names.
        """
        return ["q_proj", "v_proj"]

    def load_tokenizer(self, spec: ModelSection) -> Any:
        """The tokenizer alone, as ``load`` would return it (used to preview the data).

        The default loads the whole model and keeps its tokenizer; a loader that
        can read the tokenizer without the weights should override this.
        """
        return self.load(spec).tokenizer


class TargetSelector(Component):
    """Chooses the modules that get LoRA layers."""

    kind = "selector"

    def select(self, model: Any, defaults: Sequence[str]) -> list[str]:
        """Return module names: leaf names (``q_proj``) or full dotted names."""
        raise NotImplementedError


@dataclass(frozen=True)
class Segment:
    """A piece of a sample's text; ``trained`` pieces count in the loss."""

    text: str
    trained: bool = True


@dataclass(frozen=True)
class Sample:
    """What a formatter makes of one row: text segments, trained or masked."""

    segments: tuple[Segment, ...]

    @classmethod
    def of_text(cls, text: str) -> Sample:
        """All of ``text`` is trained."""
        return cls((Segment(text, True),))

    @classmethod
    def of_prompt(cls, prompt: str, completion: str) -> Sample:
        """Only ``completion`` is trained; ``prompt`` is context."""
        return cls((Segment(prompt, False), Segment(completion, True)))

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


class RowError(ValueError):
    """Raised by a formatter for a row it cannot use."""

    def __init__(self, message: str, *, column: str | None = None):
        super().__init__(message)
        self.column = column


class DatasetFormatter(Component):
    """Turns one data row into a :class:`Sample`."""

    kind = "formatter"

    def columns(self) -> set[str]:
        """The columns every row must have (checked before formatting starts)."""
        return set()

    def set_tokenizer(self, tokenizer: Any) -> None:
        """Called with the model's tokenizer before any row is formatted.

        A formatter that renders with it (a chat template) keeps what it needs;
        by default it is not used.
        """

    def format(self, row: Mapping[str, Any]) -> Sample:
        raise NotImplementedError

    def prompt(self, row: Mapping[str, Any]) -> Sample:
        """What the model is shown before it writes the row's (last) completion.

        ``chat``, ``generate`` and ``eval`` prompt the trained model with it, so it
        must be the start of ``format(row)``, segment for segment: the engine
        tokenizes segment by segment, and a prompt split differently would be
        tokens the model never saw. The row may lack the columns that feed only
        the completion (a user's prompt has no answer yet).

        The default fills each column of ``columns()`` the row lacks with a
        placeholder, formats it, and keeps the segments before the last trained
        one; a prompt that would contain a placeholder is a :class:`RowError`
        naming the missing column.
        """
        missing = [column for column in sorted(self.columns()) if column not in row]
        filled = {**{column: _placeholder(column) for column in missing}, **row}
        segments = self.format(filled).segments
        last = max((i for i, s in enumerate(segments) if s.trained), default=None)
        if last is None:
            raise RowError("the formatter trains on nothing of this row, so it has no completion "
                           "to prompt for")
        kept = segments[:last]
        text = "".join(s.text for s in kept)
        for column in missing:
            if _placeholder(column) in text:
                raise RowError(f"the prompt needs column {column!r}", column=column)
        if not text:
            raise RowError("the formatter trains on the whole row, so nothing of it is a prompt")
        return Sample(kept)

    def input_row(self, text: str, history: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """The row a message typed by a user becomes, to be passed to :meth:`prompt`.

        ``history`` holds the earlier exchanges of a conversation, as (message,
        answer) pairs; a formatter whose rows are not conversations ignores it.
        The default puts ``text`` in the formatter's only column and raises
        :class:`RowError` when ``columns()`` names more than one.
        """
        columns = sorted(self.columns())
        if len(columns) != 1:
            raise RowError(
                f"cannot tell which of the columns {', '.join(repr(c) for c in columns) or '(none)'}"
                " a typed message goes in"
            )
        return {columns[0]: text}


def _placeholder(column: str) -> str:
    """What :meth:`DatasetFormatter.prompt` puts in a column the row lacks.

    Invisible separators around it keep it from being anything a real row holds.
    """
    return f"\u2063{column}\u2063"


@dataclass
class RunInfo:
    """What a callback is told when training begins.

    ``recipe`` (the resolved :class:`~loraforge.recipe.Recipe`), ``model``
    (the peft model being trained) and ``tokenizer`` are there for callbacks
    that do real work, such as sampling from the model at each evaluation or
    sending the recipe to an experiment tracker. They are read-only by
    contract: a callback that changes them changes the run. Call
    :meth:`request_stop` to end the run early, with a checkpoint, as
    ``interrupted``.
    """

    output_dir: str
    max_steps: int
    epochs: float
    trainable_parameters: int
    total_parameters: int
    resumed_from_step: int = 0
    recipe: Any = field(default=None, repr=False)
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)
    stop: Any = field(default=None, repr=False)
    """The run's :class:`~loraforge.engine.signals.StopToken`."""

    def request_stop(self) -> None:
        """Ask the run to stop after the current step, saving a checkpoint."""
        if self.stop is not None:
            self.stop.stop()


class TrainingCallback(Component):
    """Told about a run's events, on the main process only.

    A callback that raises is reported, switched off for the rest of the
    run and recorded in run.json; the run goes on. One that was sent
    ``on_begin`` is always sent ``on_end``, however the run ends.
    """

    kind = "callback"

    def on_phase(self, event: Any) -> None:
        """A phase of the run started or finished (plugin API 1.1).

        ``event`` is a :class:`loraforge.events.PhaseStarted` (``phase``,
        ``message``) or :class:`loraforge.events.PhaseFinished` (``phase``,
        ``seconds``, ``message``, ``details``). The phases before training
        (``data``, ``model``, ``lora``, ``tokenize``) come before ``on_begin``;
        the callback is created while the ``plugins`` phase runs, so it is
        sent that phase's end only.
        """

    def on_begin(self, run: RunInfo) -> None:
        pass

    def on_log(self, step: int, logs: dict[str, float]) -> None:
        pass

    def on_evaluate(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def on_save(self, step: int, path: str) -> None:
        pass

    def on_end(self, summary: dict[str, Any]) -> None:
        """The run ended; ``summary["status"]`` says how.

        ``finished``: the adapter is saved; ``output_dir``, ``global_step``,
        ``train_loss`` and ``runtime_s`` are set. ``interrupted`` (a signal
        stopped it after saving a checkpoint) or ``failed`` (``error`` says
        why): ``global_step``, ``runtime_s`` and ``checkpoint`` (the newest
        complete one, or None) are set.
        """


KINDS: dict[str, type[Component]] = {
    "loader": ModelLoader,
    "formatter": DatasetFormatter,
    "selector": TargetSelector,
    "callback": TrainingCallback,
}
