"""Named chat templates, for tokenizers that ship none (LLaMA-2 chat, Baichuan chat models).

Each is a Jinja template in the form transformers' ``apply_chat_template``
takes: ``messages`` of role/content turns, ``bos_token``, ``eos_token`` and
``add_generation_prompt``. Every assistant turn ends with EOS, so a model
trained on a conversation learns where each of its answers stops.
"""

from __future__ import annotations

# LLaMA-2 chat, as Meta's reference code writes it: a system prompt goes inside the first
# [INST] block between <<SYS>> markers; each exchange is "<s>[INST] user [/INST] answer </s>".
LLAMA_2 = (
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set system_message = messages[0]['content'] %}{% set loop_messages = messages[1:] %}"
    "{% else %}{% set system_message = none %}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% set content = message['content'] %}"
    "{% if loop.first and system_message is not none %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + content %}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}"
    "{% endif %}"
    "{% endfor %}"
)

# Baichuan chat models mark turns with reserved pieces of their vocabulary rather than
# with text; a system prompt comes first, unmarked.
BAICHUAN_13B_MARKERS = ("<reserved_102>", "<reserved_103>")  # Baichuan-13B-Chat
BAICHUAN2_MARKERS = ("<reserved_106>", "<reserved_107>")  # Baichuan2-7B/13B-Chat


def baichuan_template(user: str, assistant: str) -> str:
    """The chat template of a Baichuan chat model whose turn markers are ``user``/``assistant``."""
    return (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{ message['content'] }}"
        f"{{% elif message['role'] == 'user' %}}{{{{ '{user}' + message['content'] }}}}"
        "{% elif message['role'] == 'assistant' %}"
        f"{{{{ '{assistant}' + message['content'] + eos_token }}}}"
        "{% endif %}"
        "{% endfor %}"
        f"{{% if add_generation_prompt %}}{{{{ '{assistant}' }}}}{{% endif %}}"
    )


TEMPLATES = {
    "llama-2": LLAMA_2,
    "baichuan": baichuan_template(*BAICHUAN_13B_MARKERS),
    "baichuan2": baichuan_template(*BAICHUAN2_MARKERS),
}
