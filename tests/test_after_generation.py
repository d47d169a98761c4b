"""Answers from a trained adapter: prompted as in training, stopping at EOS, base beside adapter."""

from __future__ import annotations

import io
import json

import pytest

from loraforge.after.generation import Sampling, complete
from loraforge.after.prompts import message_row, render
from loraforge.cli import main

pytestmark = pytest.mark.usefixtures("wide_terminal")

REVIEWS = ["A superb, moving film. I loved every minute of it.",
           "Painfully dull. The script is weak and the acting is wooden."]


def prompt_ids(trained, text):
    return render(trained.formatter, message_row(trained.formatter, text), trained.tokenizer).ids


def test_answers_stop_at_eos_well_within_the_token_limit(labelled_model):
    model, tokenizer = labelled_model.model, labelled_model.tokenizer
    for review, label in zip(REVIEWS, ("positive", "negative")):
        pieces = []
        completion = complete(model, tokenizer, prompt_ids(labelled_model, review),
                              Sampling(max_new_tokens=32), on_text=pieces.append)
        assert completion.stopped == "eos"
        assert completion.tokens <= 3  # the label, then EOS
        assert completion.text == f" {label}"
        assert "".join(pieces) == completion.text  # streamed as it was written


def test_without_the_adapter_the_base_answers_differently(labelled_model):
    model, tokenizer = labelled_model.model, labelled_model.tokenizer
    ids = prompt_ids(labelled_model, REVIEWS[0])
    base = complete(model, tokenizer, ids, Sampling(max_new_tokens=8), base=True)
    assert base.text.strip() not in ("positive", "negative")
    # and the adapter is back on afterwards
    assert complete(model, tokenizer, ids, Sampling()).text == " positive"


def test_a_seed_makes_sampling_repeat(labelled_model):
    model, tokenizer = labelled_model.model, labelled_model.tokenizer
    ids = prompt_ids(labelled_model, REVIEWS[0])
    sampling = Sampling(max_new_tokens=12, temperature=1.5, seed=7)
    first = complete(model, tokenizer, ids, sampling, base=True)
    assert complete(model, tokenizer, ids, sampling, base=True) == first


def test_generate_prints_the_answer_to_a_typed_prompt(labelled_run, capsys):
    assert main(["generate", str(labelled_run.output_dir), "--prompt", REVIEWS[1]]) == 0
    assert capsys.readouterr().out == " negative\n"


def test_generate_answers_a_file_of_rows_with_the_base_beside(labelled_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"text": review}) + "\n" for review in REVIEWS))
    out = tmp_path / "answers.jsonl"
    assert main(["generate", str(labelled_run.output_dir), "--file", str(prompts), "--out",
                 str(out), "--compare", "--max-new-tokens", "8"]) == 0
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    assert [a["line"] for a in answers] == [1, 2]
    assert answers[0]["prompt"] == f"Review: {REVIEWS[0]}\nSentiment:"
    assert [(a["completion"], a["stopped"]) for a in answers] == [(" positive", "eos"),
                                                                 (" negative", "eos")]
    assert all(a["base"]["completion"] != a["completion"] for a in answers)
    assert "wrote 2 answers" in capsys.readouterr().err


def test_generate_refuses_a_bad_row_before_writing_anything(labelled_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"text": REVIEWS[0]}) + "\n" + json.dumps({"review": "x"}) + "\n")
    out = tmp_path / "answers.jsonl"
    assert main(["generate", str(labelled_run.output_dir), "--file", str(prompts),
                 "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "line 2, column 'text'" in err
    assert not out.exists()


def test_chat_answers_each_message_and_compares_with_the_base(labelled_run, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{REVIEWS[0]}\n/reset\n{REVIEWS[1]}\n"))
    assert main(["chat", str(labelled_run.output_dir), "--compare", "--show-prompt"]) == 0
    out = capsys.readouterr().out
    assert f"'Review: {REVIEWS[0]}\\nSentiment:'" in out  # the prompt as the model saw it
    assert "adapter › positive\n" in out and "adapter › negative\n" in out  # one space
    assert out.count("base › ") == 2


def test_sampling_settings_out_of_range_are_refused(labelled_run, capsys):
    assert main(["generate", str(labelled_run.output_dir), "--prompt", "x", "--top-p", "0"]) == 2
    assert "--top-p" in capsys.readouterr().err


def test_generate_refuses_an_out_that_is_a_folder_before_answering(labelled_run, tmp_path,
                                                                   capsys):
    assert main(["generate", str(labelled_run.output_dir), "--prompt", REVIEWS[0],
                 "--out", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--out" in err and "is a folder" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_generate_writes_out_into_a_folder_it_makes(labelled_run, tmp_path, capsys):
    out = tmp_path / "new" / "answers.jsonl"
    assert main(["generate", str(labelled_run.output_dir), "--prompt", REVIEWS[0],
                 "--out", str(out)]) == 0
    assert json.loads(out.read_text())["completion"] == " positive"
    assert "wrote 1 answer to" in capsys.readouterr().err


def test_generate_refuses_a_prompts_file_without_rows(labelled_run, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n  \n")
    out = tmp_path / "answers.jsonl"
    assert main(["generate", str(labelled_run.output_dir), "--file", str(prompts),
                 "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "holds no rows" in err and "Traceback" not in err
    assert not out.exists()
