"""Rows to token ids and labels: masking, EOS, bad and long rows, and the tokenizing cache."""

from __future__ import annotations

import json

import pytest

from _loraforge_formatters.prompt_completion import PromptCompletion
from _loraforge_formatters.template import Template
from _loraforge_formatters.text import Text
from loraforge.components import DatasetFormatter, Sample
from loraforge.engine.batches import PaddingCollator, pack
from loraforge.engine.data import IGNORE_INDEX, encode_sample, tokenize
from loraforge.engine.sources import load_splits
from loraforge.errors import DataError
from loraforge.recipe import recipe_from_dict


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from _loraforge_llama.tiny import tiny_llama_path

    return AutoTokenizer.from_pretrained(tiny_llama_path())


@pytest.fixture
def pad_is_eos(tokenizer):
    """The tiny tokenizer padding with its EOS token, as many LLaMA setups do."""
    copy = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    copy.pad_token = copy.eos_token
    assert copy.pad_token_id == copy.eos_token_id
    return copy


def template(text):
    return Template(Template.Options(template=text))


def recipe(path, formatter="text", **data):
    data = {"path": str(path), "formatter": formatter, "shuffle": False, **data}
    return recipe_from_dict({"model": {"loader": "tiny-llama"}, "data": data})


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tokenized(path, fmt, tokenizer, **data):
    r = recipe(path, fmt.name, **data)
    return tokenize(load_splits(r).train, fmt, tokenizer, r.data)


def trained_text(tokenizer, ids, labels):
    return tokenizer.decode([i for i, label in zip(ids, labels) if label != IGNORE_INDEX])


