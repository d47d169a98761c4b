"""The chat formatter: templates (the tokenizer's or a named one), assistant-only training, bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _loraforge_formatters.chat_templates import BAICHUAN2_MARKERS, BAICHUAN_13B_MARKERS
from loraforge.components import RowError, Segment
from loraforge.engine.data import IGNORE_INDEX, encode_sample
from loraforge.errors import DataError
from loraforge.plugins import Plugins

CHATS = Path(__file__).resolve().parents[2] / "recipes" / "data" / "chats.jsonl"
TALK = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4"},
]


@pytest.fixture(scope="module")
def registry():
    plugins = Plugins()
    plugins.load_entry_points(["formatters"])
    return plugins.registry


@pytest.fixture(scope="module")
def tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


def chat(registry, tokenizer, **options):
    formatter = registry.create("formatter", "chat", options, where="data.formatter")
    formatter.set_tokenizer(tokenizer)
    return formatter


def trained(sample):
    return [s.text for s in sample.segments if s.trained]


def test_only_the_assistant_turns_are_trained(registry, tokenizer):
    sample = chat(registry, tokenizer).format({"messages": TALK})
    assert sample.text == tokenizer.apply_chat_template(TALK, tokenize=False).rstrip()
    assert trained(sample) == ["Hello!</s>\n", "4</s>"]
    masked = [s.text for s in sample.segments if not s.trained]
    assert masked == ["<s>system: Be brief.\nuser: Hi there\nassistant: ", "user: 2+2?\nassistant: "]
    encoded = encode_sample(sample, tokenizer, 128)
    ids, labels = encoded["input_ids"], encoded["labels"]
    assert ids.count(tokenizer.bos_token_id) == 1 and ids[-1] == tokenizer.eos_token_id
    answer = tokenizer.decode([i for i, label in zip(ids, labels) if label != IGNORE_INDEX])
    assert answer == "Hello!</s>\n4</s>"


def test_turns_after_the_last_answer_are_left_out(registry, tokenizer):
    longer = TALK + [{"role": "user", "content": "Thanks!"}]
    sample = chat(registry, tokenizer).format({"messages": longer})
    assert "Thanks" not in sample.text and sample.segments[-1] == Segment("4</s>", True)


def test_the_llama_2_template(registry, tokenizer):
    sample = chat(registry, tokenizer, template="llama-2").format({"messages": TALK})
    assert sample.segments == (
        Segment("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi there [/INST]", False),
        Segment(" Hello! </s>", True),
        Segment("<s>[INST] 2+2? [/INST]", False),
        Segment(" 4 </s>", True),
    )


@pytest.mark.parametrize(("template", "markers"), [("baichuan", BAICHUAN_13B_MARKERS),
                                                   ("baichuan2", BAICHUAN2_MARKERS)])
def test_the_baichuan_templates_use_their_reserved_markers(registry, tokenizer, template, markers):
    user, assistant = markers
    sample = chat(registry, tokenizer, template=template).format({"messages": TALK})
    assert sample.segments == (
        Segment(f"Be brief.{user}Hi there{assistant}", False),
        Segment("Hello!</s>", True),
        Segment(f"{user}2+2?{assistant}", False),
        Segment("4</s>", True),
    )


def test_the_baichuan_markers_are_the_baichuan_plugins():
    variants = pytest.importorskip("_loraforge_baichuan.variants")
    for ours, theirs in [(BAICHUAN_13B_MARKERS, variants.BAICHUAN_13B_CHAT_MARKERS),
                         (BAICHUAN2_MARKERS, variants.BAICHUAN2_CHAT_MARKERS)]:
        assert ours == (theirs.user, theirs.assistant)


def test_a_tokenizer_without_a_chat_template_needs_a_named_one(registry, tokenizer):
    bare = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    bare.chat_template = None
    with pytest.raises(DataError) as info:
        chat(registry, bare)
    assert info.value.where == "data.formatter.template"
    assert "'llama-2'" in info.value.hint and "'baichuan2'" in info.value.hint
    assert "[INST]" in chat(registry, bare, template="llama-2").format({"messages": TALK}).text


@pytest.mark.parametrize(("messages", "message"), [
    ([{"role": "user", "content": "Hi"}], "has no assistant turn"),
    ([{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Yo"}], "has the role 'bot'"),
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " "}],
     "turn 2 of column 'messages' is an empty assistant turn"),
    ([{"role": "user"}, {"role": "assistant", "content": "Yo"}], "turn 1 of column 'messages' is not"),
    ("not json", "holds text that is not JSON"),
    ({"role": "user"}, "holds dict, not a list of turns"),
    (None, "column 'messages' is missing or empty (null)"),
])
def test_a_bad_conversation_is_a_row_error_naming_the_column(registry, tokenizer, messages, message):
    with pytest.raises(RowError) as info:
        chat(registry, tokenizer).format({"messages": messages})
    assert message in str(info.value) and info.value.column == "messages"


def test_a_conversation_stored_as_json_text_is_read(registry, tokenizer):
    formatter = chat(registry, tokenizer, column="turns")
    assert formatter.columns() == {"turns"}
    assert trained(formatter.format({"turns": json.dumps(TALK)})) == ["Hello!</s>\n", "4</s>"]


def test_a_template_that_rewrites_earlier_turns_is_reported(registry, tokenizer):
    odd = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    # marks the last turn, so a turn renders differently once another follows it
    odd.chat_template = "{% for m in messages %}{% if loop.last %}>{% endif %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(RowError, match="renders earlier turns differently"):
        chat(registry, odd).format({"messages": TALK})


def test_the_shipped_chats_fit_the_tiny_tokenizers_template(registry, tokenizer):
    formatter = chat(registry, tokenizer)
    rows = [json.loads(line) for line in CHATS.read_text(encoding="utf-8").splitlines()]
    assert 250 <= len(rows) <= 400
    assert len({json.dumps(r) for r in rows}) == len(rows)
    turns = [len([t for t in r["messages"] if t["role"] == "assistant"]) for r in rows]
    assert {1, 2} <= set(turns)
    assert any(r["messages"][0]["role"] == "system" for r in rows)
    for row in rows:
        answers = [t["content"] for t in row["messages"] if t["role"] == "assistant"]
        assert [t.rstrip().removesuffix("</s>") for t in trained(formatter.format(row))] == answers
