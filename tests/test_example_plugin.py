"""The plugin contract proven from outside: third-party packages built, installed and used.

examples/loraforge-shout and a package written by ``loraforge plugins new``
are built into wheels and installed into a new virtual environment beside
loraforge, as a user would install them; then loraforge is driven there
through its command line, and each package's own tests run there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from loraforge.cli.plugins_new import write_skeleton
from loraforge.testing import write_recipe

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "loraforge-shout"
PLUGINS = "llama,targets,formatters,callbacks,shout,tidy"

pytestmark = pytest.mark.slow


class Environment:
    """A virtual environment and how to run commands in it."""

    def __init__(self, venv: Path, sources: dict[str, Path]):
        self.python = venv / "bin" / "python"
        self.sources = sources
        self.env = dict(
            os.environ,
            LORAFORGE_LOAD_PLUGINS=PLUGINS,
            PYTHONDONTWRITEBYTECODE="1",  # keep the example's folder free of __pycache__
            COLUMNS="200",
        )

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), *args], capture_output=True, text=True,
                              env=self.env, cwd=cwd, timeout=600)

    def loraforge(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return self.run("-m", "loraforge", *args, cwd=cwd)


def _link_this_environment(venv: Path) -> None:
    # torch, transformers and loraforge itself come from the environment running
    # these tests, through a .pth file, instead of being installed again
    here = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    lines = "; ".join(f"site.addsitedir({path!r})" for path in sorted(here))
    (Path(site) / "loraforge_development.pth").write_text(f"import site; {lines}\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Environment:
    base = tmp_path_factory.mktemp("fresh-venv")
    # built from copies: setuptools leaves build/ and *.egg-info beside the sources
    shout = shutil.copytree(EXAMPLE, base / "src" / "loraforge-shout",
                            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    tidy = write_skeleton("tidy", base / "src")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    _link_this_environment(base / "venv")
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
             "--no-index", "--wheel-dir", str(base / "dist"), str(shout), str(tidy)]
    subprocess.run(build, check=True, capture_output=True)
    env = Environment(base / "venv", {"shout": shout, "tidy": tidy})
    wheels = sorted(str(p) for p in (base / "dist").glob("*.whl"))
    result = env.run("-m", "pip", "install", "--quiet", "--no-deps", "--no-index", *wheels, cwd=base)
    assert result.returncode == 0, result.stderr
    return env


def test_the_example_is_not_installed_where_loraforge_is_developed():
    assert importlib.util.find_spec("loraforge_shout") is None


def test_the_packages_are_imported_from_their_wheels(installed, tmp_path):
    code = "import loraforge_shout, loraforge_tidy; print(loraforge_shout.__file__, loraforge_tidy.__file__)"
    result = installed.run("-c", code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    venv = installed.python.parent.parent
    assert all(Path(path).is_relative_to(venv) for path in result.stdout.split())


def test_plugins_lists_the_example_with_version_hooks_and_schemas(installed, tmp_path):
    result = installed.loraforge("plugins", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    shout = next(p for p in listing["plugins"] if p["name"] == "shout")
    assert shout["version"] == "0.1.0"
    assert shout["distribution"] == "loraforge-shout"
    assert shout["api"] == ">=1.0,<2"
    assert shout["hooks"] == ["register_callbacks", "register_dataset_formatters"]
    components = {(c["kind"], c["name"]): c for c in shout["components"]}
    assert set(components) == {("formatter", "shout"), ("callback", "shout-log")}
    marks = components["formatter", "shout"]["options"]["properties"]["marks"]
    assert marks["default"] == 1 and "exclamation marks" in marks["description"]

    table = installed.loraforge("plugins", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "shout" in table.stdout and "shout-log" in table.stdout and "0.1.0" in table.stdout


SHOUTING = {"data": {"formatter": {"name": "shout", "marks": 2}},
            "train": {"callbacks": [{"name": "shout-log", "every": 1}, "metrics"]}}


def test_validate_accepts_a_recipe_using_the_example(installed, tmp_path):
    recipe = write_recipe(tmp_path, SHOUTING)
    result = installed.loraforge("validate", str(recipe), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "shout (shout)" in result.stdout and "shout-log (shout)" in result.stdout


def test_validate_rejects_wrong_options_with_the_plugins_own_message(installed, tmp_path):
    recipe = write_recipe(tmp_path, SHOUTING)
    result = installed.loraforge("validate", str(recipe), "--set", "data.formatter.marks=7",
                                 "--set", "train.callbacks=[{name='shout-log', every=0}]",
                                 cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    assert "data.formatter.marks: a shout ends with 0 to 3 exclamation marks, not 7" in err
    assert "train.callbacks[0].every: shout at least every 1 logged loss, not every 0" in err


def test_a_tiny_run_uses_the_example(installed, tmp_path):
    recipe = write_recipe(tmp_path, SHOUTING)
    result = installed.loraforge("run", str(recipe), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    record = json.loads((out / "run.json").read_text())
    assert record["components"]["data.formatter"] == "shout (shout)"
    assert record["plugins"]["shout"] == "0.1.0"
    shouts = (out / "shouts.txt").read_text().splitlines()
    assert shouts[0] == "TRAINING FOR 2 STEPS!" and shouts[-1] == "DONE!"
    assert len(shouts) == 4  # begin, the loss at steps 1 and 2, end


@pytest.mark.parametrize("package", ["shout", "tidy"])
def test_each_package_passes_its_own_tests_where_it_is_installed(installed, package, tmp_path):
    tests = installed.sources[package] / "tests"
    # run from elsewhere, so the package is imported from the wheel, not its source folder
    result = installed.run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_plugins_lists_a_generated_package_as_the_tutorial_shows(installed, tmp_path):
    import re

    tutorial = (ROOT / "docs" / "plugins" / "tutorial.md").read_text(encoding="utf-8")
    after = tutorial[tutorial.index("`loraforge plugins` now lists `shout`"):]
    (shown,) = re.findall(r"```\n(.*?)```", after, re.S)[:1]
    table = installed.loraforge("plugins", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert shown.replace("shout", "tidy") in table.stdout
