"""The recipe: a TOML file with one table per section, validated by pydantic.

Sections are ``[model]``, ``[lora]``, ``[data]``, ``[train]`` and
``[output]``. Components (loader, target selector, formatter, callbacks) are
named by a string, or by a table whose ``name`` key names the component and
whose other keys are its options::

    [data.formatter]
    name = "template"
    template = "Review: {text} Label: {label}"

Paths to inputs are relative to the recipe file; ``output.dir`` is relative
to the working directory. This module imports neither torch nor textual.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from loraforge.errors import RecipeError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ComponentRef(BaseModel):
    """A component by name, with its options as the other keys of the table."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="The component's name, as `loraforge plugins` lists it.")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def to_toml(self) -> str | dict[str, Any]:
        return {"name": self.name, **self.options} if self.options else self.name


class ModelSection(Section):
    """Which base model to load, and how."""

    path: str | None = Field(
        None, description="A local checkpoint directory or a hub id (e.g. meta-llama/Llama-2-7b-hf)."
    )
    loader: ComponentRef | None = Field(
        None, description="The model loader; by default the one that recognises the checkpoint."
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    quantization: Literal["none", "8bit", "4bit"] = Field(
        "none", description="Load the frozen base weights in 8-bit or 4-bit through bitsandbytes."
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="Dtype of the base weights that are not quantized."
    )
    device_map: str | None = Field(
        None, description='Passed to from_pretrained, e.g. "auto" to spread a model over GPUs.'
    )
    trust_remote_code: bool = Field(
        False, description="Run modeling code shipped with the checkpoint. Only for sources you trust."
    )


class LoraSection(Section):
    """The LoRA adapter: its shape and where it goes."""

    r: int = Field(8, gt=0, description="Rank of the low-rank A/B matrices.")
    alpha: float = Field(16, gt=0, description="Scaling numerator: updates are scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    targets: ComponentRef | list[str] = Field(
        default_factory=lambda: ComponentRef(name="auto"),
        description='A target selector ("auto", "qv", "attention", "all-linear", "regex") or a '
        "list of module names.",
    )
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases to train.")

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"name": "modules", "names": value}
        return value


class DataSection(Section):
    """The training data: where rows come from, how they become samples, how samples are batched."""

    path: str = Field(
        description="A data file (.jsonl, .json, .csv, .parquet, .txt), a folder of them, or a "
        "dataset id on the Hugging Face hub (e.g. tatsu-lab/alpaca).",
    )
    name: str | None = Field(None, description="The hub dataset's configuration (subset) name.")
    split: str = Field(
        "train",
        description='The split to train on. A hub dataset takes any split datasets accepts (e.g. '
        '"train[:2000]"); a folder\'s splits come from its file names (train.jsonl, '
        "validation.jsonl); a single file is the split train.",
    )
    revision: str | None = Field(None, description="Hub revision of the dataset (branch, tag or commit).")
    eval_split: str | None = Field(None, description='A split to evaluate on, e.g. "validation".')
    eval_fraction: float | None = Field(
        None, gt=0, lt=1, description="Hold out this fraction of the training rows for evaluation."
    )
    max_samples: int | None = Field(
        None, gt=0, description="Use at most this many rows of each split (after shuffling)."
    )
    shuffle: bool = Field(
        True, description="Shuffle the rows before max_samples and eval_fraction take theirs."
    )
    seed: int = Field(42, description="Seed of that shuffle.")
    formatter: ComponentRef = Field(
        default_factory=lambda: ComponentRef(name="text"),
        description="The dataset formatter and its options.",
    )
    train_on_prompt: bool = Field(
        False, description="Train on the prompt too, not only on the completion (or assistant turns)."
    )
    max_length: int = Field(512, gt=1, description="Tokens per sample, EOS included.")
    on_long_rows: Literal["truncate", "drop"] = Field(
        "truncate", description="What happens to a sample longer than max_length."
    )
    on_bad_rows: Literal["error", "skip"] = Field(
        "error", description="Stop at a row the formatter cannot use, or skip it and count it."
    )
    packing: bool = Field(
        False,
        description="Concatenate samples into max_length blocks, each attending only to itself; "
        "without packing, batches are grouped by length.",
    )

    @model_validator(mode="after")
    def _one_way_to_evaluate(self) -> DataSection:
        if self.eval_split is not None and self.eval_fraction is not None:
            raise ValueError("set eval_split or eval_fraction, not both")
        return self


