"""The wizard driven by key presses alone, as a person at a terminal would, to a saved recipe."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_plugins import distribution
from textual.app import App
from textual.widgets import OptionList, Select
from textual.widgets._toast import Toast

from loraforge.cli import main
from loraforge.recipe import load_recipe
from loraforge.testing import builtin_plugins
from loraforge.testing.terminal import Terminal
from loraforge.tui.app import Wizard
from loraforge.tui.draft import Draft
from loraforge.tui.pilot import wait_for
from loraforge.tui.steps.base import section_specs
from loraforge.tui.widgets.component_field import ComponentField
from loraforge.tui.widgets.field_row import FieldRow
from loraforge.tui.widgets.step_list import StepList

ROOT = Path(__file__).resolve().parents[2]
REVIEWS = ROOT / "recipes" / "data" / "reviews.jsonl"


async def choose(pilot, option: str) -> None:
    """Open the focused select and pick ``option`` by typing it, as a person would."""
    await pilot.press("enter")
    await pilot.press(*option)
    await pilot.press("enter")
    await pilot.pause()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*text)
    await pilot.pause()


def test_the_first_screen_comes_up_without_the_heavy_libraries(tmp_path):
    probe = f"""
import asyncio, json, sys
from pathlib import Path
from loraforge.tui.app import Wizard
from loraforge.tui.draft import Draft
from loraforge.tui.steps.base import section_specs
from loraforge.tui.widgets.component_field import ComponentField
from loraforge.tui.widgets.field_row import FieldRow

async def main():
    app = Wizard(Draft.new(Path({str(tmp_path / 'r.toml')!r})))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(json.dumps(sorted(m for m in ("torch", "transformers", "peft", "datasets",
                                            "bitsandbytes") if m in sys.modules)))
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def told(app) -> str:
    """What the app's notifications say (a toast is mounted a moment after it is sent)."""
    return " ".join(str(toast.render()) for toast in app.query(Toast))


def _choices(select) -> list[str]:
    options = select.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_a_loader_field_built_before_the_plugins_load_fills_in_when_they_come():
    spec = section_specs("model")["loader"]
    field = ComponentField(spec, ("model", "loader"), "loader", None, "tiny-llama",
                           auto_label="detect it from the checkpoint")

    class Host(App):
        def compose(self):
            yield field

    async with Host().run_test() as pilot:
        select = field.query_one(Select)
        # before: the recipe's choice alone, not called "not installed", and no options form
        assert select.value == "tiny-llama"
        assert _choices(select) == ["detect it from the checkpoint", "tiny-llama"]
        assert not field.query(FieldRow)
        field.set_registry(builtin_plugins().registry)
        await pilot.pause()
        assert select.value == "tiny-llama"
        assert "llama  (llama)" in _choices(select)
        assert "model.loader.layers" in [row.field_id for row in field.query(FieldRow)]


async def test_the_plugins_load_once_the_first_screen_is_up_and_what_failed_is_told(
        folder, monkeypatch):
    from loraforge import plugins as module

    monkeypatch.setenv("LORAFORGE_LOAD_PLUGINS", "llama,baichuan,nonesuch")
    module.reset_plugins()
    (folder / "recipe.toml").write_text('[model]\nloader = "baichuan"\n')
    app = Wizard(Draft.open(folder / "recipe.toml"))  # as `loraforge edit` opens it
    assert app.plugins is None
    try:
        async with app.run_test(size=(100, 40), notifications=True) as pilot:
            await pilot.pause()
            assert app.plugins is module.get_plugins()
            loader = app.query_one("#field-model-loader", ComponentField)
            assert "tiny-llama  (llama)" in _choices(loader.query_one(Select))
            assert [row.field_id for row in loader.query(FieldRow)] == ["model.loader.variant"]
            await wait_for(pilot, lambda: "plugin 'nonesuch' was not loaded" in told(app),
                           seconds=30, what="the plugin that did not load to be told")
            # the recipe was checked with them, and the sidebar says where it stands
            assert app.draft.problems_at("data") == [("data", "required, but missing")]
    finally:
        module.reset_plugins()


def in_a_terminal(args: list[str], cwd: Path, keys: bytes = b"", timeout: float = 60,
                  **env: str) -> tuple[int, str]:
    """Run ``loraforge ARGS`` on a pseudo-terminal of 80x24 to its end: exit code, and output.

    ``keys`` are typed once the wizard's first screen is up.
    """
    with Terminal(args, cwd=cwd, environment=dict(os.environ, **env)) as terminal:
        if keys:
            terminal.wait_for(b"Model path", timeout)
            time.sleep(1)  # the plugins load right after the first screen
            terminal.type(keys)
        code = terminal.wait(timeout)
    return code, terminal.text


def test_a_plugin_interrupting_its_import_ends_the_wizard_with_its_name(tmp_path):
    (tmp_path / "site").mkdir()
    site = distribution(tmp_path / "site", "lf_interrupt", "raise KeyboardInterrupt\n")
    code, output = in_a_terminal(["new", "recipe.toml"], tmp_path, PYTHONPATH=str(site),
                                 LORAFORGE_LOAD_PLUGINS="lf_interrupt")
    assert code == 130
    assert "interrupted while importing plugin 'lf_interrupt'" in output
    assert "Traceback" not in output
    assert not (tmp_path / "recipe.toml").exists()


def test_a_plugin_that_fails_to_load_is_named_again_when_the_wizard_ends(tmp_path):
    (tmp_path / "site").mkdir()
    site = distribution(tmp_path / "site", "lf_broken", "raise RuntimeError('boom')\n")
    code, output = in_a_terminal(["new", "recipe.toml"], tmp_path, keys=b"\x11",  # ctrl+q
                                 PYTHONPATH=str(site), LORAFORGE_LOAD_PLUGINS="lf_broken")
    assert code == 0
    assert "\x1b[?1049l" in output  # the wizard left the alternate screen
    after = output.rsplit("\x1b[?1049l", 1)[-1]  # what stays on the terminal after the wizard
    assert "plugin 'lf_broken' was not loaded (RuntimeError: boom)" in after


