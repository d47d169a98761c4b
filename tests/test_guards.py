"""Runs that cannot do what they are for stop early with a clear error: no gradient, no memory."""

from __future__ import annotations

import io

import pytest
import torch
from tiny_runs import events, plugins, recipe, run_record

from _loraforge_llama.loaders import TinyLlamaLoader, TinyLlamaOptions
from loraforge.cli.errors import print_error
from loraforge.engine import checkpoints
from loraforge.engine.guards import lora_got_gradient
from loraforge.engine.run import run_plan, run_recipe
from loraforge.errors import TrainingError
from loraforge.hookspecs import hookimpl
from loraforge.plan import bind

pytestmark = pytest.mark.slow


class WithAnUnusedLayer(TinyLlamaLoader):
    """The tiny LLaMA with one more linear layer that its forward pass never calls."""

    name = "tiny-llama-with-an-unused-layer"

    def load(self, spec):
        loaded = super().load(spec)
        hidden = loaded.model.config.hidden_size
        loaded.model.model.unused_proj = torch.nn.Linear(hidden, hidden, bias=False)
        return loaded


class OutOfMemoryOptions(TinyLlamaOptions):
    step: int = 1


class OutOfMemoryAt(TinyLlamaLoader):
    """The tiny LLaMA whose training forward pass raises a real OutOfMemoryError at ``step``."""

    name = "tiny-llama-out-of-memory"
    Options = OutOfMemoryOptions

    def load(self, spec):
        shape = self.options.model_dump(exclude={"step"})
        loaded = TinyLlamaLoader(TinyLlamaOptions(**shape)).load(spec)
        passes = 0

        def forward(module, args):
            nonlocal passes
            if module.training:
                passes += 1  # one forward pass per step: no gradient accumulation here
                if passes == self.options.step:
                    raise torch.OutOfMemoryError(
                        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 23.69 GiB total "
                        "capacity)"
                    )

        loaded.model.register_forward_pre_hook(forward)
        return loaded


class ThrowawayLoaders:
    @hookimpl
    def register_model_loaders(self, register):
        register(WithAnUnusedLayer)
        register(OutOfMemoryAt)


@pytest.fixture(scope="module")
def loaded():
    registered = plugins()
    registered.register(ThrowawayLoaders(), "throwaway-loaders")
    return registered


def test_no_gradient_on_any_lora_parameter_stops_after_the_first_step(tmp_path, loaded):
    # gradient checkpointing makes the embeddings' output require a gradient, so the
    # backward pass runs; it just never reaches the adapter on a layer nobody calls
    run = recipe(tmp_path, 'model.loader="tiny-llama-with-an-unused-layer"',
                 'lora.targets=["unused_proj"]', "train.gradient_checkpointing=true")
    with pytest.raises(TrainingError) as error:
        run_recipe(run, plugins=loaded)
    assert "no LoRA parameter received a gradient" in error.value.message
    assert error.value.where == "lora.targets"
    assert "never called" in error.value.hint
    record = run_record(tmp_path / "out")
    assert record["status"] == "failed" and record["global_step"] == 0
    assert not (tmp_path / "out" / "adapter_model.safetensors").exists()


def test_lora_that_is_used_gets_a_gradient():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    model[0].lora_B = torch.nn.Parameter(torch.zeros(4))
    assert lora_got_gradient(model) is False
    model[0].lora_B.grad = torch.ones(4)
    assert lora_got_gradient(model) is True
    assert lora_got_gradient(torch.nn.Linear(2, 2)) is None


def test_out_of_memory_names_the_step_the_settings_and_keeps_the_checkpoint(tmp_path, loaded):
    run = recipe(tmp_path, "train.save_steps=2", 'train.callbacks=["metrics", "console"]',
                 'model.loader={name = "tiny-llama-out-of-memory", step = 5}')
    plan = bind(run, loaded)
    console = plan.callbacks[1]
    console.file, console.terminal = io.StringIO(), True  # draws a progress bar
    with pytest.raises(TrainingError) as error:
        run_plan(plan)
    message, hint = error.value.message, error.value.hint
    assert "ran out of memory at step 5" in message and "Tried to allocate 2.00 GiB" in message
    for setting in ("train.batch_size = 8", "data.max_length = 48",
                    'model.quantization = "none"', "train.gradient_checkpointing = false"):
        assert setting in message
    assert "smaller train.batch_size" in hint and "smaller data.max_length" in hint
    assert "train.gradient_checkpointing = true" in hint and '"4bit"' in hint
    assert "step 4" in hint and "--resume" in hint

    out = tmp_path / "out"
    assert [c.step for c in checkpoints.scan(out)[0]] == [2, 4]  # the last one stays intact
    assert run_record(out)["status"] == "failed"
    assert events(out)[-1]["status"] == "failed"
    assert console._progress is None  # the bar was taken down
    assert "failed after 4 steps" in console.file.getvalue()


def test_the_out_of_memory_panel_is_short_and_has_no_traceback(tmp_path, loaded, capsys):
    run = recipe(tmp_path, 'model.loader={name = "tiny-llama-out-of-memory", step = 1}')
    with pytest.raises(TrainingError) as error:
        run_recipe(run, plugins=loaded)
    assert "No checkpoint had been saved yet" in error.value.hint
    print_error(error.value)
    err = capsys.readouterr().err
    assert "Training stopped" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def failing():
    from throwaway_components import ThrowawayComponents

    registered = plugins()
    registered.register(ThrowawayComponents(), "throwaway-components")
    return registered


@pytest.mark.parametrize("fault, what", [("nan-loss", "training loss"),
                                         ("nan-gradient", "gradient norm")])
def test_a_run_whose_loss_or_gradient_is_no_number_fails_and_saves_no_adapter(
        tmp_path, failing, fault, what):
    with pytest.raises(TrainingError) as error:
        run_recipe(recipe(tmp_path, f'model.loader={{name = "tiny-llama-failing", '
                                    f'fail_in = "{fault}"}}', "train.max_steps=6",
                          "train.save_steps=2"), plugins=failing)
    message, hint = error.value.message, error.value.hint
    assert message.startswith(f"the {what} became nan at step 1: training diverged")
    assert "train.learning_rate" in hint and "lora.alpha / lora.r" in hint
    out = tmp_path / "out"
    assert not (out / "adapter_model.safetensors").exists()
    assert checkpoints.scan(out) == ([], [])  # nothing was saved from broken weights
    record = run_record(out)
    assert record["status"] == "failed" and "training diverged" in record["error"]
    logged = [e for e in events(out) if e["event"] == "log"]
    assert logged == []  # never a made-up loss such as 0.0000 in the log


def test_a_run_that_diverges_later_keeps_its_newest_finite_checkpoint(tmp_path, failing):
    with pytest.raises(TrainingError) as error:
        run_recipe(recipe(tmp_path, 'model.loader={name = "tiny-llama-failing", '
                                    'fail_in = "nan-loss", at_step = 5}', "train.max_steps=8",
                          "train.save_steps=2"), plugins=failing)
    assert error.value.message.startswith("the training loss became nan at step 5")
    out = tmp_path / "out"
    assert [c.step for c in checkpoints.scan(out)[0]] == [2, 4]
    assert "The newest checkpoint (step 4," in error.value.hint
    assert not (out / "adapter_model.safetensors").exists()
    losses = [e["loss"] for e in events(out) if e["event"] == "log"]
    assert len(losses) == 4 and all(loss == loss for loss in losses)  # only finite ones
