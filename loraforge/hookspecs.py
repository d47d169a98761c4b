"""The hooks a loraforge plugin implements, and the version of that contract.

A plugin is a module (or object) registered under the entry-point group
``loraforge``. It implements any of the four hooks below with
``@loraforge.hookimpl``; each hook receives a ``register`` callable and calls
it once per component class it provides::

    from loraforge import hookimpl
    from loraforge.components import DatasetFormatter, Sample

    LORAFORGE_API = ">=1.0,<2"

    class Shout(DatasetFormatter):
        name = "shout"

        def format(self, row):
            return Sample.of_text(row["text"].upper())

    @hookimpl
    def register_dataset_formatters(register):
        register(Shout)

Components are referred to by ``name`` in recipes; when two plugins give
components of one kind the same name, a recipe names the one it means as
``plugin:name`` (the bare name is refused, naming both). This module imports neither torch nor
textual, so a plugin's registration costs nothing until a run needs it.

The contract is versioned by :data:`API_VERSION`; docs/plugins/hooks.md is
the reference, and a test keeps it in step with this module.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("loraforge")
hookimpl = pluggy.HookimplMarker("loraforge")

API_VERSION = "1.1"
"""The version of the plugin contract: these hooks, the component base classes
in :mod:`loraforge.components` and the values they exchange.

``MAJOR.MINOR``. The minor number grows when something is added that existing
plugins can ignore (a hook, a component method with a default, a field of
:class:`~loraforge.components.RunInfo`). The major number grows when something
a plugin may rely on is removed or changes meaning (a hook's arguments, a
method's signature or return value): plugins written for another major
version are not expected to work.
"""

API_ATTRIBUTE = "LORAFORGE_API"
"""The module attribute in which a plugin states the API versions it supports,
as a version range (``">=1.0,<2"``). loraforge skips a plugin whose range
excludes :data:`API_VERSION`, saying why; a plugin that states none is loaded."""


@hookspec
def register_model_loaders(register: Callable[[type], None]) -> None:
    """Register model loaders: the code that turns ``[model]`` into a model and tokenizer.

    Called once per process, when loraforge first needs its registry of
    components (``loraforge run``, ``validate``, ``plugins``), before any
    model is loaded. Keep it cheap: import torch or transformers inside
    ``load``, not at module level.

    :param register: call ``register(cls)`` with each
        :class:`loraforge.components.ModelLoader` subclass the plugin provides
        (the class, not an instance). The class's ``name`` is what a recipe's
        ``model.loader`` refers to; its ``Options`` pydantic model validates
        the loader's options.

    Return nothing. A loader's ``handles(config)`` lets loraforge pick it
    automatically when a recipe names no loader; ``load(spec)`` must return a
    :class:`loraforge.components.LoadedModel` and must not run remote code
    unless ``spec.trust_remote_code`` is true.
    """


@hookspec
def register_dataset_formatters(register: Callable[[type], None]) -> None:
    """Register dataset formatters: the code that turns one data row into training text.

    Called once per process, when loraforge first needs its registry of
    components.

    :param register: call ``register(cls)`` with each
        :class:`loraforge.components.DatasetFormatter` subclass the plugin
        provides. Recipes refer to it as ``data.formatter``; its ``Options``
        model validates the other keys of that table.

    Return nothing. A formatter's ``columns()`` names the columns every row
    must have (checked before training starts); ``format(row)`` returns a
    :class:`loraforge.components.Sample`, whose segments marked as not trained
    (a prompt) are masked out of the loss. It raises
    :class:`loraforge.components.RowError` for a row it cannot use, naming the
    column, so the user is told the file, row and column. ``format`` is called
    once per row and must not depend on the order of rows.
    """


@hookspec
def register_target_selectors(register: Callable[[type], None]) -> None:
    """Register target-module selectors: the code that decides where LoRA layers go.

    Called once per process, when loraforge first needs its registry of
    components.

    :param register: call ``register(cls)`` with each
        :class:`loraforge.components.TargetSelector` subclass the plugin
        provides. Recipes refer to it as ``lora.targets``.

    Return nothing. A selector's ``select(model, defaults)`` receives the
    loaded model and the loader's default targets, and returns module names
    (a leaf name such as ``q_proj`` or a full dotted name); loraforge checks
    every name against the model before LoRA is applied. It must not change
    the model.
    """


@hookspec
def register_callbacks(register: Callable[[type], None]) -> None:
    """Register training callbacks: code told about a run's events.

    Called once per process, when loraforge first needs its registry of
    components.

    :param register: call ``register(cls)`` with each
        :class:`loraforge.components.TrainingCallback` subclass the plugin
        provides. Recipes list them in ``train.callbacks``.

    Return nothing. A callback's ``on_begin``, ``on_log``, ``on_evaluate``,
    ``on_save`` and ``on_end`` methods are called on the main process only;
    they must not change the training state, and should return quickly: the
    training loop waits for them.
    """
