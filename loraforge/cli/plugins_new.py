"""``loraforge plugins new NAME``: write a plugin package to start from.

The package is a distribution of its own, ``loraforge-NAME``: a
``pyproject.toml`` with the ``loraforge`` entry point, a dataset formatter
with an options schema, a README and tests that use loraforge's pytest
fixtures. It passes its own tests as written, whatever name is given: a
formatter named like one of loraforge's own is referred to as ``NAME:NAME``
(plugin and component) in its tests and README. A name that is taken (by a
first-party plugin, an installed distribution, an importable module or an
entry point) is refused, naming what took it; docs/plugins/tutorial.md takes
it from there.
"""

from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path
from string import Template

from loraforge.errors import LoraforgeError

NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

# names the generated formatter module imports: a class called so would hide them
IMPORTED = {"BaseModel", "ConfigDict", "Field", "DatasetFormatter", "RowError", "Sample"}

PYPROJECT = Template('''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"
description = "A loraforge plugin: the $name dataset formatter."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["loraforge>=$loraforge"]

[project.optional-dependencies]
test = ["pytest>=8"]

# loraforge finds plugins through this entry-point group; `$name` is the plugin's name.
[project.entry-points.loraforge]
$name = "$package"

[tool.setuptools]
packages = ["$package"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''')

INIT = Template('''\
"""$distribution: the $name dataset formatter for loraforge."""

from loraforge import hookimpl
from $package.formatter import $cls

# The loraforge plugin API this plugin is written against. loraforge skips the
# plugin, saying why, when its own API version is outside this range.
LORAFORGE_API = ">=$api,<$next_major"


@hookimpl
def register_dataset_formatters(register):
    register($cls)
''')

FORMATTER = Template('''\
"""The ``$name`` formatter: how one data row becomes training text."""

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loraforge.components import DatasetFormatter, RowError, Sample


class ${cls}Options(BaseModel):
    """Options of the ``$name`` formatter: the keys of a recipe's ``[data.formatter]`` table."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored

    column: str = Field("text", description="The column holding the text to train on.")
    prefix: str = Field("", description="Text put before every sample.")

    @field_validator("column")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('name the column that holds the text, e.g. column = "text"')
        return value


class $cls(DatasetFormatter):
    """Trains on one column's text, after an optional prefix."""

    name = "$name"
    description = "Train on one column's text, after an optional prefix."
    Options = ${cls}Options

    def columns(self):
        return {self.options.column}

    def format(self, row):
        column = self.options.column
        text = row[column]
        if not isinstance(text, str):
            raise RowError(f"column {column!r} holds {type(text).__name__}, not text", column=column)
        return Sample.of_text(self.options.prefix + text)
''')

TESTS = Template('''\
"""The $name plugin, tested offline with loraforge's pytest fixtures."""

import pytest

import $package
from loraforge.errors import RecipeError


def test_the_formatter_turns_a_row_into_text(register_plugin):
    plugins = register_plugin($package, "$name")
    formatter = plugins.registry.create(
        "formatter", "$ref", {"column": "review", "prefix": "Review: "}, where="data.formatter"
    )
    assert formatter.columns() == {"review"}
    assert formatter.format({"review": "A fine film."}).text == "Review: A fine film."


def test_a_blank_column_is_refused_with_the_plugins_message(register_plugin, validate_recipe):
    register_plugin($package, "$name")
    with pytest.raises(RecipeError) as error:
        validate_recipe({"data": {"formatter": {"name": "$ref", "column": " "}}})
    assert error.value.problems == [
        'data.formatter.column: name the column that holds the text, e.g. column = "text"'
    ]


def test_a_tiny_run_trains_on_the_formatted_rows(register_plugin, run_recipe):
    register_plugin($package, "$name")
    result = run_recipe({"data": {"formatter": {"name": "$ref", "prefix": "Review: "}}})
    assert result.global_step == 2
    assert (result.output_dir / "adapter_model.safetensors").is_file()
''')

README = Template('''\
# $distribution

A loraforge plugin that provides the `$name` dataset formatter: it trains on one column's
text, after an optional prefix.

## Use it

```sh
pip install $distribution
loraforge plugins            # lists $name
```

```toml
[data.formatter]
name = "$ref"
column = "text"
prefix = "Review: "
```
$clash
## Develop it

```sh
pip install -e ".[test]"
pytest
```

The tests use loraforge's pytest fixtures (`register_plugin`, `validate_recipe`, `run_recipe`):
they need no network and no GPU.
''')


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "new", parents=[common], help="write a plugin package to start from",
        description="Write loraforge-NAME/: a plugin distribution with a dataset formatter, "
        "its options, a README and tests that pass as written.",
    )
    parser.add_argument("name", help="the plugin's name, e.g. shout (makes loraforge-shout)")
    parser.add_argument("--directory", default=".", help="where to create the package folder")
    parser.set_defaults(handler=handle)


