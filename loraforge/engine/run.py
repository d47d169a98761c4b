"""One run of a recipe, from its output directory to its saved adapter, and the one place it ends.

A run is driven the same way from every front end::

    from loraforge.engine.run import run
    from loraforge.engine.signals import StopToken

    stop = StopToken()            # stop.stop() from any thread ends it with a checkpoint
    result = run(recipe, reporter=my_reporter, callbacks=[my_callback], stop=stop)

:func:`run_plan` is the run itself, a short sequence of named steps; each
step is a phase (:data:`loraforge.events.PHASES`) whose start and end are
reported. The run owns its record (run.json) from the moment it has claimed
its output directory, and every way it can end (finished, stopped by a
signal or the stop token, failed in any phase) closes that record, sends
``on_end`` to the callbacks that began and reports ``run_ended``; then the
error, if any, goes on to the caller.

Everything here imports torch, transformers, peft or datasets, inside the
steps that need them.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loraforge.components import RunInfo, TrainingCallback
from loraforge.engine import checkpoints, outputs
from loraforge.engine.dispatch import RunEvents
from loraforge.engine.environment import is_main_process
from loraforge.engine.quiet import quiet_libraries
from loraforge.engine.record import RunRecord
from loraforge.engine.signals import RunInterrupted, StopToken
from loraforge.errors import LoraforgeError, OutputError
from loraforge.events import (
    RUN_EVENTS_FILE,
    Message,
    PhaseFinished,
    PhaseStarted,
    Progress,
    RunEnded,
    RunStarted,
    RunWarning,
    error_fields,
)
from loraforge.plan import Plan, bind
from loraforge.plugins import Plugins, get_plugins, plugin_warnings
from loraforge.recipe import Recipe, remote_code_warning
from loraforge.reporting import (
    JsonLinesReporter,
    Reporter,
    Reporters,
    current_reporter,
    reporting_to,
)

EVENT_LOG = RUN_EVENTS_FILE


@dataclass
class RunResult:
    """What a finished run reports."""

    output_dir: Path
    global_step: int
    train_loss: float
    trainable_parameters: int
    runtime_s: float
    model: Any = field(default=None, repr=False)
    """The trained peft model, still in memory."""
    tokenizer: Any = field(default=None, repr=False)
    eval_loss: float | None = None


def run(recipe: Recipe | Plan, *, reporter: Reporter | None = None,
        callbacks: Sequence[TrainingCallback] = (), stop: StopToken | None = None,
        plugins: Plugins | None = None, overwrite: bool = False, resume: bool = False,
        force_resume: bool = False) -> RunResult:
    """Train a LoRA adapter as ``recipe`` says and save it in the output directory.

    ``recipe`` may also be a :class:`~loraforge.plan.Plan` already bound
    (its components configured by the caller). ``reporter`` gets every event
    (by default the process's reporter: log lines on standard error);
    ``callbacks`` are told what the recipe's callbacks are told; ``stop``
    ends the run when asked, from any thread. Called in the main thread,
    SIGINT and SIGTERM stop it through the same token. A run can be called
    from a worker thread, and several one after another in one process.

    ``resume`` continues from the newest complete checkpoint, if any;
    ``force_resume`` even when the recipe's training settings or the data
    changed since. Raises :class:`~loraforge.engine.signals.RunInterrupted`
    when stopped, a :class:`~loraforge.errors.LoraforgeError` for anything
    the user can fix, and whatever else went wrong, each after the run is
    closed.
    """
    return run_plan(recipe, reporter=reporter, callbacks=callbacks, stop=stop, plugins=plugins,
                    overwrite=overwrite, resume=resume, force_resume=force_resume)


def run_recipe(recipe: Recipe | Plan, *, plugins: Plugins | None = None, overwrite: bool = False,
               resume: bool = False, force_resume: bool = False, **kwargs: Any) -> RunResult:
    """:func:`run`, under the name earlier releases gave it."""
    return run(recipe, plugins=plugins, overwrite=overwrite, resume=resume,
               force_resume=force_resume, **kwargs)


def run_plan(plan: Plan | Recipe, **options: Any) -> RunResult:
    """The steps of a run, in order (``options`` as :func:`run` takes them).

    Each step reports its phase; the run stops between them if asked, and
    however it ends, it is closed (:meth:`Run.end_early` for every way but
    finishing).
    """
    with lifecycle(plan, **options) as current:
        current.claim_output_dir()
        bound = current.resolve_components()
        splits = current.read_data(bound)
        loaded = current.load_model(bound)
        prepared = current.apply_lora(bound, loaded)
        data = current.tokenize(bound, splits, prepared)
        session = current.train(bound, prepared, data)
        current.evaluate(session, data)
        return current.save(bound, prepared, session)


@contextmanager
def lifecycle(plan: Plan | Recipe, *, reporter: Reporter | None = None,
              callbacks: Sequence[TrainingCallback] = (), stop: StopToken | None = None,
              plugins: Plugins | None = None, overwrite: bool = False, resume: bool = False,
              force_resume: bool = False) -> Iterator[Run]:
    """The run's surroundings: its reporter current, signals turned into stop requests,
    libraries quiet; and, whatever raises inside, the run closed before the error goes on."""
    stop = stop or StopToken()
    events = RunEvents(Reporters([reporter or current_reporter()]))
    stop.on_request(lambda message: events.report(RunWarning(message, code="stop")))
    with quiet_libraries(), reporting_to(events), stop.listening():
        current = Run(plan, events=events, stop=stop, plugins=plugins,
                      callbacks=list(callbacks), overwrite=overwrite,
                      resume=resume or force_resume, force_resume=force_resume)
        try:
            yield current
        except BaseException as exc:
            current.end_early(exc)
            raise
        finally:
            events.reporter.close()
            if current.lock is not None:
                current.lock.release()


class Run:
    """One run's state while its steps go; :func:`run_plan` calls the steps in order."""

    def __init__(self, plan: Plan | Recipe, *, events: RunEvents, stop: StopToken,
                 plugins: Plugins | None, callbacks: list[TrainingCallback], overwrite: bool,
                 resume: bool, force_resume: bool) -> None:
        self.bound = plan if isinstance(plan, Plan) else None
        self.recipe: Recipe = plan.recipe if isinstance(plan, Plan) else plan
        self.events = events
        self.stop = stop
        self.plugins = plugins or get_plugins()
        self.extra_callbacks = callbacks
        self.overwrite, self.resume, self.force_resume = overwrite, resume, force_resume
        self.main = is_main_process()
        self.started = time.time()
        self.phase_name: str | None = None
        self.record: RunRecord | None = None
        self.start: Any = None
        self.args: Any = None
        self.session: Any = None
        self.result: Any = None
        self.lock: Any = None

    # --- the steps -------------------------------------------------------------------------

    def claim_output_dir(self) -> None:
        """Decide where the run starts (afresh, or from a checkpoint) and open its record.

        Refusals here (a finished run in the folder, a checkpoint trained
        with other settings) leave the folder as it was. From here on, the
        run's end is recorded in run.json.
        """
        from loraforge.engine import batches
        from loraforge.engine.train import check_device, training_arguments

        recipe = self.recipe
        with self.phase("output") as details:
            check_device(recipe.train)
            evaluate = recipe.data.eval_split is not None or recipe.data.eval_fraction is not None
            # creating the arguments starts the process group under torchrun, which
            # preparing the output directory (process 0 first) relies on
            self.args = training_arguments(recipe.train, outputs.output_path(recipe),
                                           **batches.training_arguments(recipe.data,
                                                                        evaluate=evaluate))
            if self.main:
                self.lock = lock_output_folder(recipe)
            versions = ({n: i.version for n, i in self.bound.plugin_info.items()}
                        if self.bound else {n: i.version for n, i in self.plugins.info.items()})
            self.start, fields = open_run(recipe, versions, self.args,
                                          overwrite=self.overwrite, resume=self.resume,
                                          force=self.force_resume)
            self.record = RunRecord(self.start.output_dir, fields, write=self.main)
            self.events.record = self.record
            if self.main:
                log = (self.start.output_dir / EVENT_LOG).open("a", encoding="utf-8")
                self.events.reporter.add(JsonLinesReporter(log, close=True))
            self.events.report(RunStarted(
                str(self.start.output_dir), recipe.source, self.start.step, os.getpid(),
                fields.get("loraforge") or "",
            ))
            self.record.save()
            if self.start.checkpoint is None and self.main:
                outputs.write_atomic(self.start.output_dir / "recipe.toml",
                                    recipe.to_toml(folder=self.start.output_dir))
            if self.start.note:
                self.say(self.start.note)
            details["output_dir"] = str(self.start.output_dir)
            details["resumed_from_step"] = self.start.step

    def resolve_components(self) -> Plan:
        """Bind the recipe to the plugins' components; warn of plugins that did not load."""
        with self.phase("plugins") as details:
            for code, message in plugin_warnings(self.plugins):
                self.events.report(RunWarning(message, code=code))
            plan = self.bound or bind(self.recipe, self.plugins)
            if self.recipe.model.trust_remote_code:
                self.events.report(RunWarning(remote_code_warning(self.recipe),
                                              code="remote_code", where="model.trust_remote_code"))
            self.events.callbacks = [*plan.callbacks, *self.extra_callbacks]
            self.record.update(components=plan.components)
            self.record.save()
            details["components"] = plan.components
        return plan

    def read_data(self, plan: Plan) -> Any:
        """Read the rows and check the formatter's columns, before any model is loaded."""
        from loraforge.engine.data import check_columns
        from loraforge.engine.sources import load_splits

        with self.phase("data") as details:
            splits = load_splits(self.recipe)
            check_columns(splits.train.dataset, plan.formatter, splits.train.name)
            details["train_rows"] = len(splits.train.dataset)
            if splits.eval is not None:
                check_columns(splits.eval.dataset, plan.formatter, splits.eval.name)
                details["eval_rows"] = len(splits.eval.dataset)
        return splits

    def load_model(self, plan: Plan) -> Any:
        """Load the base model through its loader (converting or quantizing it as it says)."""
        from transformers import set_seed

        from loraforge.engine.model import load_base

        loader = plan.components["model.loader"]
        with self.phase("model", f"loading model with the {loader} loader") as details:
            # a loader's own random draws, if any, repeat too; the adapter's initial weights
            # are seeded again right before LoRA is applied
            set_seed(self.recipe.train.seed)
            loaded = load_base(plan)
            details["quantized"] = loaded.quantized
            details["quantization"] = self.recipe.model.quantization
        return loaded

    def apply_lora(self, plan: Plan, loaded: Any) -> Any:
        """Choose and check the target modules, and wrap the model with LoRA."""
        from loraforge.engine.model import apply_lora

        with self.phase("lora") as details:
            prepared = apply_lora(plan, loaded)
            lora = self.recipe.lora
            share = prepared.trainable_parameters / max(1, prepared.total_parameters)
            details.update(targets=prepared.targets, r=lora.r,
                           trainable_parameters=prepared.trainable_parameters,
                           total_parameters=prepared.total_parameters, message=(
                               f"LoRA r={lora.r} on {', '.join(prepared.targets)}: "
                               f"{prepared.trainable_parameters:,} trainable of "
                               f"{prepared.total_parameters:,} parameters ({100 * share:.2f}%)"))
            from loraforge.engine.fingerprints import base_model_record

            self.record.update(targets=prepared.targets, quantized=prepared.quantized,
                               trainable_parameters=prepared.trainable_parameters,
                               total_parameters=prepared.total_parameters,
                               # chat, eval and merge check that the base is still this one
                               base_model=base_model_record(prepared.model))
        return prepared

    def tokenize(self, plan: Plan, splits: Any, prepared: Any) -> Any:
        """Format and tokenize every row (cached), and pack the samples if the recipe asks."""
        from loraforge.engine.pipeline import prepare

        def progress(split: str, done: int, total: int) -> None:
            self.events.report(Progress("tokenize", done, total, f"{split} rows"))

        with self.phase("tokenize") as details:
            data = prepare(splits, plan.formatter, prepared.tokenizer, self.recipe.data, progress)
            for line in data.log_lines(splits.train.name):
                self.say(line)
            self.record.update(data=data.record())
            details.update(data.record())
        return data

    def train(self, plan: Plan, prepared: Any, data: Any) -> Any:
        """Train with transformers' Trainer, from the checkpoint if the run resumes."""
        from loraforge.engine import batches

        with self.phase("train") as details:
            self.session = new_session(self, prepared, data.train)
            self.result = self.session.train(
                prepared.model, prepared.tokenizer, data.train,
                collator=batches.collator(self.recipe.data, prepared.tokenizer),
                eval_dataset=data.eval)
            details.update(global_step=self.result.global_step,
                           train_loss=float(self.result.training_loss))
        return self.session

    def evaluate(self, session: Any, data: Any) -> None:
        """The held-out loss of the final adapter, if the recipe holds out data."""
        if data.eval is None:
            return
        with self.phase("evaluate") as details:
            evaluated = evaluate_final(session.trainer)
            self.record.update(**evaluated)
            details["eval_metrics"] = evaluated["eval_metrics"]

    def save(self, plan: Plan, prepared: Any, session: Any) -> RunResult:
        """Save the adapter and tokenizer, and close the record as finished."""
        output_dir = self.start.output_dir
        with self.phase("save") as details:
            if session.trainer.is_world_process_zero():
                outputs.save_adapter(prepared.model, prepared.tokenizer, output_dir)
            details["output_dir"] = str(output_dir)
        result = self.result
        evaluations = self.record.get("eval_metrics") or {}
        finished = RunResult(
            output_dir=output_dir,
            global_step=result.global_step,
            train_loss=float(result.training_loss),
            trainable_parameters=prepared.trainable_parameters,
            runtime_s=round(time.time() - self.started, 2),
            model=prepared.model,
            tokenizer=prepared.tokenizer,
            eval_loss=evaluations.get("eval_loss"),
        )
        self.record.close(
            "finished", samples=len(session.trainer.train_dataset),
            global_step=finished.global_step, train_loss=finished.train_loss,
            runtime_s=finished.runtime_s, trainer_metrics=result.metrics,
        )
        summary = {"status": "finished", "output_dir": str(output_dir),
                   "global_step": finished.global_step, "train_loss": finished.train_loss,
                   "runtime_s": finished.runtime_s}
        self.events.end(summary)
        if self.main:
            from loraforge.after.report import loss_png_after_run

            problem = loss_png_after_run(output_dir)  # a plot that fails never fails the run
            if problem is not None:
                self.say(problem)
        self.events.report(RunEnded("finished", phase="save", global_step=finished.global_step,
                                    runtime_s=finished.runtime_s, output_dir=str(output_dir),
                                    train_loss=finished.train_loss, epoch=session.epoch))
        return finished

    # --- how a run ends early ----------------------------------------------------------------

    def end_early(self, exc: BaseException) -> None:
        """Close the run after ``exc`` stopped it: record, ``on_end``, ``run_ended``."""
        interrupted = isinstance(exc, (RunInterrupted, KeyboardInterrupt))
        status = "interrupted" if interrupted else "failed"
        step = self.session.global_step if self.session is not None else (
            self.start.step if self.start is not None else 0)
        saved = checkpoints.newest(self.start.output_dir) if self.start is not None else None
        runtime = round(time.time() - self.started, 2)
        summary: dict[str, Any] = {"status": status, "global_step": step, "runtime_s": runtime,
                                   "checkpoint": str(saved.path) if saved else None}
        error = None if interrupted else error_fields(exc)
        if error is not None:
            summary["error"] = error["message"]
        if self.record is not None and not self.record.closed:
            self.record.close(status, error=None if interrupted else exc, global_step=step,
                              runtime_s=runtime, checkpoint=summary["checkpoint"],
                              failed_phase=None if interrupted else self.phase_name)
        self.events.end(summary)
        self.events.report(RunEnded(
            status, phase=self.phase_name, global_step=step, runtime_s=runtime,
            epoch=self.session.epoch if self.session is not None else None,
            output_dir=str(self.start.output_dir) if self.start is not None else None,
            checkpoint=summary["checkpoint"], error=error,
            signal=getattr(exc, "signal_name", "SIGINT" if interrupted else None),
        ))

    # --- reporting -------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.events.report(Message(text, phase=self.phase_name))

    @contextmanager
    def phase(self, name: str, message: str = "") -> Iterator[dict[str, Any]]:
        """Report the phase's start and end; the block fills in the end's details.

        A ``message`` key among the details becomes the end's message. After
        the phases before training, a stop request ends the run here.
        """
        self.phase_name = name
        began = time.monotonic()
        self.events.report(PhaseStarted(name, message))
        details: dict[str, Any] = {}
        try:
            yield details
        except Exception as exc:
            failure = write_failure(exc, self.start.output_dir if self.start else None)
            if failure is None:
                raise
            raise failure from exc
        said = details.pop("message", "")
        self.events.report(PhaseFinished(name, round(time.monotonic() - began, 3), said,
                                         details))
        if self.stop.requested and name not in ("train", "evaluate", "save"):
            saved = checkpoints.newest(self.start.output_dir) if self.start else None
            raise RunInterrupted(self.stop.signum, self.start.step if self.start else 0,
                                 saved.path if saved else None,
                                 self.start.output_dir if self.start else Path("."))


# errors of writing a file that say something the user can act on
WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file is larger than this system allows", errno.EROFS: "the file system "
    "is read-only", errno.EACCES: "permission denied", errno.EPERM: "permission denied",
    errno.ENAMETOOLONG: "the path is too long for the file system",
    errno.EIO: "the disk refused the write",
}


