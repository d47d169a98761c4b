"""Where rows come from: local files of each type, folders with splits, hub ids, and selection."""

from __future__ import annotations

import json
import time

import datasets
import pytest

from loraforge.engine.sources import ROW, load_splits
from loraforge.errors import DataError, RecipeError
from loraforge.recipe import recipe_from_dict

ROWS = [{"text": f"row number {i}", "label": "yes" if i % 2 else "no"} for i in range(20)]


def recipe(path, **data):
    return recipe_from_dict({"model": {"loader": "tiny-llama"}, "data": {"path": str(path), **data}})


def write(path, rows=ROWS):
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".txt":
        path.write_text("".join(r["text"] + "\n" for r in rows))
    else:
        table = datasets.Dataset.from_list(rows)
        table.to_csv(str(path), index=False) if suffix == ".csv" else table.to_parquet(str(path))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", ".txt"])
def test_each_local_file_type_is_read_with_row_numbers(tmp_path, suffix):
    splits = load_splits(recipe(write(tmp_path / f"rows{suffix}"), shuffle=False))
    rows = splits.train.dataset
    assert len(rows) == 20 and splits.eval is None
    assert rows[ROW] == list(range(20))
    assert rows[3]["text"] == "row number 3"
    assert splits.train.name.endswith(f"rows{suffix}")


