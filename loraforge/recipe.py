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
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from loraforge.errors import RecipeError

# Bounds that keep every number within what the libraries accept and memory can hold;
# a value outside them is a recipe error naming the field, never a traceback later.
SEED_MAX = 2**32 - 1  # numpy's seeds (transformers' set_seed and datasets' shuffle use it)
STEPS_MAX = 10**9
BATCH_MAX = 2**16
TOKENS_MAX = 2**20

Seed = Annotated[int, Strict(), Field(ge=0, le=SEED_MAX)]
"""A random seed: an integer from 0 to 2**32 - 1."""


def _finite_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, not {value}")
    return value


Number = Annotated[float, BeforeValidator(_finite_number), Field(allow_inf_nan=False)]
"""A finite number (an integer is taken as one): never NaN, infinity or a boolean."""

DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt")
"""The data files loraforge reads, by suffix."""


class Section(BaseModel):
    """A recipe table. An assignment that fails validation leaves it as it was."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)

    def __setattr__(self, name: str, value: Any) -> None:
        # pydantic runs a section's own checks after assigning; undo the assignment they refuse
        saved = dict(self.__dict__), set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except ValidationError:
            object.__setattr__(self, "__dict__", saved[0])
            object.__setattr__(self, "__pydantic_fields_set__", saved[1])
            raise


class ComponentRef(BaseModel):
    """A component by name, with its options as the other keys of the table."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    name: str = Field(title="Name", description="The component's name, as loraforge plugins lists it.")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name the component, e.g. \"template\"")
        return value

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def to_toml(self) -> str | dict[str, Any]:
        return {"name": self.name, **self.options} if self.options else self.name


class ModelSection(Section):
    """Which base model to load, and how."""

    path: str | None = Field(
        None, title="Model path",
        description="A local checkpoint folder (the one holding config.json) or a hub id such "
        "as meta-llama/Llama-2-7b-hf.",
    )
    loader: ComponentRef | None = Field(
        None, title="Model loader",
        description="The plugin component that loads the model; by default the one that "
        "recognises the checkpoint.",
    )
    revision: str | None = Field(None, title="Hub revision",
                                 description="Branch, tag or commit of a hub model.")
    quantization: Literal["none", "8bit", "4bit"] = Field(
        "none", title="Quantization",
        description="Load the frozen base weights in 8-bit or 4-bit through bitsandbytes, "
        "to save GPU memory.",
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", title="Weights dtype",
        description="Dtype of the base weights that are not quantized; auto keeps the "
        "checkpoint's on a GPU and uses float32 on the CPU.",
    )
    device_map: str | None = Field(
        None, title="Device map",
        description="Passed to from_pretrained, e.g. auto to spread a model over several GPUs.",
    )
    trust_remote_code: Annotated[bool, Strict()] = Field(
        False, title="Trust remote code",
        description="Run Python code shipped with the checkpoint. Only for sources you trust.",
    )


class LoraSection(Section):
    """The LoRA adapter: its shape and where it goes."""

    r: Annotated[int, Strict()] = Field(8, gt=0, le=4096, title="Rank",
                                        description="Rank of the low-rank A and B matrices.")
    alpha: Number = Field(16, gt=0, le=1e5, title="Alpha",
                          description="Scaling numerator: updates are scaled by alpha / r.")
    dropout: Number = Field(0.05, ge=0, lt=1, title="Dropout",
                            description="Dropout on the LoRA input.")
    targets: ComponentRef | list[str] = Field(
        default_factory=lambda: ComponentRef(name="auto"), title="Target modules",
        description="A target selector (auto, qv, attention, all-linear, regex) or a list of "
        "module names.",
    )
    bias: Literal["none", "all", "lora_only"] = Field(
        "none", title="Bias", description="Which biases to train besides the adapter.")

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"name": "modules", "names": value}
        return value


