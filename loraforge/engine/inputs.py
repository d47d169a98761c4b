"""Checking a bound recipe's inputs without loading a model: what ``loraforge validate`` adds to binding."""

from __future__ import annotations

from loraforge.engine.data import check_columns
from loraforge.engine.sources import load_splits
from loraforge.modelfiles import check_weight_files
from loraforge.plan import Plan, missing_model_dir


def check_inputs(plan: Plan) -> None:
    """Check the local model folder and its weight files, then the data (:func:`check_data`)."""
    recipe = plan.recipe
    missing = missing_model_dir(recipe)
    if missing is not None:
        raise missing
    if recipe.model.path and recipe.input_path(recipe.model.path).is_dir():
        check_weight_files(recipe.input_path(recipe.model.path))
    check_data(plan)


def check_data(plan: Plan) -> None:
    """Read the data and check the formatter's columns are there (no model is loaded)."""
    splits = load_splits(plan.recipe)
    for rows in (splits.train, splits.eval):
        if rows is not None:
            check_columns(rows.dataset, plan.formatter, rows.name)