def os_error_of(exc: BaseException) -> OSError | None:
    """The operating system's refusal behind ``exc``, if it is one.

    Not every library raises OSError for it: the tokenizers library's Rust
    code says ``... (os error 28)``, torch's writer ``file write failed``.
    """
    import re

    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, LoraforgeError):
        return None
    text = str(exc)
    found = re.search(r"\(os error (\d+)\)", text)
    if found:
        return OSError(int(found.group(1)), text)
    if "No space left on device" in text:
        return OSError(errno.ENOSPC, text)
    if "file write failed" in text:  # torch.save: the disk refused, but not said why
        return OSError(errno.EIO, text)
    cause = exc.__cause__ or exc.__context__
    return os_error_of(cause) if cause is not None and cause is not exc else None


def write_failure(exc: BaseException, output_dir: Path | None) -> LoraforgeError | None:
    """A clear error for a file that could not be written (a full disk...), or None for others."""
    exc = os_error_of(exc)
    reason = WRITE_ERRORS.get(exc.errno) if exc is not None else None
    if reason is None:
        return None
    what = exc.filename or (str(output_dir) if output_dir else "a file")
    where = Path(what).parent if exc.filename else output_dir
    free = ""
    if where is not None and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f" ({shutil.disk_usage(where).free / 1e6:,.0f} MB free there now)"
        except OSError:
            pass
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        fix = "Free some space, or choose an output.dir on another disk (--set output.dir=...)."
    elif exc.errno == errno.ENAMETOOLONG:
        fix = "Choose a shorter output.dir (--set output.dir=runs/first)."
    else:
        fix = "Choose an output.dir you can write to (--set output.dir=runs/first)."
    resume = (" After that, continue the run with --resume: its newest complete checkpoint "
              "is intact." if output_dir is not None else "")
    return OutputError(f"could not write {what}: {reason}{free}", where="output.dir",
                       hint=fix + resume)


