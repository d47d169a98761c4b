"""The same fine-tune as loraforge's, written as a plain transformers + peft script.

This is the shape of the classic LoRA tutorials: load the model and tokenizer,
wrap with get_peft_model, tokenize with datasets.map, collate with
DataCollatorForLanguageModeling, train with Trainer. It prints one JSON line
with the training time and the number of tokens trained.

    python benchmarks/plain_peft.py MODEL_DIR DATA.jsonl --steps 200
"""

from __future__ import annotations

import argparse
import json
import time

import datasets
import torch
from peft import LoraConfig, get_peft_model
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    Trainer,
    TrainingArguments,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--output", default="/tmp/plain-peft")
    args = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
        task_type="CAUSAL_LM",
    ))

    data = datasets.load_dataset("json", data_files=args.data, split="train")
    data = data.map(
        lambda row: tokenizer(f"Review: {row['text']} Label: {row['label']}",
                              truncation=True, max_length=args.max_length),
        remove_columns=data.column_names,
    )
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=args.output, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            learning_rate=1e-2, logging_steps=10, report_to="none",
            use_cpu=True, optim="adamw_torch", disable_tqdm=True, seed=42,
            # as loraforge does by default: length-grouped batches, and the final step saved
            train_sampling_strategy="group_by_length", save_strategy="steps", save_steps=args.steps,
        ),
        train_dataset=data,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    )
    started = time.perf_counter()
    result = trainer.train()
    elapsed = time.perf_counter() - started
    tokens_per_epoch = sum(len(ids) for ids in data["input_ids"])
    samples_seen = args.steps * args.batch_size
    tokens = tokens_per_epoch * samples_seen / len(data)
    print(json.dumps({"train_runtime": result.metrics["train_runtime"], "wall": elapsed,
                      "tokens": tokens}))


if __name__ == "__main__":
    main()
