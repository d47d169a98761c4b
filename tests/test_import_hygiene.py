"""The recipe schema, the plugin API and the CLI's fast paths stay free of heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "datasets", "bitsandbytes", "textual")


def imported_after(code: str, watched: tuple[str, ...] = HEAVY) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return {name for name in watched if name in modules}


def test_recipe_and_hook_api_import_no_heavy_modules():
    assert imported_after(
        "import loraforge.recipe, loraforge.hookspecs, loraforge.components, loraforge.plugins"
    ) == set()


def test_help_and_plugin_listing_import_no_heavy_modules():
    code = (
        "import contextlib, io\n"
        "from loraforge.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['plugins', '--json'])\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
    )
    assert imported_after(code) == set()


def test_the_after_training_commands_import_nothing_heavy_until_they_run():
    code = (
        "import contextlib, io\n"
        "from loraforge.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    for name in ('chat', 'generate', 'eval', 'merge', 'report'):\n"
        "        try:\n            main([name, '--help'])\n        except SystemExit:\n"
        "            pass\n"
    )
    assert imported_after(code) == set()


def test_the_command_line_is_read_before_the_schema_or_the_plugins_are_imported():
    # what `loraforge new` pays before the wizard's first screen, and `--help` before it prints
    assert imported_after("import loraforge.cli", (
        "pydantic", "pluggy", "importlib.metadata", "rich", "loraforge.recipe",
        "loraforge.plugins")) == set()