class DataSection(Section):
    """The training data: where rows come from, how they become samples, how samples are batched."""

    path: str = Field(
        title="Data path",
        description="A data file (.jsonl, .json, .csv, .parquet, .txt), a folder of them, or a "
        "dataset id on the Hugging Face hub such as tatsu-lab/alpaca.",
    )
    name: str | None = Field(None, title="Hub subset",
                             description="The hub dataset's configuration (subset) name.")
    split: str = Field(
        "train", title="Split",
        description="The split to train on. A hub dataset takes any split datasets accepts "
        "(e.g. train[:2000]); a folder's splits come from its file names (train.jsonl, "
        "validation.jsonl); a single file is the split train.",
    )
    revision: str | None = Field(None, title="Hub revision",
                                 description="Branch, tag or commit of a hub dataset.")
    eval_split: str | None = Field(None, title="Evaluation split",
                                   description="A split to evaluate on, e.g. validation.")
    eval_fraction: Number | None = Field(
        None, gt=0, lt=1, title="Evaluation fraction",
        description="Hold out this fraction of the training rows for evaluation.",
    )
    max_samples: Annotated[int, Strict()] | None = Field(
        None, gt=0, le=10**12, title="Most rows",
        description="Use at most this many rows of each split (after shuffling).",
    )
    shuffle: Annotated[bool, Strict()] = Field(
        True, title="Shuffle",
        description="Shuffle the rows before most rows and the evaluation fraction take theirs.",
    )
    seed: Seed = Field(42, title="Shuffle seed", description="Seed of that shuffle.")
    formatter: ComponentRef = Field(
        default_factory=lambda: ComponentRef(name="text"), title="Formatter",
        description="How a data row becomes a training sample, with the formatter's options.",
    )
    train_on_prompt: Annotated[bool, Strict()] = Field(
        False, title="Train on the prompt",
        description="Train on the prompt too, not only on the completion (or assistant turns).",
    )
    max_length: Annotated[int, Strict()] = Field(
        512, gt=1, le=TOKENS_MAX, title="Most tokens per sample",
        description="Tokens per sample, the end-of-sequence token included.",
    )
    on_long_rows: Literal["truncate", "drop"] = Field(
        "truncate", title="Long samples",
        description="What happens to a sample longer than the most tokens per sample.",
    )
    on_bad_rows: Literal["error", "skip"] = Field(
        "error", title="Bad rows",
        description="Stop at a row the formatter cannot use, or skip it and count it.",
    )
    packing: Annotated[bool, Strict()] = Field(
        False, title="Packing",
        description="Concatenate samples into blocks of the most tokens, each attending only "
        "to itself; without packing, batches are grouped by length.",
    )

    @model_validator(mode="after")
    def _one_way_to_evaluate(self) -> DataSection:
        if self.eval_split is not None and self.eval_fraction is not None:
            raise ValueError("set eval_split or eval_fraction, not both")
        return self