def test_the_prompt_is_masked_and_the_completion_ends_in_a_trained_eos(tokenizer):
    encoded = encode_sample(Sample.of_prompt("Review: dull.\nLabel:", " negative"), tokenizer, 64)
    ids, labels = encoded["input_ids"], encoded["labels"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert ids[-1] == labels[-1] == tokenizer.eos_token_id
    assert trained_text(tokenizer, ids, labels) == " negative</s>"
    everything = encode_sample(Sample.of_prompt("Review: dull.\nLabel:", " negative"), tokenizer,
                               64, train_on_prompt=True)
    assert trained_text(tokenizer, ids, everything["labels"]) == "Review: dull.\nLabel: negative</s>"


def test_a_template_that_writes_bos_and_eos_gets_neither_twice(tokenizer):
    sample = Sample.of_prompt("<s>user: hi\nassistant: ", "hello</s>")
    ids = encode_sample(sample, tokenizer, 64)["input_ids"]
    assert ids.count(tokenizer.bos_token_id) == 1 and ids.count(tokenizer.eos_token_id) == 1
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id


def test_eos_stays_in_the_labels_when_the_pad_token_is_eos(pad_is_eos):
    tokenizer = pad_is_eos
    samples = [encode_sample(Sample.of_prompt("Q: " + "very " * n, "yes"), tokenizer, 64)
               for n in (1, 5, 9)]
    batch = PaddingCollator(tokenizer)([{**s, "length": len(s["input_ids"])} for s in samples])
    eos = tokenizer.eos_token_id
    for row, sample in zip(range(3), samples):
        end = len(sample["input_ids"]) - 1
        assert batch["input_ids"][row, end] == eos and batch["labels"][row, end] == eos
        assert (batch["labels"][row, end + 1:] == IGNORE_INDEX).all()  # padding, also eos ids
        assert (batch["input_ids"][row, end + 1:] == eos).all()
    assert int((batch["labels"] == eos).sum()) == 3
    # the usual causal-LM collator masks every pad id, and so the EOS too: what loraforge avoids
    from transformers import DataCollatorForLanguageModeling

    naive = DataCollatorForLanguageModeling(tokenizer, mlm=False)(
        [{"input_ids": s["input_ids"]} for s in samples])
    assert int((naive["labels"] == eos).sum()) == 0
    # packed, the EOS of every sample is trained as well
    import datasets

    blocks = pack(datasets.Dataset.from_list(samples), 64, tokenizer.pad_token_id)
    assert sum(block.count(eos) for block in blocks["labels"]) == 3


def test_a_bad_row_names_the_file_row_and_column(tmp_path, tokenizer):
    rows = [{"text": "fine", "label": "yes"}] * 2 + [{"text": "no label"}]
    path = write_jsonl(tmp_path / "reviews.jsonl", rows)
    with pytest.raises(DataError) as info:
        tokenized(path, template("{text} {label}"), tokenizer)
    assert info.value.where.endswith("reviews.jsonl")
    assert info.value.message == "row 3, column 'label': column 'label' is missing or empty (null)"
    assert 'on_bad_rows = "skip"' in info.value.hint


def test_an_empty_completion_is_a_bad_row(tmp_path, tokenizer):
    rows = [{"prompt": "2+2=", "completion": "4"}, {"prompt": "3+3=", "completion": "  "}]
    path = write_jsonl(tmp_path / "sums.jsonl", rows)
    with pytest.raises(DataError, match="row 2, column 'completion': column 'completion' is empty"):
        tokenized(path, PromptCompletion(), tokenizer)


def test_skipped_bad_rows_are_dropped_and_counted(tmp_path, tokenizer):
    rows = [{"text": f"row {i}", "label": "x"} for i in range(6)]
    rows[1] = {"text": "no label"}
    rows[4] = {"text": "empty", "label": None}
    path = write_jsonl(tmp_path / "reviews.jsonl", rows)
    result = tokenized(path, template("{text} {label}"),
                       tokenizer, on_bad_rows="skip")
    assert len(result.dataset) == 4 and set(result.dataset.column_names) == {
        "input_ids", "attention_mask", "labels", "length"}
    stats = result.stats
    assert (stats.rows, stats.samples, stats.bad_rows) == (6, 4, 2)
    assert [b.split("reviews.jsonl, ")[1] for b in stats.bad_examples] == [
        "row 2, column 'label': column 'label' is missing or empty (null)",
        "row 5, column 'label': column 'label' is missing or empty (null)",
    ]
    assert stats.record()["bad_rows"] == 2


def test_lines_that_are_not_json_or_not_utf8_are_bad_rows(tmp_path, tokenizer):
    path = tmp_path / "rows.jsonl"
    good = json.dumps({"text": "fine"}).encode()
    path.write_bytes(b"\n".join([good, b'{"text": "broken', good, b'{"text": "\xff\xfe"}', good,
                                 json.dumps({"text": ""}).encode()]) + b"\n")
    text = Text()
    with pytest.raises(DataError) as info:
        tokenized(path, text, tokenizer)
    assert info.value.where.endswith("rows.jsonl") and "row 4 (line 4) is not UTF-8" in info.value.message
    result = tokenized(path, text, tokenizer, on_bad_rows="skip")
    assert result.stats.samples == 3 and result.stats.bad_rows == 3
    problems = result.stats.bad_examples
    assert "rows.jsonl, row 2: line 2 is not valid JSON" in problems[0]
    assert "rows.jsonl, row 4: line 4 is not UTF-8" in problems[1]
    # rows after the broken lines keep their numbers
    assert "row 6, column" not in problems[2] and "row 6: nothing to train on" in problems[2]


def test_long_rows_are_truncated_or_dropped_and_counted(tmp_path, tokenizer):
    rows = [{"text": "short"}, {"text": "a long review " * 20}, {"text": "ok then"}]
    path = write_jsonl(tmp_path / "rows.jsonl", rows)
    text = Text()
    cut = tokenized(path, text, tokenizer, max_length=16)
    assert cut.stats.long_rows == 1 and cut.stats.samples == 3
    longest = cut.dataset[1]
    assert len(longest["input_ids"]) == 16 and longest["labels"][-1] == tokenizer.eos_token_id
    dropped = tokenized(path, text, tokenizer, max_length=16, on_long_rows="drop")
    assert dropped.stats.long_rows == 1 and dropped.stats.samples == 2
    assert dropped.stats.record()["long_rows_action"] == "dropped"
    assert [len(r) for r in dropped.dataset["input_ids"]] == dropped.stats.lengths


class CountingText(DatasetFormatter):
    """Counts its calls, to tell a tokenized map from one served by the cache."""

    name = "counting"
    calls = 0

    def format(self, row):
        CountingText.calls += 1
        return Sample.of_text(row["text"])


def test_the_same_recipe_is_tokenized_once_then_served_from_the_cache(tmp_path, tokenizer):
    from transformers import AutoTokenizer

    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": f"sample {i}"} for i in range(30)])
    CountingText.calls = 0
    first = tokenized(path, CountingText(), tokenizer)
    assert CountingText.calls == 30
    # a second run: new formatter and tokenizer objects, same recipe and data
    again = tokenized(path, CountingText(), AutoTokenizer.from_pretrained(tokenizer.name_or_path))
    assert CountingText.calls == 30
    assert again.dataset.cache_files == first.dataset.cache_files != []
    assert again.dataset["input_ids"] == first.dataset["input_ids"]
    # a different setting is tokenized anew
    tokenized(path, CountingText(), tokenizer, max_length=8)
    assert CountingText.calls == 60


TOKENIZE_IN_A_NEW_PROCESS = """
import sys
from transformers import AutoTokenizer
from loraforge.engine.pipeline import prepare
from loraforge.engine.sources import load_splits
from loraforge.plan import bind
from loraforge.plugins import get_plugins
from loraforge.recipe import load_recipe
from _loraforge_llama.tiny import tiny_llama_path

plan = bind(load_recipe(sys.argv[1]), get_plugins())
tokenizer = AutoTokenizer.from_pretrained(tiny_llama_path())
prepared = prepare(load_splits(plan.recipe), plan.formatter, tokenizer, plan.recipe.data)
print(len(prepared.train), len(prepared.eval))
"""


def test_a_recipe_with_eval_fraction_is_tokenized_once_across_processes(tmp_path):
    import os
    import subprocess
    import sys

    rows = [{"instruction": f"Say {i}.", "output": f"{i}"} for i in range(40)]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    recipe_file = tmp_path / "recipe.toml"
    recipe_file.write_text('[model]\nloader = "tiny-llama"\n\n[data]\npath = "rows.jsonl"\n'
                           'formatter = "alpaca"\neval_fraction = 0.25\n')
    cache = tmp_path / "datasets-cache"
    env = {**os.environ, "HF_DATASETS_CACHE": str(cache)}

    def tokenize_in_a_new_process():
        done = subprocess.run([sys.executable, "-c", TOKENIZE_IN_A_NEW_PROCESS, str(recipe_file)],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["30", "10"]
        return {p.relative_to(cache) for p in cache.rglob("*.arrow")}

    first = tokenize_in_a_new_process()
    assert first
    assert tokenize_in_a_new_process() == first


def test_a_sample_whose_whole_completion_is_cut_off_is_dropped_and_counted(tmp_path, tokenizer):
    rows = [{"prompt": "Question? " * 20, "completion": " Yes."},  # the cut falls in the prompt
            {"prompt": "Q:", "completion": " a long answer" * 20},  # ... in the completion
            {"prompt": "Q:", "completion": " No."}]
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    result = tokenized(path, PromptCompletion(), tokenizer, max_length=16)
    stats = result.stats
    assert (stats.rows, stats.samples, stats.long_rows, stats.cut_off_rows) == (3, 2, 2, 1)
    long_answer = result.dataset[0]
    assert len(long_answer["input_ids"]) == 16 and long_answer["labels"][-1] == tokenizer.eos_token_id
    assert trained_text(tokenizer, long_answer["input_ids"], long_answer["labels"]).startswith(
        " a long answer")
    # no sample is left with nothing to learn but where to stop
    assert all(sum(1 for x in labels if x != IGNORE_INDEX) > 1 for labels in result.dataset["labels"])
    assert stats.record()["long_rows_cut_off"] == 1 and stats.lengths == [
        len(ids) for ids in result.dataset["input_ids"]]
    assert stats.trained_tokens == sum(sum(1 for x in labels if x != IGNORE_INDEX)
                                       for labels in result.dataset["labels"])
    assert stats.log_lines("qa.jsonl")[1] == (
        "2 samples were longer than max_length (16 tokens): 1 was truncated, 1 was dropped "
        "because its whole completion was cut off")
    dropped = tokenized(path, PromptCompletion(), tokenizer, max_length=16, on_long_rows="drop")
    assert (dropped.stats.samples, dropped.stats.long_rows, dropped.stats.cut_off_rows) == (1, 2, 0)


def test_a_csv_column_of_numbers_is_text_to_the_formatters(tmp_path, tokenizer):
    path = tmp_path / "sums.csv"
    path.write_text("prompt,completion\n2+2=,4\n3+3=,6\n")
    result = tokenized(path, PromptCompletion(), tokenizer)
    assert result.stats.samples == 2 and result.stats.bad_rows == 0
    first = result.dataset[0]
    assert trained_text(tokenizer, first["input_ids"], first["labels"]) == "4</s>"


def shuffled_with_bad_rows(folder, broken_line=""):
    """Two files whose bad rows a seeded shuffle puts out of file order."""
    folder.mkdir()
    rows = [{"text": f"row {i}", "label": "x"} for i in range(30)]
    for i in (2, 9, 17, 25):
        rows[i] = {"text": f"row {i}"}
    write_jsonl(folder / "a.jsonl", rows[:20])
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[20:24]) + broken_line
                                    + "".join(json.dumps(r) + "\n" for r in rows[24:]))
    return folder


