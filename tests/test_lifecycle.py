"""One lifecycle: however a run ends, run.json says so, and callbacks that began are told.

Each case makes a run fail in one phase (or stops it), then checks the
record, the callbacks and the last event.
"""

from __future__ import annotations

import json
import threading

import pytest
from throwaway_components import FailingLoader, Recorder, ThrowawayComponents
from tiny_runs import plugins, recipe, run_record

from loraforge.components import TrainingCallback
from loraforge.engine import checkpoints
from loraforge.engine.run import run
from loraforge.engine.signals import RunInterrupted, StopToken
from loraforge.errors import DataError, LoraforgeError, ModelError, OutputError, RecipeError
from loraforge.reporting import CollectingReporter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded():
    registered = plugins()
    registered.register(ThrowawayComponents(), "throwaway-components")
    return registered


def recorded(*overrides: str) -> tuple[str, ...]:
    return ('train.callbacks=["metrics", "recorder"]', "train.max_steps=4", *overrides)


def last_event(out):
    return json.loads((out / "events.jsonl").read_text().splitlines()[-1])


def incomplete_baichuan(folder):
    """A Baichuan-7B checkpoint whose download stopped before its second shard."""
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["BaiChuanForCausalLM"], "hidden_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 300,
    }))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"")
    return folder


FAILURES = {
    # what fails: (overrides, the error, what its message says); the phase is the key, but for
    # an evaluation, which the Trainer runs at the end of each epoch and so in the train phase
    "plugins": (['data.formatter="nonesuch"'], RecipeError, "no dataset formatter is named"),
    "data": (['data.formatter={name = "template", template = "{nonesuch}"}'], DataError,
             "no column 'nonesuch'"),
    "model": (['model.loader={name = "tiny-llama-failing", fail_in = "load"}'], ModelError,
              "weights are damaged"),
    "lora": (['lora.targets=["nonesuch_proj"]'], ModelError, "no module named 'nonesuch_proj'"),
    "tokenize": (['data.formatter={name = "template", template = "{text} {label}"}'],
                 DataError, "column 'label' is missing or empty"),
    "train": (['model.loader={name = "tiny-llama-failing", fail_in = "train"}'], RuntimeError,
              "a forward pass that fails in train"),
    "evaluate": (['model.loader={name = "tiny-llama-failing", fail_in = "evaluate"}',
                  "data.eval_fraction=0.1"], RuntimeError, "a forward pass that fails in evaluate"),
    "save": (['model.loader={name = "tiny-llama-failing", fail_in = "save"}'], OutputError,
             "tokenizer.json: the disk is full"),
}


@pytest.mark.parametrize("phase", list(FAILURES))
def test_a_run_that_fails_in_any_phase_is_closed_as_failed(tmp_path, loaded, phase):
    overrides, error, words = FAILURES[phase]
    FailingLoader.evaluation_armed = phase == "evaluate"
    if phase == "tokenize":  # a row whose label is null
        rows = tmp_path / "rows.jsonl"
        rows.write_text('{"text": "fine", "label": "positive"}\n' * 20
                        + '{"text": "no label", "label": null}\n')
        overrides = [*overrides, f'data.path="{rows}"']
    Recorder.events.clear()
    with pytest.raises(error, match=words):
        run(recipe(tmp_path, *recorded(*overrides)), plugins=loaded,
            reporter=CollectingReporter())
    out = tmp_path / "out"
    record = run_record(out)
    reported = "train" if phase == "evaluate" else phase
    assert record["status"] == "failed" and record["failed_phase"] == reported
    assert words in record["error"] and record["finished_at"] is None
    ended = last_event(out)
    assert ended["event"] == "run_ended" and ended["status"] == "failed"
    assert ended["phase"] == reported and words in ended["error"]["message"]
    trained = phase in ("train", "evaluate", "save")
    # on_end goes to the callbacks that were sent on_begin, and only to them
    assert ("begin" in Recorder.events) is trained
    assert Recorder.events.count("end failed") == (1 if trained else 0)
    if trained:
        assert Recorder.events[-1] == "end failed"


def test_a_checkpoint_download_that_stopped_fails_converting_as_such(tmp_path, loaded):
    checkpoint = incomplete_baichuan(tmp_path / "baichuan")
    loaded.load_entry_points(["baichuan"])
    events = CollectingReporter()
    with pytest.raises(ModelError, match="incomplete: model.safetensors.index.json lists "
                                         "model-00002-of-00002.safetensors, which is not on disk"):
        run(recipe(tmp_path, f'model.path="{checkpoint}"', 'model.loader="baichuan"'),
            plugins=loaded, reporter=events)
    record = run_record(tmp_path / "out")
    assert record["status"] == "failed" and record["failed_phase"] == "model"
    assert record["error_details"]["kind"] == "ModelError"
    assert record["error_details"]["where"] == "model.path"


def test_a_refusal_before_the_folder_is_claimed_leaves_it_as_it_was(tmp_path, loaded):
    run(recipe(tmp_path, "train.max_steps=2"), plugins=loaded, reporter=CollectingReporter())
    out = tmp_path / "out"
    def files():  # the lock says who last asked for the folder; everything else is unchanged
        return {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".loraforge.lock"}

    before = files()
    events = CollectingReporter()
    with pytest.raises(LoraforgeError, match="already holds a run that finished"):
        run(recipe(tmp_path, "train.max_steps=2"), plugins=loaded, reporter=events)
    assert files() == before
    assert run_record(out)["status"] == "finished"
    ended = events.events[-1].to_dict()
    assert ended["event"] == "run_ended" and ended["phase"] == "output"