def lock_output_folder(recipe: Recipe) -> Any:
    """Check the output folder may be written, create it, and lock it for this run."""
    from loraforge.engine.lock import FolderLock
    from loraforge.engine.resume import check_output_folder

    folder = outputs.output_path(recipe)
    check_output_folder(recipe, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return FolderLock(folder).acquire()
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror}", where="output.dir",
                          hint="Choose a folder you can write to, on a disk with room, with a "
                          "path the file system accepts.") from None


def evaluate_final(trainer: Any) -> dict[str, Any]:
    """The held-out loss after each epoch, and of the final adapter if no epoch ended on it."""
    def evaluations() -> list[dict[str, Any]]:
        return [entry for entry in trainer.state.log_history if "eval_loss" in entry]

    if not evaluations() or evaluations()[-1].get("step") != trainer.state.global_step:
        trainer.evaluate()  # on every process: evaluation is collective under torchrun
    return {"evaluations": evaluations(), "eval_metrics": evaluations()[-1]}


def open_run(recipe: Recipe, plugin_versions: dict[str, str | None], args: Any, *,
             overwrite: bool, resume: bool,
             force: bool = False) -> tuple[Any, dict[str, Any]]:
    """Prepare the output directory (process 0 first, the others after it); run.json's first fields.

    A checkpoint to resume from must have been trained with the same
    settings (unless ``force``): that is checked here, before the model is
    loaded, so a refusal takes seconds and leaves the folder as it was; the
    data is checked once it is tokenized (:func:`new_session`).
    """
    from loraforge.engine.environment import describe_environment
    from loraforge.engine.fingerprints import settings_hash, training_settings
    from loraforge.engine.resume import prepare_output_dir

    main = is_main_process()
    with args.main_process_first(local=False, desc="preparing the output directory"):
        start = prepare_output_dir(recipe, overwrite=overwrite, resume=resume, write=main)
    settings = training_settings(recipe, args.world_size)
    if start.checkpoint is not None:
        start.changes = checkpoints.check_settings(start.checkpoint, settings, force=force)
    fields: dict[str, Any] = {
        "status": "running",
        "recipe": recipe.source,
        "recipe_hash": settings_hash(settings),
        "data_fingerprint": None,
        "components": {},
        "started_at": outputs.now(),
        "finished_at": None,
        "resumed_from": None,
        **describe_environment(plugin_versions, args.world_size),
    }
    if start.checkpoint is not None:
        previous = start.previous_run or {}
        fields["resumed_from"] = {"step": start.step, "checkpoint": str(start.checkpoint.path)}
        fields["first_started_at"] = previous.get("first_started_at", previous.get("started_at"))
    return start, fields


