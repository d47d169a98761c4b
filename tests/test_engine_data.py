"""Rows to token ids and labels: masking, EOS, bad and long rows, and the tokenizing cache."""

from __future__ import annotations

import json

import pytest

from loraforge.components import DatasetFormatter, Sample
from loraforge.engine.batches import PaddingCollator, pack
from loraforge.engine.data import IGNORE_INDEX, encode_sample, tokenize
from loraforge.engine.sources import load_splits
from loraforge.errors import DataError
from loraforge.recipe import recipe_from_dict
from loraforge_formatters.prompt_completion import PromptCompletion
from loraforge_formatters.template import Template
from loraforge_formatters.text import Text


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from loraforge_llama.tiny import tiny_llama_path

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
    return tokenizer.decode([i for i, l in zip(ids, labels) if l != IGNORE_INDEX])


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
    assert info.value.message == "row 3, column 'label': column 'label' is empty (null)"
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
        "row 2, column 'label': column 'label' is empty (null)",
        "row 5, column 'label': column 'label' is empty (null)",
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
