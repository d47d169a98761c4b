"""The wizard: a recipe built step by step, saved as TOML, and run with a live view.

``loraforge``, ``loraforge new [FILE]`` and ``loraforge edit FILE`` open it.
The steps are in the sidebar, each marked untouched, done or with problems,
and reachable in any order; ctrl+n and ctrl+p go to the next and the
previous one. Every change is checked at once against the recipe schema
and the plugins' option schemas, and each problem shows beside its field.
Training runs as a child process (``loraforge run FILE --events ...``), so
the wizard survives whatever the run hits; the run view follows its events.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ContentSwitcher, Footer, Static

from loraforge.errors import OutputError
from loraforge.tui.draft import Draft
from loraforge.tui.steps.base import Step
from loraforge.tui.steps.data import DataStep
from loraforge.tui.steps.fit import FitStep
from loraforge.tui.steps.lora import LoraStep
from loraforge.tui.steps.model import ModelStep
from loraforge.tui.steps.review import ReviewStep
from loraforge.tui.steps.training import TrainingStep
from loraforge.tui.widgets.component_field import ComponentField
from loraforge.tui.widgets.field_row import FieldRow
from loraforge.tui.widgets.step_list import StepList

LEGEND = "● done\n○ not yet\n✗ to fix"
"""What the sidebar's marks mean: readable without colour."""

STEPS: tuple[type[Step], ...] = (ModelStep, LoraStep, DataStep, TrainingStep, FitStep, ReviewStep)
STEP_ACTIONS = ("next", "back", "save", "save_and_run", "browse")


