"""The run: load → LoRA → data → Trainer → outputs, as a few plain functions.

Everything here imports torch, transformers, peft or datasets, so nothing in
the recipe schema, the plugin API or the CLI's fast paths imports it.

What a front end (the wizard, a notebook, a scheduler) may use is
:data:`FRONT_END_API`; the rest are the engine's own parts, free to change.
"""

FRONT_END_API = {
    "loraforge.engine.run": ("run", "run_plan", "run_recipe"),
    "loraforge.engine.signals": ("StopToken",),
    "loraforge.engine.resume": ("folder_state",),
    "loraforge.engine.preview": ("build_preview", "sample_text", "stats_table"),
    "loraforge.engine.model": ("model_spec",),
    "loraforge.engine.quiet": ("quiet_libraries",),
}
"""The engine's public functions, by module, for front ends (checked by the tests)."""