def test_blank_lines_of_a_text_file_are_not_rows_but_keep_the_numbering(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("first\n\nsecond\n   \nthird\n")
    rows = load_splits(recipe(path, shuffle=False)).train
    assert rows.dataset["text"] == ["first", "second", "third"]
    assert rows.dataset[ROW] == [0, 2, 4]


def test_a_folder_is_split_by_file_names(tmp_path):
    write(tmp_path / "train.jsonl")
    write(tmp_path / "validation.jsonl", ROWS[:5])
    splits = load_splits(recipe(tmp_path, eval_split="validation"))
    assert len(splits.train.dataset) == 20 and len(splits.eval.dataset) == 5
    with pytest.raises(DataError) as info:
        load_splits(recipe(tmp_path, split="test"))
    assert info.value.where == "data.split"
    assert "no split 'test'" in info.value.message and "train, validation" in info.value.message


def test_the_files_of_a_folder_keep_their_own_names_and_row_numbers(tmp_path):
    write(tmp_path / "a.jsonl", ROWS[:3])
    write(tmp_path / "b.jsonl", ROWS[3:10])
    rows = load_splits(recipe(tmp_path, shuffle=False)).train
    assert len(rows.dataset) == 10
    from loraforge.engine.sources import bad_row

    located = bad_row(rows.files, rows.dataset[4][ROW], "text", "x")
    assert located.file.endswith("b.jsonl") and located.row == 2


def test_a_single_file_has_only_the_train_split(tmp_path):
    with pytest.raises(DataError) as info:
        load_splits(recipe(write(tmp_path / "rows.jsonl"), eval_split="validation"))
    assert info.value.where == "data.eval_split" and "one file" in info.value.message


def test_a_missing_local_path_says_so(tmp_path):
    with pytest.raises(DataError) as info:
        load_splits(recipe(tmp_path / "absent.jsonl"))
    assert info.value.where == "data.path" and "no such file" in info.value.message


def test_an_unknown_file_type_is_named(tmp_path):
    path = tmp_path / "rows.xml"
    path.write_text("<rows/>")
    with pytest.raises(DataError, match="unknown file type '.xml'"):
        load_splits(recipe(path))


def test_an_unreachable_hub_id_fails_fast_and_suggests_a_local_file(tmp_path):
    started = time.time()
    with pytest.raises(DataError) as info:
        load_splits(recipe("loraforge-tests/no-such-dataset"))
    assert time.time() - started < 10
    assert info.value.where == "data.path"
    assert "cannot reach the Hugging Face hub" in info.value.message
    assert "loraforge-tests/no-such-dataset" in info.value.message
    assert "local file" in info.value.hint and ".to_json(" in info.value.hint


def test_hub_ids_pass_name_split_and_revision_to_datasets(monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, *, split=None, revision=None, **kwargs):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_list(ROWS[:4] if split == "test" else ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    splits = load_splits(recipe("org/reviews", name="small", split="train[:50%]",
                                revision="v1.0", eval_split="test"))
    assert calls == [("org/reviews", "small", "train[:50%]", "v1.0"),
                     ("org/reviews", "small", "test", "v1.0")]
    assert len(splits.train.dataset) == 20 and len(splits.eval.dataset) == 4
    assert splits.train.name == "org/reviews (small) split train[:50%]"


def test_shuffle_is_seeded_and_max_samples_takes_the_first(tmp_path):
    path = write(tmp_path / "rows.jsonl")

    def numbers(**data):
        return load_splits(recipe(path, **data)).train.dataset[ROW]

    assert numbers(shuffle=False, max_samples=5) == [0, 1, 2, 3, 4]
    assert numbers(seed=1, max_samples=5) == numbers(seed=1, max_samples=5)
    assert numbers(seed=1) != numbers(seed=2) and sorted(numbers(seed=1)) == list(range(20))


def test_eval_fraction_holds_out_rows_the_training_split_does_not_have(tmp_path):
    splits = load_splits(recipe(write(tmp_path / "rows.jsonl"), eval_fraction=0.25))
    train, held_out = set(splits.train.dataset[ROW]), set(splits.eval.dataset[ROW])
    assert len(held_out) == 5 and len(train) == 15 and not train & held_out


def test_eval_split_and_eval_fraction_exclude_each_other(tmp_path):
    with pytest.raises(RecipeError, match="eval_split or eval_fraction, not both"):
        recipe(tmp_path / "x.jsonl", eval_split="validation", eval_fraction=0.1)


def test_skipping_bad_lines_reads_rows_with_different_keys_as_a_clean_file_would(tmp_path, capsys,
                                                                                caplog):
    rows = [{"instruction": "c", "input": "x", "output": "d"}, {"instruction": "a", "output": "b"},
            {"instruction": "e", "input": "y", "output": "f", "score": 3}]
    lines = [json.dumps(r) for r in rows]
    broken = tmp_path / "broken" / "rows.jsonl"
    broken.parent.mkdir()
    broken.write_text("\n".join([lines[0], lines[1], "not json", "", lines[2]]) + "\n")
    read = load_splits(recipe(broken, shuffle=False, on_bad_rows="skip")).train
    clean = load_splits(recipe(write(tmp_path / "rows.jsonl", rows), shuffle=False)).train
    assert read.dataset.features == clean.dataset.features
    assert read.dataset[ROW] == [0, 1, 3]  # the blank line is no row; the broken one keeps its number
    assert read.dataset.remove_columns(ROW).to_list() == clean.dataset.remove_columns(ROW).to_list()
    assert [str(b) for b in read.bad] == [f"{broken}, row 3: line 3 is not valid JSON "
                                          "(Expecting value: line 1 column 1 (char 0))"]
    # read again, the rows come from datasets' cache under the same fingerprint
    again = load_splits(recipe(broken, shuffle=False, on_bad_rows="skip")).train
    assert again.dataset._fingerprint == read.dataset._fingerprint
    captured = capsys.readouterr()  # datasets' reader failed on the file first, without a word
    assert "Failed to load JSON" not in captured.err + captured.out + caplog.text


def test_a_text_file_with_a_broken_line_skipped_keeps_its_line_numbers(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"first\nbad \xff\n\nthird\r\n")
    rows = load_splits(recipe(path, shuffle=False, on_bad_rows="skip")).train
    assert rows.dataset["text"] == ["first", "third"] and rows.dataset[ROW] == [0, 3]
    assert [b.row for b in rows.bad] == [2]


def test_rows_of_a_csv_are_counted_after_its_header(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"text,label\nfine,yes\nbroken \xff,no\n")
    with pytest.raises(DataError) as info:
        load_splits(recipe(path))
    assert info.value.message.startswith("row 2 (line 3) is not UTF-8")


def test_a_csv_that_cannot_be_parsed_is_one_error_about_csv(tmp_path, capsys, caplog):
    path = tmp_path / "rows.csv"
    path.write_text('text,label\nfine,yes\n"never closed,no\n')
    with pytest.raises(DataError) as info:
        load_splits(recipe(path))
    assert info.value.where == "data.path" and "could not read" in info.value.message
    assert ".jsonl" not in info.value.hint and "quote" in info.value.hint
    captured = capsys.readouterr()
    assert "Failed to read file" not in captured.err + captured.out + caplog.text



def test_a_line_file_with_no_good_line_says_so_when_skipping(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("not json\n[1, 2]\n")
    with pytest.raises(DataError) as info:
        load_splits(recipe(path, on_bad_rows="skip"))
    assert info.value.where.endswith("rows.jsonl")
    assert info.value.message.startswith("no row can be read; the first: row 1 (line 1) is not")


@pytest.mark.parametrize("name, content, said", [
    ("empty.jsonl", b"", "is empty (0 bytes), so it has no rows"),
    ("blank.jsonl", b"\n\n  \n", "is blank: it holds only white space"),
    ("blank.txt", b"\n\n", "is blank: it holds only white space"),
    ("header.csv", b"text,label\n", "has a header line (text,label) but no rows"),
    ("none.json", b"[]\n", "holds no rows ([])"),
])
def test_a_file_without_rows_is_said_to_have_none(tmp_path, name, content, said):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_splits(recipe(path))
    assert said in error.value.message and error.value.where == "data.path"


@pytest.mark.parametrize("line, said", [
    ('{"text": 99999999999999999999999}', "an integer too large to be stored in 64 bits "
                                        "(99999999999999999999999)"),
    ('{"text": 1e400}', "a number too large to be stored (1e400)"),
    ('{"text": "c", "text": "d"}', "an object with the key 'text' twice"),
    ('{"text": NaN}', "NaN, which is not a JSON number"),
])
def test_json_a_table_cannot_hold_is_named_by_its_row_and_line(tmp_path, line, said):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n' + line + "\n")
    with pytest.raises(DataError) as error:
        load_splits(recipe(path))
    assert error.value.message == f"row 3 (line 4) is {said}"
    # and with bad rows skipped, it is the one row dropped
    splits = load_splits(recipe(path, on_bad_rows="skip"))
    assert len(splits.train.dataset) == 2 and splits.train.bad[0].row == 3


def test_an_evaluation_fraction_that_leaves_nothing_to_train_is_refused(tmp_path):
    with pytest.raises(DataError, match="leaves no row to train on") as error:
        load_splits(recipe(write(tmp_path / "rows.jsonl"), eval_fraction=0.99))
    assert error.value.where == "data.eval_fraction"
