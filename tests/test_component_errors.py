"""A plugin's component that raises is reported by plugin and component, never as a bare traceback."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, field_validator

import loraforge.plugins
from loraforge.cli import main
from loraforge.components import DatasetFormatter, RowError, Sample, TrainingCallback
from loraforge.errors import DataError, PluginError
from loraforge.hookspecs import hookimpl
from loraforge.registry import component_errors
from loraforge.testing import write_recipe


class Faulty(DatasetFormatter):
    name = "faulty"

    class Options(BaseModel):
        fail_in: str = "format"

        @field_validator("fail_in")
        @classmethod
        def _maybe_fail(cls, value):
            if value == "Options":
                raise TypeError("a validator that is itself broken")  # pydantic lets it through
            return value

    def __init__(self, options=None):
        super().__init__(options)
        if self.options.fail_in == "__init__":
            raise AttributeError("no such thing")

    def columns(self):
        if self.options.fail_in == "columns":
            raise KeyError("text")
        return {"text"}

    def format(self, row):
        if self.options.fail_in == "format":
            return Sample.of_text(row["missing"])
        return Sample.of_text(row["text"])


class Crashing(TrainingCallback):
    name = "crashing"

    def on_begin(self, run):
        raise ZeroDivisionError("division by zero")


class FaultyPlugin:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Faulty)

    @hookimpl
    def register_callbacks(self, register):
        register(Crashing)


@pytest.fixture
def faulty(register_plugin):
    return register_plugin(FaultyPlugin(), "faulty-plugin")


def formatter(plugins, **options):
    return plugins.registry.create("formatter", "faulty", options, where="data.formatter")


def test_an_unexpected_exception_names_the_plugin_the_component_and_the_method(faulty):
    component = formatter(faulty)
    assert component.plugin_name == "faulty-plugin"
    with pytest.raises(PluginError) as info:
        with component_errors(component, "format"):
            component.format({"text": "hi"})
    assert info.value.where == "plugin 'faulty-plugin'"
    assert info.value.message == (
        "the dataset formatter 'faulty' raised KeyError in format: 'missing'"
    )
    assert isinstance(info.value.__cause__, KeyError)  # kept for --debug


@pytest.mark.parametrize("error", [RowError("bad row", column="text"), DataError("no file")])
def test_errors_meant_for_the_user_pass_through_unchanged(faulty, error):
    with pytest.raises(type(error)) as info:
        with component_errors(formatter(faulty), "format"):
            raise error
    assert info.value is error


@pytest.mark.parametrize("where", ["Options", "__init__"])
def test_a_component_that_fails_as_it_is_created_is_reported(faulty, where):
    with pytest.raises(PluginError, match=f"the dataset formatter 'faulty' raised \\w+ in {where}"):
        formatter(faulty, fail_in=where)


def test_a_formatter_failing_during_a_run_is_reported_by_plugin(faulty, run_recipe):
    with pytest.raises(PluginError) as info:
        run_recipe({"data": {"formatter": "faulty"}})
    assert info.value.where == "plugin 'faulty-plugin'"
    assert "dataset formatter 'faulty' raised KeyError in format" in info.value.message


def test_a_callback_failing_during_a_run_is_reported_by_plugin_and_the_run_goes_on(
        faulty, run_recipe):
    import json

    result = run_recipe({"train": {"callbacks": ["crashing"]}})
    assert result.global_step == 2
    record = json.loads((result.output_dir / "run.json").read_text())
    assert record["status"] == "finished"
    assert record["callback_errors"] == [{
        "plugin": "faulty-plugin", "component": "crashing", "method": "on_begin",
        "error": "ZeroDivisionError: division by zero",
    }]


def test_the_cli_shows_a_failing_component_as_a_panel_and_exits_2(faulty, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.setattr(loraforge.plugins, "_default", faulty)
    monkeypatch.setenv("COLUMNS", "300")
    recipe = write_recipe(tmp_path, {"data": {"formatter": {"name": "faulty",
                                                            "fail_in": "columns"}}})
    assert main(["validate", str(recipe)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err
    assert "Plugin error" in err
    assert "plugin 'faulty-plugin': the dataset formatter 'faulty' raised KeyError in columns" in err


class Careless(DatasetFormatter):
    """Returns what its contract does not allow, as ``returns`` says."""

    name = "careless"

    class Options(BaseModel):
        returns: str = "str"

    def columns(self):
        return None if self.options.returns == "columns-none" else {"text"}

    def format(self, row):
        if self.options.returns == "str":
            return row["text"]
        if self.options.returns == "tuple":
            return ("prompt", row["text"])
        return Sample.of_text(row["text"])


class CarelessPlugin:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Careless)


@pytest.mark.parametrize(("returns", "shown"), [("str", "str"), ("tuple", "tuple")])
def test_a_formatter_returning_no_sample_is_a_plugin_bug_not_a_bad_row(
        register_plugin, run_recipe, returns, shown):
    register_plugin(CarelessPlugin(), "careless-plugin")
    with pytest.raises(PluginError) as info:
        run_recipe({"data": {"formatter": {"name": "careless", "returns": returns}}})
    assert info.value.where == "plugin 'careless-plugin'"
    assert info.value.message.startswith(
        f"the dataset formatter 'careless' returned {shown} from format() (")
    assert "loraforge expects a loraforge.components.Sample" in info.value.message
    assert "bug in the plugin, not in the data" in info.value.hint
    assert "row" not in info.value.message


def test_columns_returning_none_is_a_plugin_error_not_a_type_error(register_plugin,
                                                                    validate_recipe):
    register_plugin(CarelessPlugin(), "careless-plugin")
    with pytest.raises(PluginError) as info:
        validate_recipe({"data": {"formatter": {"name": "careless", "returns": "columns-none"}}})
    assert info.value.where == "plugin 'careless-plugin'"
    assert info.value.message == (
        "the dataset formatter 'careless' returned NoneType from columns() (None); loraforge "
        "expects a set of column names (set() for none)")


class Quitter(DatasetFormatter):
    name = "quitter"

    def columns(self):
        raise SystemExit(3)

    def format(self, row):
        return Sample.of_text(row["text"])


class QuittingCallback(TrainingCallback):
    name = "quitting"

    def on_log(self, step, logs):
        raise SystemExit(5)


class QuittingPlugin:
    @hookimpl
    def register_dataset_formatters(self, register):
        register(Quitter)

    @hookimpl
    def register_callbacks(self, register):
        register(QuittingCallback)


def test_a_component_calling_sys_exit_is_a_plugin_error(register_plugin, validate_recipe):
    register_plugin(QuittingPlugin(), "quitting-plugin")
    with pytest.raises(PluginError) as info:
        validate_recipe({"data": {"formatter": "quitter"}})
    assert info.value.message == "the dataset formatter 'quitter' called sys.exit(3) in columns"


def test_a_callback_calling_sys_exit_is_switched_off_and_the_run_goes_on(register_plugin,
                                                                         run_recipe):
    import json

    register_plugin(QuittingPlugin(), "quitting-plugin")
    result = run_recipe({"train": {"callbacks": ["quitting"]}})
    record = json.loads((result.output_dir / "run.json").read_text())
    assert record["status"] == "finished" and result.global_step == 2
    assert record["callback_errors"][0]["method"] == "on_log"