class TrainSection(Section):
    """The training loop, run by transformers' Trainer."""

    epochs: Number = Field(1, gt=0, le=10_000, title="Epochs", description="Passes over the data.")
    max_steps: Annotated[int, Strict()] | None = Field(
        None, gt=0, le=STEPS_MAX, title="Most steps",
        description="Stop after this many optimizer steps, whatever the epochs say.",
    )
    batch_size: Annotated[int, Strict()] = Field(
        4, gt=0, le=BATCH_MAX, title="Batch size",
        description="Samples per device per forward pass.")
    grad_accum: Annotated[int, Strict()] = Field(
        1, gt=0, le=BATCH_MAX, title="Gradient accumulation",
        description="Forward passes per optimizer step.")
    learning_rate: Number = Field(2e-4, gt=0, le=10, title="Learning rate",
                                  description="Peak learning rate.")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", title="Schedule", description="How the learning rate decays after warm-up.")
    warmup_ratio: Number = Field(0.0, ge=0, lt=1, title="Warm-up",
                                 description="Fraction of the steps spent warming up.")
    weight_decay: Number = Field(0.0, ge=0, le=10, title="Weight decay",
                                 description="AdamW weight decay.")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", title="Precision",
        description="Mixed precision: auto picks bf16 or fp16 on a GPU, fp32 on the CPU.")
    gradient_checkpointing: Annotated[bool, Strict()] = Field(
        False, title="Gradient checkpointing",
        description="Recompute activations in the backward pass: less memory, more time.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", title="Device", description="Where to train; auto uses a GPU when there is one.")
    seed: Seed = Field(42, title="Seed", description="Seed for initialisation, shuffling and dropout.")
    logging_steps: Annotated[int, Strict()] = Field(
        10, gt=0, le=STEPS_MAX, title="Log every", description="Log the loss every this many steps.")
    save_steps: Annotated[int, Strict()] = Field(
        100, gt=0, le=STEPS_MAX, title="Checkpoint every",
        description="Save a checkpoint every this many optimizer steps, and at the last.")
    save_every_epoch: Annotated[bool, Strict()] = Field(
        False, title="Checkpoint each epoch",
        description="Also save a checkpoint at the end of each epoch.")
    save_total_limit: Annotated[int, Strict()] = Field(
        3, gt=0, le=10**6, title="Checkpoints kept",
        description="Keep this many of the newest complete checkpoints; older ones are deleted.")
    callbacks: list[ComponentRef] = Field(
        default_factory=lambda: [ComponentRef(name="console"), ComponentRef(name="metrics")],
        title="Callbacks", description="Training callbacks, by name or with options.",
    )
    report_to: list[str] = Field(
        default_factory=list, title="Report to",
        description='Logging integrations of transformers\' Trainer to send metrics to as well, '
        'by name, e.g. ["tensorboard"] (event files in the output directory\'s tensorboard/); '
        "each needs its own package installed.",
    )