class Wizard(App):
    """Build, save and run a recipe."""

    CSS_PATH = "styles/wizard.tcss"
    TITLE = "loraforge"
    ENABLE_COMMAND_PALETTE = False  # its ctrl+p is the wizard's "previous step"
    BINDINGS = [
        Binding("ctrl+n", "next", "Next", id="wizard.next", priority=True),
        Binding("ctrl+p", "back", "Back", id="wizard.back", priority=True),
        Binding("ctrl+s", "save", "Save", id="wizard.save", priority=True),
        Binding("ctrl+r", "save_and_run", "Save & run", id="wizard.run", priority=True),
        Binding("ctrl+o", "browse", "Browse", id="wizard.browse"),
        Binding("ctrl+q", "quit_wizard", "Quit", id="wizard.quit", priority=True),
        # before the key reaches a field: text typed right after tab (over SSH it comes in the
        # same read) goes to the next field, not into the one being left
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
    ]

    def __init__(self, draft: Draft, plugins: Any = None, *,
                 on_first_screen: Callable[[], object] | None = None) -> None:
        super().__init__()
        self.draft = draft
        self.plugins = plugins
        """The plugins; without them given, they are loaded once the first screen is painted."""
        self.on_first_screen = on_first_screen
        """Called once the first screen is drawn."""
        self.steps = [cls(draft, plugins) for cls in STEPS]
        self.current = self.steps[0].NAME
        self.run_started: Any = None
        """The child process and its files, once a run is started (the run view follows it)."""
        self.interrupted: BaseException | None = None
        """What a plugin raised instead of loading, for the command line to report."""

    @property
    def samples(self) -> int | None:
        return self.step("data").samples

    def step(self, name: str) -> Any:
        return next(step for step in self.steps if step.NAME == name)

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # a line of its own, not Textual's Header: its icon opens the command palette, off here
        yield Static(self.TITLE, id="title")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield StepList([(s.NAME, s.TITLE) for s in self.steps], id="step-list")
                yield Static(LEGEND, id="legend")
            with Vertical(id="main"):
                with ContentSwitcher(initial=f"step-{self.current}", id="steps"):
                    # the other steps are built when first shown: the first screen comes sooner
                    yield self.step(self.current)
                yield Static("", id="help")
        yield Footer()

    def on_mount(self) -> None:
        where = "new recipe" if self.draft.is_new else "editing"
        self.sub_title = f"{where}: {self.draft.path}"
        # the first screen needs no plugin: it is painted first, and they load right after
        self.call_after_refresh(self._first_screen_drawn)
        if self.plugins is not None:
            self.draft.validate(self.plugins)
        self.show(self.current, focus=False)  # the sidebar has it: the steps are the first thing

    def _first_screen_drawn(self) -> None:
        if self.on_first_screen is not None:
            self.on_first_screen()
        self.load_plugins()

    def load_plugins(self) -> Any:
        """The plugins, loaded now if they are not yet; what did not load is told on screen."""
        if self.plugins is not None:
            return self.plugins
        from loraforge.plugins import PluginInterrupted, Plugins, get_plugins, plugin_warnings

        try:
            self.plugins = get_plugins()
        except PluginInterrupted as exc:
            # a plugin raised KeyboardInterrupt as it was imported: the wizard ends, and the
            # command line names the plugin, as every other command does
            self.interrupted = exc
            self.exit(return_code=130)
            self.plugins = Plugins()  # none: what runs until the exit needs no plugin
        for step in self.steps:
            step.plugins = self.plugins
        for field in self.query(ComponentField):
            field.set_registry(self.plugins.registry)
        for _code, message in plugin_warnings(self.plugins):
            self.notify(message, title="Plugin", severity="warning", timeout=15)
        self.recipe_changed()
        return self.plugins

    def watch_sub_title(self, sub_title: str) -> None:
        for line in self.query("#title").results(Static):  # none until it is composed
            line.update(self.format_title(self.title, sub_title))

    # --- moving between steps ----------------------------------------------------------------

    def show(self, name: str, *, focus: bool = True) -> None:
        step = self.step(name)
        switcher = self.query_one("#steps", ContentSwitcher)
        if not step.is_attached:
            self.load_plugins()  # its forms offer the plugins' components
            mounted = switcher.mount(step)

            async def when_mounted() -> None:
                await mounted  # its widgets are composed: its panels can be filled
                self.show(name, focus=focus)

            self.call_later(when_mounted)
            return
        self.current = name
        step.visited = True
        self.query_one("#help", Static).update("")  # the help of a field on another step
        switcher.current = f"step-{name}"
        self.query_one(StepList).point_at(name)
        self.refresh_state()
        if self.plugins is not None:  # else its facts come once they are loaded
            step.draft_changed()
        if focus:
            self.call_after_refresh(step.focus_first)

    def action_next_field(self) -> None:
        if isinstance(self.focused, StepList):
            self.focused.action_select()  # the highlighted step, at its first field
        else:
            self.screen.focus_next()

    def action_previous_field(self) -> None:
        self.screen.focus_previous()

    def action_next(self) -> None:
        names = [s.NAME for s in self.steps]
        self.show(names[min(len(names) - 1, names.index(self.current) + 1)])

    def action_back(self) -> None:
        names = [s.NAME for s in self.steps]
        self.show(names[max(0, names.index(self.current) - 1)])

    @on(StepList.Picked)
    def _picked(self, event: StepList.Picked) -> None:
        self.show(event.name)

    @on(ReviewStep.Jump)
    def _jump(self, event: ReviewStep.Jump) -> None:
        self.go_to_field(event.field)

    def go_to_field(self, field: str) -> bool:
        """Show the step that has ``field`` (a problem's field path) and focus it."""
        for step in self.steps:
            if any(field == f"{s}.{k}" or field.startswith((f"{s}.{k}.", f"{s}.{k}["))
                   for s, k in step.fields()):
                self.show(step.NAME, focus=False)
                self.call_after_refresh(step.focus_field, field)
                return True
        return False

    # --- changes -----------------------------------------------------------------------------

    @on(FieldRow.Changed)
    def _changed(self, event: FieldRow.Changed) -> None:
        self.draft.set(event.path, event.value)
        self.recipe_changed()

    @on(ComponentField.Chosen)
    def _chosen(self, event: ComponentField.Chosen) -> None:
        self.draft.set_component(event.path, event.name)
        event.field.show_options(self.draft.get(event.path))
        self.recipe_changed()

    @on(FitStep.Apply)
    async def _apply(self, event: FitStep.Apply) -> None:
        for path, value in event.changes.items():
            self.draft.set(path, value)
        for step in self.steps:
            if step.is_attached and step.NAME != "fit" and any(
                    path[:2] in step.fields() for path in event.changes):
                await step.recompose()
        self.recipe_changed()

    @on(FieldRow.Focused)
    def _focused(self, event: FieldRow.Focused) -> None:
        spec = event.row.spec
        self.query_one("#help", Static).update(f"{spec.title}: {spec.help}" if spec.help else "")

    def recipe_changed(self) -> None:
        self.load_plugins()
        self.draft.validate(self.plugins)
        self.refresh_state()
        self.step(self.current).draft_changed()

    def refresh_state(self) -> None:
        for step in self.steps:
            if step.is_attached:
                step.refresh_problems()
        states = {}
        for step in self.steps:
            if step.NAME == self.current:
                states[step.NAME] = "current"
            elif not step.visited:
                states[step.NAME] = "untouched"
            else:
                states[step.NAME] = "problems" if step.problems() else "done"
        self.query_one(StepList).show_states(states)

    # --- saving and running --------------------------------------------------------------------

    def action_save(self) -> bool:
        if not self.draft.validate(self.load_plugins()):
            field, message = self.draft.problems[0]
            self.notify(f"not saved: {field}: {message}", severity="error")
            self.show("review")
            return False
        try:
            path = self.draft.save()
        except OutputError as exc:  # a full disk, a folder that cannot be written
            self.notify(f"{exc.message}. {exc.hint}", title="Not saved", severity="error",
                        timeout=15)
            return False
        self.notify(f"saved {path}")
        self.sub_title = f"editing: {path}"
        return True

    def action_save_and_run(self) -> None:
        if not self.action_save():
            return
        from loraforge.tui.launch import offer_to_start

        offer_to_start(self)

    def on_run_screen_ended(self, message: Any) -> None:
        """The run view saw the run end: keep how, for when it is closed."""
        self.outcome = message.outcome

    def run_closed(self, result: Any = None) -> None:
        """The run view was closed with how the run ended (a ``RunOutcome``): after a
        failure, go to the field the error names."""
        outcome = result if result is not None else getattr(self, "outcome", None)
        error = getattr(outcome, "error", None) or {}
        if getattr(outcome, "status", None) == "failed" and error.get("where"):
            if self.go_to_field(str(error["where"])):
                self.notify(f"{error['where']}: {error.get('message', '')}", title="Fix this",
                            severity="error", timeout=15)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the steps' keys are not for the screens over them (the run view, a dialog)
        if action in STEP_ACTIONS and len(self.screen_stack) > 1:
            return False
        return True

    def action_browse(self) -> None:
        """Pick the model or data path in a folder browser."""
        from loraforge.tui.file_picker import FilePicker

        field = {"model": ("model", "path"), "data": ("data", "path")}.get(self.current)
        if field is None:
            self.notify("Browse picks the model folder (Model step) or the data (Data step).")
            return

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            self.draft.set(field, _relative(path, self.draft.folder))
            self.call_later(self._reload_step)

        self.push_screen(FilePicker(self.draft.folder, folders=field[0] == "model"), chosen)

    async def _reload_step(self) -> None:
        await self.step(self.current).recompose()
        self.recipe_changed()

    def action_quit_wizard(self) -> None:
        leave = getattr(self.screen, "leave_run_view", None)
        if callable(leave):  # the run view asks first whether to stop a live run
            leave(then=self.exit)
            return
        if self.draft.changed:
            from loraforge.tui.confirm_quit import ConfirmQuit

            def answered(choice: str | None) -> None:
                if choice == "save" and self.action_save():
                    self.exit()
                elif choice == "quit":
                    self.exit()

            self.push_screen(ConfirmQuit(), answered)
            return
        self.exit()


def _relative(path: Path, folder: Path) -> str:
    from loraforge.authoring import relative_to

    return relative_to(path.resolve(), folder)