def test_bad_rows_are_reported_in_file_order_however_the_rows_were_shuffled(tmp_path, tokenizer):
    fmt = template("{text} {label}")
    with pytest.raises(DataError) as info:
        tokenized(shuffled_with_bad_rows(tmp_path / "one"), fmt, tokenizer, shuffle=True, seed=3)
    assert info.value.where.endswith("a.jsonl") and info.value.message.startswith("row 3,")
    folder = shuffled_with_bad_rows(tmp_path / "data", broken_line="{oops\n")
    skipped = tokenized(folder, fmt, tokenizer, shuffle=True, seed=3, on_bad_rows="skip")
    assert [b.split("data/")[1].split(":")[0] for b in skipped.stats.bad_examples] == [
        "a.jsonl, row 3, column 'label'", "a.jsonl, row 10, column 'label'",
        "a.jsonl, row 18, column 'label'", "b.jsonl, row 5", "b.jsonl, row 7, column 'label'"]


def test_log_lines_count_one_sample_in_the_singular(tmp_path, tokenizer):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": "fine " * 20}, {"text": None}])
    stats = tokenized(path, Text(), tokenizer, max_length=8, on_bad_rows="skip").stats
    lines = stats.log_lines("rows.jsonl")
    assert lines[0].startswith("1 sample from rows.jsonl: 8 tokens, 7 of them trained")
    assert lines[1].startswith("skipped 1 bad row: ")
    assert lines[2] == "1 sample was longer than max_length (8 tokens) and was truncated"


EDITED_FORMATTER = '''
from loraforge.components import DatasetFormatter, Sample


class Shout(DatasetFormatter):
    name = "shout"

    def columns(self):
        return {{"text"}}

    def format(self, row):
        return Sample.of_text(row["text"].{case}())
'''


def test_editing_a_formatters_code_is_not_served_a_stale_cache(tmp_path, tokenizer, monkeypatch):
    import importlib
    import sys

    module = tmp_path / "lf_edited_formatter.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": f"Sample {i}"} for i in range(5)])

    module.write_text(EDITED_FORMATTER.format(case="upper"))
    shouting = importlib.import_module("lf_edited_formatter")
    first = tokenized(path, shouting.Shout(), tokenizer)
    assert "SAMPLE 0" in tokenizer.decode(first.dataset[0]["input_ids"])

    # the plugin author edits format() and runs again: same class name, module and data
    module.write_text(EDITED_FORMATTER.format(case="lower"))
    importlib.invalidate_caches()
    whispering = importlib.reload(sys.modules["lf_edited_formatter"])
    again = tokenized(path, whispering.Shout(), tokenizer)
    assert "sample 0" in tokenizer.decode(again.dataset[0]["input_ids"])
