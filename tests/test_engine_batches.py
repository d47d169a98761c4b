"""Batches: packed blocks keep samples apart; unpacked batches are grouped by length."""

from __future__ import annotations

import datasets
import pytest
import torch

from loraforge.components import Sample
from loraforge.engine.batches import collator, pack, training_arguments
from loraforge.engine.data import IGNORE_INDEX, LENGTH, encode_sample
from loraforge.recipe import DataSection

TEXTS = [
    "A quiet, lovely film.", "Dull from start to finish; the plot never moves.",
    "Great fun.", "The acting is superb and the music haunting, a real treat to watch.",
    "Too long.", "I laughed, I cried, I would watch it again tomorrow.",
]


@pytest.fixture(scope="module")
def tiny_dir():
    from _loraforge_llama.tiny import tiny_llama_path

    return tiny_llama_path()


@pytest.fixture(scope="module")
def tokenizer(tiny_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.pad_token = tokenizer.unk_token  # as the loader sets it
    return tokenizer


@pytest.fixture(scope="module")
def samples(tokenizer):
    rows = [encode_sample(Sample.of_prompt("Review:", " " + t), tokenizer, 48) for t in TEXTS]
    return datasets.Dataset.from_list([{**r, LENGTH: len(r["input_ids"])} for r in rows])


def data(**fields):
    return DataSection(path="x.jsonl", max_length=48, **fields)


def test_packed_blocks_restart_positions_at_each_sample(samples, tokenizer):
    blocks = pack(samples, 48, tokenizer.pad_token_id)
    assert len(blocks) < len(samples)
    assert all(len(b) == 48 for column in ("input_ids", "labels", "position_ids")
               for b in blocks[column])
    expected = samples["input_ids"]
    found, trained = [], 0
    for block in blocks:
        starts = [i for i, p in enumerate(block["position_ids"]) if p == 0]
        for start, end in zip(starts, starts[1:] + [48]):
            assert block["position_ids"][start:end] == list(range(end - start))
            # the first token of a sample is never a target: it would be predicted from the
            # end of the sample before it
            assert block["labels"][start] == IGNORE_INDEX
            piece = block["input_ids"][start:end]
            if len(found) < len(expected) and piece == expected[len(found)]:
                found.append(piece)
            else:  # the block's padded tail, out of the loss
                assert set(piece) == {tokenizer.pad_token_id}
                assert set(block["labels"][start:end]) == {IGNORE_INDEX}
        trained += sum(1 for label in block["labels"] if label != IGNORE_INDEX)
    assert found == expected  # every sample, whole and in order
    assert trained == sum(sum(1 for label in row if label != IGNORE_INDEX)
                          for row in samples["labels"])


def trainer_for(model, dataset, batching_data, tokenizer, tmp_path):
    """A Trainer set up as a run sets it up, to compute losses the way training does."""
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", remove_unused_columns=False,
        per_device_train_batch_size=len(dataset), **training_arguments(batching_data, False),
    )
    return Trainer(model=model, args=args, train_dataset=dataset,
                   data_collator=collator(batching_data, tokenizer))


def first_batch(trainer):
    return next(iter(trainer.get_train_dataloader()))


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_a_packed_batch_has_the_loss_of_the_same_samples_unpacked(
        attention, samples, tokenizer, tiny_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, attn_implementation=attention)
    model.eval()
    packed = pack(samples.remove_columns(LENGTH), 48, tokenizer.pad_token_id)
    packed_trainer = trainer_for(model, packed, data(packing=True), tokenizer, tmp_path)
    unpacked_trainer = trainer_for(model, samples, data(), tokenizer, tmp_path)
    packed_batch, unpacked_batch = first_batch(packed_trainer), first_batch(unpacked_trainer)
    assert "attention_mask" not in packed_batch and packed_batch["input_ids"].shape[1] == 48
    with torch.no_grad():
        packed_loss = packed_trainer.compute_loss(model, packed_batch)
        unpacked_loss = unpacked_trainer.compute_loss(model, unpacked_batch)
        # without restarting positions the samples see each other, and the loss changes
        leaking = packed_trainer.compute_loss(
            model, {k: v for k, v in packed_batch.items() if k != "position_ids"})
    assert packed_loss.item() == pytest.approx(unpacked_loss.item(), abs=1e-4)
    assert abs(leaking.item() - unpacked_loss.item()) > 1e-3


def test_unpacked_batches_are_grouped_by_length(samples, tokenizer, tiny_dir, tmp_path):
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths = [4, 40, 5, 38, 6, 41, 3, 39] * 8
    rows = datasets.Dataset.from_list([
        {"input_ids": [5] * n, "attention_mask": [1] * n, "labels": [5] * n, LENGTH: n}
        for n in lengths
    ])
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)

    def padding(arguments):
        args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none",
                                 remove_unused_columns=False, per_device_train_batch_size=4,
                                 seed=0, **arguments)
        trainer = Trainer(model=model, args=args, train_dataset=rows,
                          data_collator=collator(data(), tokenizer))
        batches = list(trainer.get_train_dataloader())
        return trainer, sum(int((b["labels"] == IGNORE_INDEX).sum()) for b in batches)

    grouped, grouped_padding = padding(training_arguments(data(), False))
    assert isinstance(grouped._get_train_sampler(), LengthGroupedSampler)
    _, random_padding = padding({})
    assert grouped_padding < random_padding / 2


def test_packing_needs_no_length_grouping_and_evaluation_is_asked_for_with_eval_rows():
    assert "train_sampling_strategy" not in training_arguments(data(packing=True), False)
    assert training_arguments(data(), True)["eval_strategy"] == "epoch"


def test_packing_masks_the_first_token_of_a_sample_without_bos(tokenizer):
    # as with a tokenizer that puts nothing before a text: every label of the sample is trained
    rows = [encode_sample(Sample.of_text(t), tokenizer, 48, prefix=[]) for t in TEXTS[:3]]
    assert all(row["labels"][0] == row["input_ids"][0] != tokenizer.bos_token_id for row in rows)
    blocks = pack(datasets.Dataset.from_list(rows), 48, tokenizer.pad_token_id)
    assert len(blocks) == 1
    labels, start = blocks[0]["labels"], 0
    for row in rows:
        end = start + len(row["input_ids"])
        # unpacked, the first token is never predicted; packed, it would be predicted from the
        # previous sample's EOS
        assert labels[start:end] == [IGNORE_INDEX] + row["labels"][1:]
        start = end
