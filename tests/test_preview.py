"""``loraforge preview``: samples with trained tokens told apart, and the numbers, from the tokenizer alone."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from loraforge.cli import main
from loraforge.engine.preview import MASKED, TRAINED, histogram, runs

ROOT = Path(__file__).resolve().parents[1]
RECIPE = f"""
[model]
loader = "tiny-llama"

[data]
path = "{ROOT / "recipes" / "data" / "reviews.jsonl"}"
max_length = 64
shuffle = false

[data.formatter]
name = "template"
template = "Review: {{text}}\\nSentiment:"
completion = " {{label}}"
"""


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def no_model_weights(monkeypatch):
    """Fail if anything loads a model: a preview reads the tokenizer only."""
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("the preview loaded model weights")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)


def recipe(tmp_path, text=RECIPE):
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return str(path)


def first_review():
    return json.loads((ROOT / "recipes" / "data" / "reviews.jsonl").read_text().splitlines()[0])


def test_preview_prints_samples_with_the_completion_marked_then_the_numbers(
        tmp_path, capsys, no_model_weights):
    assert main(["preview", recipe(tmp_path), "-n", "2"]) == 0
    out = capsys.readouterr().out
    assert "sample 1" in out and "sample 2" in out and "sample 3" not in out
    # trained text is marked where there is no colour: the label and the EOS, not the review
    row = first_review()
    assert f"Sentiment:⟦ {row['label']}</s>⟧" in out
    assert f"⟦{row['text']}" not in out
    for words in ("rows", "300 read; 300 samples", "tokens per sample", "median", "p95",
                  "longer than 64", "truncated", "trained", "masked"):
        assert words in out, words


def test_the_trained_tokens_have_their_own_style(tmp_path, no_model_weights):
    from loraforge.engine.preview import build_preview, sample_text
    from loraforge.plan import bind
    from loraforge.plugins import get_plugins
    from loraforge.recipe import load_recipe

    preview = build_preview(bind(load_recipe(recipe(tmp_path)), get_plugins()), 1)
    text = sample_text(preview.samples[0], preview.tokenizer)
    styled = {style: "".join(text.plain[s.start:s.end] for s in text.spans if s.style == style)
              for style in (TRAINED, MASKED)}
    label = first_review()["label"]
    assert styled[TRAINED] == f" {label}</s>"
    assert styled[MASKED].startswith("<s>Review: ") and styled[MASKED].endswith("Sentiment:")
    assert preview.stats.rows == 300 and preview.stats.trained_tokens < preview.stats.tokens


def test_bad_rows_skipped_are_shown_in_the_numbers(tmp_path, capsys, no_model_weights):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"text": "fine", "label": "yes"}\n{"text": "no label"}\n')
    text = RECIPE.replace(str(ROOT / "recipes" / "data" / "reviews.jsonl"), str(data))
    assert main(["preview", recipe(tmp_path, text), "--set", 'data.on_bad_rows="skip"']) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"2 read, 1 bad \(skipped\); 1 sample\b", out)
    assert "rows.jsonl, row 2, column 'label'" in out


def test_skipped_lines_and_completions_cut_off_are_counted_in_the_preview(
        tmp_path, capsys, no_model_weights):
    data = tmp_path / "rows.jsonl"
    rows = [{"instruction": "c", "input": "x", "output": "d"}, {"instruction": "a", "output": "b"},
            "not json", {"instruction": "Repeat: " + "word " * 150, "output": "word"}]
    data.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    text = RECIPE.replace(str(ROOT / "recipes" / "data" / "reviews.jsonl"), str(data))
    text = text[:text.index("[data.formatter]")].replace('max_length = 64', 'max_length = 128\nformatter = "alpaca"')
    assert main(["preview", recipe(tmp_path, text), "--set", "data.on_bad_rows=skip"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Traceback" not in out
    assert re.search(r"4 read, 1 bad \(skipped\); 2 samples\b", out)
    assert "longer than 128 1: 0 truncated, 1 dropped (completion cut off)" in out
    assert "rows.jsonl, row 3: line 3 is not valid JSON" in out


def test_a_bad_row_is_an_error_panel_not_a_traceback(tmp_path, capsys):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"text": "fine", "label": "yes"}\n{"text": "no label"}\n')
    text = RECIPE.replace(str(ROOT / "recipes" / "data" / "reviews.jsonl"), str(data))
    assert main(["preview", recipe(tmp_path, text)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err
    assert "rows.jsonl: row 2, column 'label'" in err


def test_runs_split_a_sample_where_training_starts_and_stops():
    assert runs([1, 2, 3, 4, 5], [-100, -100, 3, 4, -100]) == [
        ([1, 2], False), ([3, 4], True), ([5], False)]


def test_histogram_spans_shortest_to_longest():
    bars = histogram([10, 10, 10, 20, 30], bins=3)
    assert len(bars) == 3 and bars[0] == "█" and bars[1] != "█"
    assert histogram([]) == "" and histogram([7, 7]) == "█"


def test_the_preview_tokenizer_is_the_runs_so_the_run_reuses_its_tokenizing():
    from datasets.fingerprint import Hasher

    from loraforge.plugins import Plugins
    from loraforge.recipe import ModelSection

    plugins = Plugins()
    plugins.load_entry_points(["llama"])
    loader = plugins.registry.create("loader", "tiny-llama", {}, where="model.loader")
    alone, with_model = loader.load_tokenizer(ModelSection()), loader.load(ModelSection()).tokenizer
    assert alone.pad_token == with_model.pad_token == "<unk>"
    assert Hasher.hash(alone) == Hasher.hash(with_model)  # part of the map's fingerprint