def new_session(current: Run, prepared: Any, dataset: Any) -> Any:
    """The training session for ``dataset``; refuses a checkpoint trained on other data.

    A resumed run writes its recipe.toml only now, once its checkpoint has
    been found to fit, so that a refused resume keeps the earlier recipe.
    """
    from loraforge.engine.checkpoints import TrainingStamp
    from loraforge.engine.fingerprints import data_fingerprint, settings_hash, training_settings
    from loraforge.engine.session import TrainingSession

    recipe, start, args = current.recipe, current.start, current.args
    settings = training_settings(recipe, args.world_size)
    stamp = TrainingStamp(
        recipe_hash=settings_hash(settings), settings=settings,
        data_fingerprint=data_fingerprint(dataset), samples=len(dataset),
        world_size=args.world_size,
    )
    current.record.update(data_fingerprint=stamp.data_fingerprint)
    if start.checkpoint is not None:
        changes = start.changes + checkpoints.check_data(start.checkpoint, stamp,
                                                         force=current.force_resume)
        if current.main:
            outputs.write_atomic(start.output_dir / "recipe.toml",
                                    recipe.to_toml(folder=start.output_dir))
        current.say(f"resuming from {start.checkpoint.path} (step {start.step})")
        if changes:
            current.say(f"--force-resume: continuing although {'; '.join(changes)}")
    current.record.save()
    info = RunInfo(
        output_dir=str(start.output_dir),
        max_steps=recipe.train.max_steps or 0,
        epochs=recipe.train.epochs,
        trainable_parameters=prepared.trainable_parameters,
        total_parameters=prepared.total_parameters,
        resumed_from_step=start.step,
        recipe=recipe, model=prepared.model, tokenizer=prepared.tokenizer, stop=current.stop,
    )
    return TrainingSession(recipe, args, start, stamp, info, current.events, current.stop,
                           samples=len(dataset))
