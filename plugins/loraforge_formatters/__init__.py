"""The built-in dataset formatters: how a data row becomes training text.

One module per formatter; :mod:`loraforge_formatters.rows` reads a row's
columns with the errors every formatter should give. A new formatter is a
module with a :class:`~loraforge.components.DatasetFormatter` subclass, added
to ``FORMATTERS`` below.
"""

from __future__ import annotations

from loraforge.hookspecs import hookimpl
from loraforge_formatters.alpaca import Alpaca
from loraforge_formatters.chat import Chat
from loraforge_formatters.prompt_completion import PromptCompletion
from loraforge_formatters.template import Template
from loraforge_formatters.text import Text

FORMATTERS = (Text, Template, Alpaca, Chat, PromptCompletion)


@hookimpl
def register_dataset_formatters(register):
    for formatter in FORMATTERS:
        register(formatter)