class OutputSection(Section):
    """Where the adapter and the run's records go."""

    dir: str = Field("runs/latest", title="Output folder",
                     description="Where the adapter and the run's records go, relative to the "
                     "folder loraforge is run from.")
    overwrite: Annotated[bool, Strict()] = Field(
        False, title="Overwrite",
        description="Start over, replacing a finished or unfinished run in the output folder.")
    resume: Literal["never", "auto"] = Field(
        "never", title="Resume",
        description="auto: continue an unfinished run from its newest complete checkpoint, or "
        "start afresh when there is none (as loraforge run --resume).",
    )

    @field_validator("dir")
    @classmethod
    def _a_folder(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('name a folder for the run, e.g. "runs/first"; an empty one would '
                             "scatter the run's files into the current folder")
        return value

    @model_validator(mode="after")
    def _overwrite_or_resume(self) -> OutputSection:
        if self.overwrite and self.resume == "auto":
            raise ValueError('overwrite = true and resume = "auto" contradict each other; choose one')
        return self


SECTIONS = ("model", "lora", "data", "train", "output")


class Recipe(BaseModel):
    """A whole recipe. ``source`` is the file it was read from, if any.

    Two recipes are equal when they would train the same thing from the
    same files: input paths are compared as the files they point to, so a
    recipe saved into another folder equals the one it was saved from.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, defer_build=True)

    model: ModelSection = Field(title="Model", description=ModelSection.__doc__)
    lora: LoraSection = Field(default_factory=LoraSection, title="LoRA",
                              description=LoraSection.__doc__)
    data: DataSection = Field(title="Data", description=DataSection.__doc__)
    train: TrainSection = Field(default_factory=TrainSection, title="Training",
                                description=TrainSection.__doc__)
    output: OutputSection = Field(default_factory=OutputSection, title="Output",
                                  description=OutputSection.__doc__)

    _source: str | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _device_agrees(self) -> Recipe:
        if self.train.device == "cpu" and self.model.device_map not in (None, "cpu"):
            raise ValueError(f'train.device = "cpu" and model.device_map = '
                             f'"{self.model.device_map}" contradict each other; choose one')
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        saved = dict(self.__dict__)
        try:
            super().__setattr__(name, value)
        except ValidationError:
            object.__setattr__(self, "__dict__", saved)
            raise

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recipe):
            return NotImplemented
        from loraforge.authoring import comparable

        return comparable(self) == comparable(other)

    __hash__ = None  # type: ignore[assignment]  (mutable, like every pydantic model)

    @property
    def source(self) -> str | None:
        """The file the recipe was read from, if any."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """The folder its relative input paths start from: the recipe's, else the working one."""
        return Path(self._source).resolve().parent if self._source else Path.cwd()

    def input_path(self, value: str) -> Path:
        """An input path from the recipe, made absolute against the recipe's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain TOML-ready data: every field, components in table form."""
        data = self.model_dump(exclude_none=True)
        data["model"].pop("loader", None)
        if self.model.loader is not None:
            data["model"]["loader"] = self.model.loader.to_toml()
        data["lora"]["targets"] = self.lora.targets.to_toml()
        data["data"]["formatter"] = self.data.formatter.to_toml()
        data["train"]["callbacks"] = [c.to_toml() for c in self.train.callbacks]
        return data

    def to_toml(self, *, minimal: bool = False, folder: str | Path | None = None,
                header: str | None = None) -> str:
        """The recipe as TOML (:func:`loraforge.authoring.recipe_toml`): every field by default."""
        from loraforge.authoring import recipe_toml

        return recipe_toml(self, minimal=minimal, folder=folder, header=header)

    def save(self, path: str | Path, *, header: bool = True) -> Path:
        """Write the recipe as a person would (:func:`loraforge.authoring.save_recipe`)."""
        from loraforge.authoring import save_recipe

        return save_recipe(self, path, header=header)


def remote_code_warning(recipe: Recipe) -> str:
    """What a user is told when a recipe lets a checkpoint's own code run."""
    return (
        "model.trust_remote_code = true: Python code shipped with "
        f"{recipe.model.path} may run on this machine (it does for families that need their "
        "own modeling code, such as Baichuan-13B). Do this only for checkpoints you trust."
    )


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


NAME_A_COMPONENT = "name a component: a string such as "
EXAMPLE_COMPONENTS = {"model.loader": "llama", "lora.targets": "qv",
                      "data.formatter": "template", "train.callbacks": "metrics"}


def _name_a_component(field: str) -> str:
    example = next((name for prefix, name in EXAMPLE_COMPONENTS.items()
                    if field == prefix or field.startswith(prefix + ".")), "template")
    return f'{NAME_A_COMPONENT}"{example}", or a table such as {{name = "{example}", ...}}'


def validation_problems(exc: ValidationError, *, prefix: str = "",
                        model: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    """Pydantic errors as ``(field path, message)`` pairs, e.g. ``("train.epochs", "...")``.

    ``model`` is the pydantic model that was validated, for suggesting the
    key meant by a misspelt one. A form puts each message beside its field.
    """
    problems: list[tuple[str, str]] = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "list["))]
        # a union's branch names (`ComponentRef`, `list[str]`) are noise to a user
        loc = [p for p in loc if p not in {"ComponentRef", "str", "int", "float",
                                           "constrained-float", "constrained-int"}]
        field = ".".join([prefix, *loc] if prefix else loc) or "recipe"
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "extra_forbidden":
            message = _unknown_key(model, loc)
        elif error["type"] == "missing":
            message = "required, but missing"
        elif error["type"] == "finite_number":
            message = "must be a finite number, not NaN or infinity"
        elif error["type"] in ("int_type", "bool_type") and "input" in error:
            message = f"{message} (got {error['input']!r})"
        elif error["type"] == "model_type" and error.get("ctx", {}).get(
                "class_name") == "ComponentRef":
            message = f"{_name_a_component(field)} (got {error['input']!r})"
        if (field, message) not in problems:
            problems.append((field, message))
    return _one_per_union(problems)


