"""The built-in dataset formatters: how a data row becomes training text.

One module per formatter; :mod:`_loraforge_formatters.rows` reads a row's
columns with the errors every formatter should give. A new formatter is a
module with a :class:`~loraforge.components.DatasetFormatter` subclass, added
to ``FORMATTERS`` below.
"""

from __future__ import annotations

from _loraforge_formatters.alpaca import Alpaca
from _loraforge_formatters.chat import Chat
from _loraforge_formatters.prompt_completion import PromptCompletion
from _loraforge_formatters.template import Template
from _loraforge_formatters.text import Text
from loraforge.hookspecs import hookimpl

FORMATTERS = (Text, Template, Alpaca, Chat, PromptCompletion)


@hookimpl
def register_dataset_formatters(register):
    for formatter in FORMATTERS:
        register(formatter)
