"""A run at a glance: the summary, the loss curve in the terminal, and as an image."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
from tiny_runs import plugins as tiny_plugins
from tiny_runs import recipe as tiny_recipe

from loraforge.after import report
from loraforge.cli import main
from loraforge.engine.run import run_recipe

pytestmark = pytest.mark.usefixtures("wide_terminal")


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's header, which must be one."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_finished_run_leaves_its_loss_curve_as_an_image(labelled_run):
    image = labelled_run.output_dir / "loss.png"
    assert png_size(image) == (700, 400)
    from matplotlib.image import imread

    assert imread(image).shape[:2] == (400, 700)


def test_report_summarises_the_run_and_draws_its_losses(labelled_run, tmp_path, capsys):
    image = tmp_path / "curve.png"
    assert main(["report", str(labelled_run.output_dir), "--png", str(image)]) == 0
    out = capsys.readouterr().out
    record = json.loads((labelled_run.output_dir / "run.json").read_text())
    for shown in ("status", "finished", "tiny-llama (llama)", "r=8 alpha=16", "q_proj, v_proj",
                  "240 samples, 60 held out", f"steps       {record['global_step']}",
                  "tokens/s", f"{record['train_loss']:.4f} (mean)",
                  f"{record['eval_metrics']['eval_loss']:.4f} (final)", "transformers", "peft"):
        assert shown in out, shown
    assert "train loss" in out and "eval loss" in out and "step" in out  # the plot's legend
    assert png_size(image)[0] > 0


def test_report_json_gives_the_same_facts(labelled_run, capsys):
    assert main(["report", str(labelled_run.output_dir), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["status"] == "finished" and facts["steps"] == "60"


def test_the_curve_keeps_the_later_value_of_a_step_a_resumed_run_repeated(tmp_path):
    lines = [{"event": "log", "step": 1, "loss": 3.0}, {"event": "log", "step": 2, "loss": 2.5},
             {"event": "begin", "step": 1}, {"event": "log", "step": 2, "loss": 2.4},
             {"event": "evaluate", "step": 2, "eval_loss": 2.6}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "{cut")
    curve = report.loss_curve(tmp_path)
    assert curve.train == [(1, 3.0), (2, 2.4)] and curve.eval == [(2, 2.6)]


def test_without_a_metrics_file_the_curve_comes_from_the_newest_checkpoint(labelled_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(labelled_run.output_dir, copy)
    (copy / "metrics.jsonl").unlink()
    curve = report.loss_curve(copy)
    assert curve.train[0][0] == 1 and curve.eval


def test_a_plot_that_cannot_be_drawn_does_not_fail_the_run(tmp_path, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(report, "write_loss_png", broken)
    result = run_recipe(tiny_recipe(tmp_path, "train.max_steps=2"), plugins=tiny_plugins())
    assert (result.output_dir / "adapter_model.safetensors").is_file()
    assert not (result.output_dir / "loss.png").exists()
    assert "loss.png was not drawn: OSError: no space left on device" in capsys.readouterr().err


def test_report_on_a_checkpoint_names_the_run_to_give_instead(labelled_run, capsys):
    checkpoint = labelled_run.output_dir / "checkpoints" / f"checkpoint-{labelled_run.global_step}"
    assert main(["report", str(checkpoint)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "is a checkpoint" in err and f"loraforge report {labelled_run.output_dir}" in err


def test_report_refuses_a_png_that_is_a_folder_and_makes_a_new_ones_folder(
        labelled_run, tmp_path, capsys):
    assert main(["report", str(labelled_run.output_dir), "--png", str(tmp_path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--png" in err and "is a folder" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == [] and not list(tmp_path.parent.glob(f".{tmp_path.name}*"))
    image = tmp_path / "new" / "curve.png"
    assert main(["report", str(labelled_run.output_dir), "--png", str(image), "--no-plot"]) == 0
    assert png_size(image)[0] > 0
    assert [p.name for p in image.parent.iterdir()] == ["curve.png"]