class StopAfter(TrainingCallback):
    """A front end's stop key, pressed when a phase finishes."""

    name = "stop-after"

    def __init__(self, token: StopToken, phase: str):
        super().__init__()
        self.token, self.phase = token, phase

    def on_phase(self, event):
        if event.kind == "phase_finished" and event.phase == self.phase:
            self.token.stop()


def test_a_stop_before_training_ends_the_run_as_interrupted_at_the_next_phase(tmp_path, loaded):
    token = StopToken()
    events = CollectingReporter()
    with pytest.raises(RunInterrupted) as stopped:
        run(recipe(tmp_path, *recorded()), plugins=loaded, reporter=events, stop=token,
            callbacks=[StopAfter(token, "model")])
    assert stopped.value.signal_name == "request"
    record = run_record(tmp_path / "out")
    assert record["status"] == "interrupted" and record["global_step"] == 0
    kinds = [(e.kind, getattr(e, "phase", None)) for e in events.events]
    assert ("phase_finished", "model") in kinds and ("phase_started", "lora") not in kinds
    assert events.events[-1].status == "interrupted"


def test_the_stop_token_from_another_thread_checkpoints_and_the_run_resumes(tmp_path, loaded):
    token = StopToken()
    results: dict[str, object] = {}

    class StopAtStep(TrainingCallback):
        name = "stop-at-step"

        def on_log(self, step, logs):
            if step == 3:  # the front end's thread presses stop
                threading.Thread(target=token.stop).start()

    def train_in_a_thread(**kwargs):
        try:
            results["value"] = run(recipe(tmp_path, *recorded("train.max_steps=8",
                                                             "train.logging_steps=1")),
                                   plugins=loaded, reporter=CollectingReporter(), **kwargs)
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            results["value"] = exc

    Recorder.events.clear()
    worker = threading.Thread(target=train_in_a_thread,
                              kwargs={"stop": token, "callbacks": [StopAtStep()]})
    worker.start()
    worker.join()
    stopped = results["value"]
    assert isinstance(stopped, RunInterrupted), stopped
    out = tmp_path / "out"
    complete, _ = checkpoints.scan(out)
    assert complete and complete[-1].step == stopped.step >= 3
    assert run_record(out)["status"] == "interrupted"
    assert Recorder.events.count("end interrupted") == 1

    # a second run, in a thread of its own, continues it to the end
    worker = threading.Thread(target=train_in_a_thread, kwargs={"resume": True})
    worker.start()
    worker.join()
    assert results["value"].global_step == 8
    record = run_record(out)
    assert record["status"] == "finished" and record["resumed_from"]["step"] == stopped.step


@pytest.mark.parametrize("method", ["on_begin", "on_log", "on_evaluate"])
def test_a_callback_that_raises_is_switched_off_and_the_run_goes_on(tmp_path, loaded, method):
    events = CollectingReporter()
    result = run(recipe(tmp_path, "train.max_steps=4", "data.eval_fraction=0.1",
                        f'train.callbacks=["metrics", {{name = "raising", method = "{method}"}}]'),
                 plugins=loaded, reporter=events)
    assert result.global_step == 4
    record = run_record(result.output_dir)
    assert record["status"] == "finished"
    (problem,) = record["callback_errors"]
    assert problem["plugin"] == "throwaway-components" and problem["component"] == "raising"
    assert problem["method"] == method
    warnings = [e for e in events.events if e.kind == "warning" and e.code == "callback_disabled"]
    assert len(warnings) == 1  # reported once, however many steps followed
    assert "the callback 'raising' raised" in warnings[0].message
    assert warnings[0].where == "plugin 'throwaway-components'"


def test_every_phase_is_reported_in_order_with_its_numbers(tmp_path, loaded):
    # rows no earlier test tokenized, so that tokenizing is done (and its progress told)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"text": f"review {n} of {tmp_path.name}",
                                        "label": "positive"}) + "\n" for n in range(600)))
    events = CollectingReporter()
    result = run(recipe(tmp_path, "train.max_steps=3", "data.eval_fraction=0.1",
                        f'data.path="{rows}"'),
                 plugins=loaded, reporter=events)
    finished = [e for e in events.events if e.kind == "phase_finished"]
    assert [e.phase for e in finished] == ["output", "plugins", "data", "model", "lora",
                                           "tokenize", "train", "evaluate", "save"]
    lora = finished[4].details
    assert lora["trainable_parameters"] == result.trainable_parameters
    assert lora["targets"] == ["q_proj", "v_proj"]
    assert finished[5].details["train"]["samples"] > 0
    kinds = events.kinds()
    assert kinds[0] == "phase_started" and kinds[-1] == "run_ended"
    assert "train_started" in kinds and kinds.count("step") == 3
    progress = {(e.unit, e.done, e.total) for e in events.events if e.kind == "progress"}
    assert {("train rows", 500, 540), ("train rows", 540, 540), ("eval rows", 60, 60)} == progress
    assert events.events[-1].status == "finished"
    # the same stream is in the output folder, as JSON lines
    lines = [json.loads(line) for line in (result.output_dir / "events.jsonl").read_text()
             .splitlines()]
    assert lines[0]["event"] == "run_started" and lines[-1]["event"] == "run_ended"
    assert all(line["v"] == 1 for line in lines)