def first_party_formatters() -> set[str]:
    """The names of loraforge's own dataset formatters."""
    from loraforge.testing import builtin_plugins

    return set(builtin_plugins(["formatters"]).registry.names("formatter"))


def class_name(name: str) -> str:
    """``chat-format`` → ``ChatFormat``; one that would hide an import, or is a keyword, gets a suffix."""
    cls = "".join(part.capitalize() for part in name.split("-"))
    return cls + "Formatter" if cls in IMPORTED or keyword.iskeyword(cls) else cls


def skeleton_files(name: str) -> dict[str, str]:
    """The files of a new plugin called ``name``, by path inside its folder."""
    from loraforge import __version__
    from loraforge.hookspecs import API_VERSION

    package = "loraforge_" + name.replace("-", "_")
    major = int(API_VERSION.split(".")[0])
    clashes = name in first_party_formatters()
    values = {
        "name": name,
        # a name loraforge's own formatters use is ambiguous alone: say which plugin's
        "ref": f"{name}:{name}" if clashes else name,
        "clash": (f"\nloraforge has a formatter named `{name}` of its own, so a recipe names\n"
                  f"this one `{name}:{name}`: the plugin, then the component.\n") if clashes else "",
        "distribution": f"loraforge-{name}",
        "package": package,
        "cls": class_name(name),
        "api": f"{major}.0",  # the skeleton uses nothing added since the first minor version
        "next_major": major + 1,
        "loraforge": ".".join(__version__.split(".")[:2]),
    }
    return {
        "pyproject.toml": PYPROJECT.substitute(values),
        "README.md": README.substitute(values),
        f"{package}/__init__.py": INIT.substitute(values),
        f"{package}/formatter.py": FORMATTER.substitute(values),
        f"tests/test_{package.removeprefix('loraforge_')}.py": TESTS.substitute(values),
    }


def write_skeleton(name: str, directory: str | Path = ".") -> Path:
    """Create ``directory/loraforge-NAME`` with the files of a new plugin; returns the folder."""
    name = name.removeprefix("loraforge-")
    if not NAME.fullmatch(name):
        raise LoraforgeError(
            f"{name!r} cannot be a plugin name", where="NAME",
            hint="Use lower-case letters, digits and single hyphens, starting with a letter, "
            "e.g. shout or chat-format.",
        )
    taken = taken_by(name)
    if taken:
        raise LoraforgeError(
            f"the name {name!r} is taken: {taken}", where="NAME",
            hint=f"Choose another name, e.g. {free_name(name)}; a plugin sharing it would "
            "shadow, or be shadowed by, what has it.",
        )
    target = Path(directory) / f"loraforge-{name}"
    if target.exists():
        raise LoraforgeError(f"{target} already exists", where="NAME",
                             hint="Choose another name, or --directory elsewhere.")
    for path, text in skeleton_files(name).items():
        file = target / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return target


def taken_by(name: str) -> str | None:
    """What already has ``name``, the ``loraforge-NAME`` distribution or the ``loraforge_NAME``
    module it would make; None when it is free."""
    import importlib.util
    from importlib import metadata

    from loraforge.plugins import ENTRY_POINT_GROUP, FIRST_PARTY

    package = "loraforge_" + name.replace("-", "_")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP, name=name):
        owner = ep.dist.metadata["Name"] if ep.dist is not None else "unknown"
        if owner == FIRST_PARTY:
            return f"it is one of loraforge's own plugins ({name})"
        return f"the installed distribution {owner!r} has a plugin (entry point) named {name!r}"
    try:
        found = metadata.distribution(f"loraforge-{name}")
    except metadata.PackageNotFoundError:
        pass
    else:
        return f"a distribution named {found.metadata['Name']!r} is installed"
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        where = spec.origin or ", ".join(spec.submodule_search_locations or ())
        return f"a module named {package!r} can already be imported ({where})"
    return None


def free_name(name: str) -> str:
    """A name like ``name`` that nothing has taken."""
    for suffix in ("extra", "plus", "custom", *map(str, range(2, 100))):
        candidate = f"{name}-{suffix}"
        if taken_by(candidate) is None:
            return candidate
    return f"my-{name}"


def handle(args: argparse.Namespace) -> int:
    target = write_skeleton(args.name, args.directory)
    print(f"wrote {target}/")
    for path in sorted(p.relative_to(target) for p in target.rglob("*") if p.is_file()):
        print(f"  {path}")
    print(f"\nnext: cd {target} && pip install -e '.[test]' && pytest")
    print("then: docs/plugins/tutorial.md, from 'The formatter'")
    return 0
