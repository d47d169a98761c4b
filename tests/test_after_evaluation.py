"""Held-out loss of base and adapter, computed as the run's own evaluation computed it."""

from __future__ import annotations

import json

import pytest
from tiny_runs import REVIEWS
from tiny_runs import plugins as tiny_plugins
from tiny_runs import recipe as tiny_recipe

from loraforge.after.evaluation import answer_rows, eval_rows, evaluate_rows, perplexity
from loraforge.cli import main
from loraforge.engine.run import run_recipe

pytestmark = pytest.mark.usefixtures("wide_terminal")


def test_the_adapters_loss_is_the_runs_own_final_evaluation(labelled_model, labelled_run):
    recorded = labelled_model.run.record["eval_metrics"]["eval_loss"]
    evaluation = evaluate_rows(labelled_model, eval_rows(labelled_model))
    assert evaluation.adapter_loss == pytest.approx(recorded, abs=1e-4)
    assert evaluation.samples == labelled_model.run.record["data"]["eval"]["samples"] == 60
    assert evaluation.base_loss > evaluation.adapter_loss + 1
    assert perplexity(evaluation.adapter_loss) < perplexity(evaluation.base_loss)


def test_the_adapter_answers_the_held_out_reviews_right_far_more_often(labelled_model):
    answers = answer_rows(labelled_model, eval_rows(labelled_model))
    assert len(answers.answers) == 60
    assert answers.accuracy("adapter") >= 0.8
    assert answers.accuracy("base") <= 0.3
    assert {a.expected for a in answers.answers} == {" positive", " negative"}


def test_eval_prints_json_for_scripts(labelled_run, capsys):
    assert main(["eval", str(labelled_run.output_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["samples"] == 60
    assert record["adapter"]["loss"] < record["base"]["loss"]
    assert record["adapter"]["perplexity"] == pytest.approx(2.718281828 ** record["adapter"]["loss"])


def test_eval_on_other_rows_takes_all_of_them(labelled_run, tmp_path, capsys):
    data = tmp_path / "more.jsonl"
    data.write_text("".join(REVIEWS.read_text().splitlines(keepends=True)[:12]))
    assert main(["eval", str(labelled_run.output_dir), "--data", str(data), "--answers"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "12 held-out samples of" in out and "right answers" in out


def test_a_run_that_held_nothing_out_is_told_how_to_evaluate(tmp_path, capsys):
    result = run_recipe(tiny_recipe(tmp_path, "train.max_steps=1"), plugins=tiny_plugins())
    assert main(["eval", str(result.output_dir)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "held out no rows" in err and "--data PATH" in err
