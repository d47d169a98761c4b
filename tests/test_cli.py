"""The command line: exit codes, and one short error panel for each kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loraforge.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "recipes" / "data" / "reviews.jsonl"

TINY = f"""
[model]
loader = "tiny-llama"

[data]
path = "{DATA}"
max_length = 32

[data.formatter]
name = "template"
template = "Review: {{text}} Label: {{label}}"

[train]
max_steps = 2
batch_size = 4
logging_steps = 1
device = "cpu"
"""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    # rich wraps panels to the terminal width; a wide one keeps messages on one line
    monkeypatch.setenv("COLUMNS", "300")


def recipe(tmp_path, text=TINY, name="recipe.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error_of(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return " ".join(err.split())  # the panel wraps lines; compare words


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("loraforge ")


def test_validate_accepts_the_tiny_recipe(tmp_path, capsys):
    assert main(["validate", recipe(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "tiny-llama (llama)" in out


def test_missing_recipe_file(tmp_path, capsys):
    assert "no such file" in error_of(capsys, ["validate", str(tmp_path / "nope.toml")])


def test_toml_syntax_error_names_the_line(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path, TINY.replace('max_length = 32', 'max_length = '))])
    assert "not valid TOML" in err and "line 7" in err


def test_unknown_section_and_key(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path, TINY + "\n[lorra]\nr = 4\n\n[output]\ndirr = 'x'\n")])
    assert "lorra: unknown key" in err
    assert "output.dirr: unknown key" in err


def test_wrong_type(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path), "--set", 'train.batch_size="two"'])
    assert "train.batch_size: Input should be a valid integer" in err


def test_unknown_plugin_name(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path, TINY.replace('"tiny-llama"', '"tiny-lama"'))])
    assert "model.loader: no model loader is named 'tiny-lama'" in err
    assert "loraforge plugins" in err


def test_wrong_component_option(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path), "--set", "data.formatter.templat=x"])
    assert "data.formatter.templat: unknown key" in err


def test_missing_dataset_column_in_template(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path), "--set",
                            'data.formatter.template="{text} => {sentiment}"'])
    assert "no column 'sentiment'" in err and "its columns: text, label" in err


def test_missing_data_file(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path), "--set", 'data.path="absent.jsonl"'])
    assert "data.path: no such file" in err


def test_unknown_target_module(tmp_path, capsys):
    err = error_of(capsys, ["run", recipe(tmp_path), "--set", f'output.dir="{tmp_path / "out"}"',
                            "--set", 'lora.targets=["W_pack"]'])
    assert "lora.targets" in err and "W_pack" in err
    assert "q_proj" in err and "v_proj" in err  # the model's own linear modules are listed


def test_finished_run_is_not_overwritten_without_the_flag(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"finished_at": "2026-01-01T00:00:00+00:00"}))
    (out / "adapter_model.safetensors").write_text("earlier run")
    err = error_of(capsys, ["run", recipe(tmp_path), "--set", f'output.dir="{out}"'])
    assert "already holds a run that finished" in err and "--overwrite" in err
    assert (out / "adapter_model.safetensors").read_text() == "earlier run"


def test_errors_reach_a_real_process_as_a_panel_and_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "loraforge", "validate", recipe(tmp_path, "[model]\npath = 3\n")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "model.path: Input should be a valid string" in result.stderr
    assert "data: required, but missing" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "loraforge", "validate", "--debug", str(tmp_path / "none.toml")],
        capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "RecipeError" in result.stderr


def test_remote_code_opt_in_is_warned_about(tmp_path, capsys):
    assert main(["validate", recipe(tmp_path), "--set", "model.trust_remote_code=true"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: model.trust_remote_code = true: Python code shipped with" in err and "may run" in err
    assert main(["validate", recipe(tmp_path)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_missing_local_model_folder_is_caught_by_validate(tmp_path, capsys):
    text = TINY.replace('loader = "tiny-llama"', 'loader = "llama"\npath = "../no-such-model"')
    err = error_of(capsys, ["validate", recipe(tmp_path, text)])
    assert "model.path: no such directory" in err and "no-such-model" in err


def test_without_a_loader_a_missing_folder_is_named_as_such(tmp_path, capsys):
    text = TINY.replace('loader = "tiny-llama"', 'path = "./no-such-model"')
    err = error_of(capsys, ["validate", recipe(tmp_path, text)])
    assert "model.path: no such directory" in err
    assert "cannot tell which model loader" not in err


def test_without_a_loader_a_hub_id_asks_for_one(tmp_path, capsys):
    text = TINY.replace('loader = "tiny-llama"', 'path = "meta-llama/Llama-2-7b-hf"')
    err = error_of(capsys, ["validate", recipe(tmp_path, text)])
    assert "model.loader: cannot tell which model loader handles the hub id" in err
    assert 'Set model.loader, e.g. loader = "llama"' in err  # the problem's own hint survives


def test_debug_before_the_subcommand_shows_the_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "loraforge", "--debug", "validate", str(tmp_path / "none.toml")],
        capture_output=True, text=True,
    )
    assert "Traceback" in result.stderr and "RecipeError" in result.stderr


def test_a_misspelt_section_gets_a_suggestion(tmp_path, capsys):
    err = error_of(capsys, ["validate", recipe(tmp_path, TINY + "\n[trian]\nepochs = 1\n")])
    assert "trian: unknown key; did you mean 'train'?" in err


@pytest.fixture
def progress_bars():
    """The libraries' progress bars on, as in a fresh process; as they were afterwards."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets_on = datasets.is_progress_bar_enabled()
    transformers_on = transformers_logging.is_progress_bar_enabled()
    datasets.enable_progress_bars()
    transformers_logging.enable_progress_bar()
    yield
    if not datasets_on:
        datasets.disable_progress_bars()
    if not transformers_on:
        transformers_logging.disable_progress_bar()


@pytest.mark.parametrize("command", ["validate", "preview"])
def test_a_first_use_shows_no_library_progress_bar(tmp_path, capsys, monkeypatch, progress_bars,
                                                   command):
    # a new data file, which datasets has not cached yet, and an empty cache, where the
    # tiny model (whose tokenizer preview loads) is built and saved first
    monkeypatch.setenv("LORAFORGE_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "reviews.jsonl"
    data.write_text(DATA.read_text())
    assert main([command, recipe(tmp_path, TINY.replace(str(DATA), str(data)))]) == 0
    captured = capsys.readouterr()
    output = captured.err + captured.out
    assert "Generating train split" not in output
    assert "it/s]" not in output  # no tqdm bar of any kind