async def test_tab_from_the_sidebar_goes_into_the_steps_form(folder):
    app = Wizard(Draft.new(folder / "recipe.toml"), builtin_plugins())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, StepList)  # the first thing: the steps
        await pilot.press("tab")
        await pilot.pause()
        loader = app.query_one("#field-model-loader", ComponentField)
        assert app.focused is loader.query_one(Select)
        await choose(pilot, "tiny")
        assert app.draft.get(("model", "loader")) == "tiny-llama"


async def test_a_walk_from_nothing_to_a_saved_valid_recipe_by_keys_alone(folder, capsys):
    app = Wizard(Draft.new(folder / "recipe.toml"), builtin_plugins())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+n", "ctrl+p")  # there and back: the loader has the focus
        assert app.current == "model"
        await choose(pilot, "tiny")           # the tiny-llama loader
        await pilot.press("ctrl+n", "ctrl+n")  # LoRA as it is; on to Data
        assert app.current == "data"
        await type_text(pilot, "reviews.jsonl")
        await pilot.press("tab", "tab")       # split, then the formatter
        await choose(pilot, "templ")
        await pilot.press("tab")              # into the template's own option
        await type_text(pilot, "Review: {text} Label: {label}")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.draft.problems == []
    saved = (folder / "recipe.toml").read_text()
    assert saved.startswith("# LoRA r=8 on the 'auto' targets of tiny-llama, trained on reviews")
    assert saved[saved.index("[model]"):] == (
        '[model]\nloader = "tiny-llama"\n\n[data]\npath = "reviews.jsonl"\n\n'
        '[data.formatter]\nname = "template"\ntemplate = "Review: {text} Label: {label}"\n')
    assert main(["validate", str(folder / "recipe.toml")]) == 0
    assert load_recipe(folder / "recipe.toml").data.formatter.options == {
        "template": "Review: {text} Label: {label}"}


def test_without_a_terminal_loraforge_prints_its_help_and_opens_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "loraforge"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("usage: loraforge")
    assert "new" in done.stdout and "edit" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no recipe.toml made


def test_new_refuses_a_file_that_exists_and_edit_one_that_does_not(tmp_path, capsys):
    kept = tmp_path / "recipe.toml"
    kept.write_text("# mine\n")
    assert main(["new", str(kept)]) == 2
    assert "already exists" in capsys.readouterr().err and kept.read_text() == "# mine\n"
    assert main(["edit", str(tmp_path / "missing.toml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert gc.isenabled()  # paused for the wizard's start, and given back when it cannot open


def test_edit_of_what_is_no_readable_recipe_says_why_and_opens_nothing(tmp_path, capsys):
    def error(path) -> str:
        assert main(["edit", str(path)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return " ".join(err.replace("│", " ").split())

    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[data]\npath = "caf\xe9.jsonl"\n')
    assert "not a UTF-8 text file (byte 18 cannot be read)" in error(latin)
    assert "Save the recipe as UTF-8 text" in error(latin)
    (tmp_path / "recipes.toml").mkdir()
    assert "is a folder, not a recipe file" in error(tmp_path / "recipes.toml")
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked.toml"
        locked.write_text("[model]\n")
        locked.chmod(0)
        assert "cannot read the file: Permission denied" in error(locked)
    assert latin.read_bytes() == b'[data]\npath = "caf\xe9.jsonl"\n'


async def test_a_save_that_cannot_be_written_is_told_and_the_wizard_goes_on(folder):
    from loraforge.tui.pilot import EXAMPLE_RECIPE

    recipe = folder / "recipe.toml"
    recipe.write_text(EXAMPLE_RECIPE)
    app = Wizard(Draft.open(recipe), builtin_plugins())
    async with app.run_test(size=(100, 40), notifications=True) as pilot:
        await pilot.pause()
        recipe.unlink()
        recipe.mkdir()  # the name is a folder now: the recipe cannot be written there
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "cannot save" in told(app), seconds=30, what="the failure")
        assert f"cannot save {recipe}" in told(app) and "Nothing was written over" in told(app)
        assert app.is_running and app.screen is app.screen_stack[0]  # no run was offered
    assert recipe.is_dir() and not list(folder.glob(".recipe.toml.*"))


async def test_the_collector_paused_for_the_start_resumes_once_the_first_screen_is_drawn(folder):
    drawn = []
    gc.disable()  # as `loraforge new` pauses it while it starts
    try:
        app = Wizard(Draft.new(folder / "recipe.toml"), builtin_plugins(),
                     on_first_screen=lambda: drawn.append(gc.enable()))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert drawn == [None] and gc.isenabled()
            assert app.query_one("#field-model-path").region  # the screen was laid out first
    finally:
        gc.enable()


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.toml")),
                         ids=lambda p: p.name)
async def test_edit_of_a_shipped_recipe_through_every_step_saves_it_unchanged(recipe, tmp_path,
                                                                              monkeypatch):
    import shutil

    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    path = tmp_path / "recipes" / recipe.name
    before, loaded = path.read_bytes(), load_recipe(path)
    monkeypatch.chdir(tmp_path)
    app = Wizard(Draft.open(path), builtin_plugins())
    async with app.run_test(size=(80, 24)) as pilot:
        for step in app.steps:  # every form built, every control showing its value
            app.show(step.NAME)
            await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not app.draft.changed
    assert path.read_bytes() == before
    assert load_recipe(path) == loaded