def _one_per_union(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """lora.targets takes a component or a list of names: one problem saying both, not two."""
    not_a_list = "Input should be a valid list"
    component = {field for field, message in problems if message.startswith(NAME_A_COMPONENT)}
    listed = {field for field, message in problems if message == not_a_list} & component
    merged = []
    for field, message in problems:
        if field in listed and message == not_a_list:
            continue
        if field in listed:
            named = _name_a_component(field)
            message = message.replace(named, named + ', or a list of module names such as '
                                      '["q_proj", "v_proj"]', 1)
        merged.append((field, message))
    return merged


def format_validation_errors(exc: ValidationError, *, prefix: str = "",
                             model: type[BaseModel] | None = None) -> list[str]:
    """Pydantic errors as ``section.field: message`` lines (see :func:`validation_problems`)."""
    return [f"{field}: {message}"
            for field, message in validation_problems(exc, prefix=prefix, model=model)]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``section.field=value`` → (["section", "field"], value), value read as TOML if it can be.

    A value TOML cannot read is taken as a string (``--set data.path=x.jsonl``);
    a value with a line break is refused, since what follows it would be lost.
    """
    key, sep, raw = text.partition("=")
    example = 'For example: --set train.learning_rate=1e-4 or --set data.path="data.jsonl"'
    if not sep or not key.strip():
        raise RecipeError([f"--set {text}: expected section.field=value"], hint=example)
    if "\n" in raw or "\r" in raw:
        raise RecipeError([f"--set {key.strip()}: the value has a line break"], hint=example)
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


def check_recipe_path(path: Path, *, missing_hint: str) -> None:
    """Refuse a folder, or a path with no file, before a recipe is read from it."""
    if path.is_dir():
        raise RecipeError(
            [f"{path} is a folder, not a recipe file"],
            hint="Give the path of one of the .toml files in it.",
        )
    if not path.is_file():
        raise RecipeError([f"no such file: {path}"], hint=missing_hint)


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables; a UTF-8 byte-order mark at its start is read past."""
    return read_toml_text(path)[1]


def read_toml_text(path: Path) -> tuple[str, dict[str, Any]]:
    """A TOML file's text (past a UTF-8 byte-order mark) and its tables, read once."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RecipeError([f"not a UTF-8 text file (byte {exc.start} cannot be read)"],
                          where=str(path),
                          hint="Save the recipe as UTF-8 text.") from None
    except OSError as exc:
        raise RecipeError([f"cannot read the file: {exc.strerror}"], where=str(path)) from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(
            [f"not valid TOML: {exc}"], where=str(path),
            hint="Fix the syntax at the line and column shown; strings need quotes.",
        ) from None
    except RecursionError:
        raise RecipeError(["not valid TOML: its arrays or tables are nested too deeply"],
                          where=str(path), hint="A recipe needs no nesting that deep.") from None


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read and validate a recipe file, reporting every problem at once."""
    path = Path(path)
    check_recipe_path(path, missing_hint="Give the path to a recipe .toml file; the recipes/ "
                      "folder has examples.")
    data = read_toml(path)
    apply_overrides(data, overrides or [])
    return recipe_from_dict(data, source=str(path))


def recipe_from_dict(data: dict[str, Any], *, source: str | None = None) -> Recipe:
    """Validate plain data (as TOML reads it) into a :class:`Recipe`; every problem at once.

    The :class:`~loraforge.errors.RecipeError` carries the problems both as
    lines and as ``(field, message)`` pairs (``fields``).
    """
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError.from_fields(
            validation_problems(exc, model=Recipe), where=source,
            hint="docs/recipe.md describes every section and field.",
        ) from None
    except RecursionError:
        raise RecipeError(["the recipe is nested too deeply"], where=source) from None
    recipe._source = source
    return recipe