class TrainSection(Section):
    """The training loop, run by transformers' Trainer."""

    epochs: float = Field(1, gt=0, description="Passes over the data.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    batch_size: int = Field(4, gt=0, description="Samples per device per forward pass.")
    grad_accum: int = Field(1, gt=0, description="Forward passes per optimizer step.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="How the learning rate decays after warm-up."
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="Mixed precision: auto picks bf16 or fp16 on a GPU, fp32 on the CPU."
    )
    gradient_checkpointing: bool = Field(False, description="Trade compute for activation memory.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train.")
    seed: int = Field(42, description="Seed for initialisation, shuffling and dropout.")
    logging_steps: int = Field(10, gt=0, description="Log the loss every this many steps.")
    save_steps: int = Field(
        100, gt=0, description="Save a checkpoint every this many optimizer steps (and at the last)."
    )
    save_every_epoch: bool = Field(False, description="Also save a checkpoint at the end of each epoch.")
    save_total_limit: int = Field(
        3, gt=0, description="Keep this many of the newest complete checkpoints; older ones are deleted."
    )
    callbacks: list[ComponentRef] = Field(
        default_factory=lambda: [ComponentRef(name="console"), ComponentRef(name="metrics")],
        description="Training callbacks, by name or as tables with options.",
    )
    report_to: list[str] = Field(
        default_factory=list, title="Report to",
        description='Logging integrations of transformers\' Trainer to send metrics to as well, '
        'by name, e.g. ["tensorboard"] (event files in the output directory\'s tensorboard/); '
        "each needs its own package installed.",
    )


class OutputSection(Section):
    """Where the adapter and the run's records go."""

    dir: str = Field("runs/latest", description="Output directory, relative to the working directory.")
    overwrite: bool = Field(
        False, description="Start over, replacing a finished or unfinished run in the output directory."
    )
    resume: Literal["never", "auto"] = Field(
        "never",
        description='"auto": continue an unfinished run from its newest complete checkpoint, or '
        "start fresh when there is none (as `loraforge run --resume`).",
    )

    @model_validator(mode="after")
    def _overwrite_or_resume(self) -> OutputSection:
        if self.overwrite and self.resume == "auto":
            raise ValueError('overwrite = true and resume = "auto" contradict each other; choose one')
        return self


class Recipe(BaseModel):
    """A whole recipe. ``source`` is the file it was read from, if any."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: ModelSection
    lora: LoraSection = Field(default_factory=LoraSection)
    data: DataSection
    train: TrainSection = Field(default_factory=TrainSection)
    output: OutputSection = Field(default_factory=OutputSection)

    _source: str | None = PrivateAttr(None)

    @property
    def source(self) -> str | None:
        """The file the recipe was read from, if any."""
        return self._source

    @property
    def base_dir(self) -> Path:
        return Path(self._source).resolve().parent if self._source else Path.cwd()

    def input_path(self, value: str) -> Path:
        """An input path from the recipe, made absolute against the recipe's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain TOML-ready data (components back in table form)."""
        data = self.model_dump(exclude_none=True)
        data["model"].pop("loader", None)
        if self.model.loader is not None:
            data["model"]["loader"] = self.model.loader.to_toml()
        data["lora"]["targets"] = self.lora.targets.to_toml()
        data["data"]["formatter"] = self.data.formatter.to_toml()
        data["train"]["callbacks"] = [c.to_toml() for c in self.train.callbacks]
        return data

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.to_dict())


def cannot_be_hub_id(text: str) -> bool:
    """Whether ``text`` can only be a local path: a hub id is ``name`` or ``org/name``."""
    return (
        Path(text).is_absolute()
        or text.startswith((".", "~"))
        or "\\" in text
        or text.count("/") > 1
    )


def _known_keys(model: type[BaseModel] | None, loc: list[str]) -> list[str]:
    """The keys that ``model`` accepts at ``loc`` (a path of field names)."""
    for part in loc:
        field = model.model_fields.get(part) if model else None
        annotation = field.annotation if field else None
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return list(model.model_fields) if model else []


def _unknown_key(model: type[BaseModel] | None, loc: list[str]) -> str:
    close = difflib.get_close_matches(loc[-1], _known_keys(model, loc[:-1]), n=1) if loc else []
    return f"unknown key; did you mean {close[0]!r}?" if close else "unknown key"


def format_validation_errors(exc: ValidationError, *, prefix: str = "",
                             model: type[BaseModel] | None = None) -> list[str]:
    """Pydantic errors as ``section.field: message`` lines.

    ``model`` is the pydantic model that was validated, for suggesting the
    key meant by a misspelt one.
    """
    lines = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "list["))]
        # a union's branch names (`ComponentRef`, `list[str]`) are noise to a user
        loc = [p for p in loc if p not in {"ComponentRef", "str"}]
        field = ".".join([prefix, *loc] if prefix else loc) or "recipe"
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            message = _unknown_key(model, loc)
        elif error["type"] == "missing":
            message = "required, but missing"
        lines.append(f"{field}: {message}")
    return list(dict.fromkeys(lines))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.field=value`` → (["section", "field"], value), value read as TOML if it can be."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise RecipeError(
            [f"--set {text}: expected section.field=value"],
            hint='For example: --set train.learning_rate=1e-4 or --set data.path="data.jsonl"',
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return [part.strip() for part in key.split(".")], value


def _default(path: list[str]) -> Any:
    """The schema's default for a section field (e.g. ``data.formatter``), as plain data."""
    if len(path) != 2 or path[0] not in Recipe.model_fields:
        return None
    section = Recipe.model_fields[path[0]].annotation
    field = getattr(section, "model_fields", {}).get(path[1])
    if field is None or field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    return value.to_toml() if isinstance(value, ComponentRef) else value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> None:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for depth, part in enumerate(path[:-1], start=1):
            child = node.get(part, _default(path[:depth]))
            if isinstance(child, str):  # a component named by a string gains options
                child = {"name": child}
            if not isinstance(child, dict):
                child = {}
            node[part] = child
            node = child
        node[path[-1]] = value


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read and validate a recipe file, reporting every problem at once."""
    path = Path(path)
    if path.is_dir():
        raise RecipeError(
            [f"{path} is a folder, not a recipe file"],
            hint="Give the path of one of the .toml files in it.",
        )
    if not path.is_file():
        raise RecipeError(
            [f"no such file: {path}"],
            hint="Give the path to a recipe .toml file; the recipes/ folder has examples.",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(
            [f"not valid TOML: {exc}"], where=str(path),
            hint="Fix the syntax at the line and column shown; strings need quotes.",
        ) from None
    except UnicodeDecodeError:
        raise RecipeError(["not a UTF-8 text file"], where=str(path)) from None
    apply_overrides(data, overrides or [])
    return recipe_from_dict(data, source=str(path))


def recipe_from_dict(data: dict[str, Any], *, source: str | None = None) -> Recipe:
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(
            format_validation_errors(exc, model=Recipe), where=source,
            hint="docs/recipe.md describes every section and field.",
        ) from None
    recipe._source = source
    return recipe
