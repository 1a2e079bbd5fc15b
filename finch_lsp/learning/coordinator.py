"""LearningCoordinator: feedback -> buffer -> trainer child -> adapter -> hot swap.

It owns the feedback service, the trainer child, the adapter store of the active base model
and the teacher bridge, and answers the learning commands of docs/protocol.md. Model work
(swaps) goes through the inference engine, so a swap always falls between two generations.
It is built with the server and opened at ``initialize``, once the data dir is known.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from lsprotocol import types

from finch_lsp.learning.adapter_check import param_shapes, validate_adapter_dir
from finch_lsp.learning.adapters import AdapterInfo, AdapterStore, activate, adapter_count, clean_staging, deactivate
from finch_lsp.learning.child import TrainerProcess, TrainingState, serving_threads
from finch_lsp.learning.feedback import FeedbackService, mark_training
from finch_lsp.learning.implicit import observe
from finch_lsp.learning.jobs import TrainConfig, TrainExample, TrainJob
from finch_lsp.learning.store import Example, FeedbackStore, StoreRefused
from finch_lsp.paths import tighten
from finch_lsp.learning.teacher.bridge import TeacherBridge
from finch_lsp.progress import ProgressReporter
from finch_lsp.protocol import FeedbackArgs, InvalidArguments

if TYPE_CHECKING:
    from finch_lsp.documents.suggestions import Suggestion
    from finch_lsp.host import Host

log = logging.getLogger(__name__)

HELD_OUT_MAX = 8
FALLBACK_TRIES = 20  # versions tried at start when the current one is refused (each refusal is cheap)


class LearningCoordinator:
    """Everything between a rating and a live adapter."""

    def __init__(self, host: "Host") -> None:
        self.host = host
        self.data_dir: Path | None = None
        self.feedback: FeedbackService | None = None
        self.trainer: TrainerProcess | None = None
        self.teacher = TeacherBridge(host)
        self.adapters: AdapterStore | None = None
        self._base_shapes: dict[str, tuple] = {}
        self._progress = None

    def open(self, data_dir: Path) -> None:
        """Start on ``data_dir`` (at ``initialize``): private files, the feedback store and the trainer.

        Staging dirs a killed trainer left are removed here, whether or not a model loads.
        """
        self.data_dir = data_dir
        for problem in tighten(data_dir):
            self.host.show(problem, types.MessageType.Warning)
        store = FeedbackStore(data_dir)
        if store.problem is not None:
            self.host.show(store.problem, types.MessageType.Error)
        self.feedback = FeedbackService(store, self.host.suggestions, self.host.config)
        self.trainer = TrainerProcess(data_dir)
        if self.trainer.problem is not None:
            self.host.show(self.trainer.problem, types.MessageType.Warning)
        self.teacher.attach(self.feedback)
        self.host.on_exit(self.trainer.kill)
        removed = self.trainer.while_no_trainer_runs(lambda: clean_staging(data_dir))
        if removed:
            log.info("removed %d staging dir(s) left by a stopped trainer", len(removed))

    @property
    def opened(self) -> bool:
        return self.feedback is not None

    # -- events from the server --------------------------------------------------------------
    def settings_changed(self) -> None:
        if self.feedback is not None:
            self.feedback.config = self.host.config
        self.teacher.update()

    def suggestion_shown(self, suggestion: "Suggestion") -> None:
        self.teacher.maybe_review(suggestion)

    def suggestion_accepted(self, suggestion: "Suggestion") -> None:
        self.teacher.maybe_review(suggestion)

    def document_changed(self) -> None:
        """A user's edit may be the correction a pending example waits for, or settle a suggestion."""
        if self.feedback is None:
            return
        if self.feedback.has_pending():
            self.feedback.resolve_from_edits()
        training = self.host.config.training
        if not training.implicit or not self.host.workspace_trusted:
            return
        documents = {uri: doc.source for uri, doc in list(self.host.workspace.text_documents.items())}
        for seen in observe(self.host.suggestions.snapshot(), documents, time.time(), training.settle_seconds):
            self.feedback.record_implicit(seen)
        self.maybe_train()

    def maybe_train(self) -> bool:
        """Start training when the threshold is reached and autoTrain is on."""
        if self.feedback.threshold_reached() and self.host.config.training.auto_train:
            return self.start_training("threshold reached").get("started", False)
        return False

    async def aclose(self) -> None:
        await self.teacher.aclose()

    # -- model lifecycle ----------------------------------------------------------------------
    def on_model_ready(self, loaded) -> None:
        """On the inference worker, after loading: remember shapes, reload the current adapter.

        Nothing in the data dir can make this fail: a refused adapter is announced and the
        previous good version (or the base model) is served instead.
        """
        self.host.engine.adapter_version = None
        try:
            self.adapters = AdapterStore(self.data_dir, self.host.model_name)
        except OSError as exc:
            self.adapters = None
            self.host.show(f"adapters are not used: {exc}", types.MessageType.Warning)
            return
        self._base_shapes = param_shapes(loaded.model)
        versions = self.adapters.versions()
        if versions:
            newest = versions[-1]
            mark_training(self.feedback, newest.meta.started_at or newest.path.lstat().st_mtime)
        self._load_current(loaded, versions)

    def _load_current(self, loaded, versions: list[AdapterInfo]) -> None:
        """The current adapter, else the newest good one before it, else the base model; says which."""
        current, refused = self.adapters.read_current()
        if current is None and refused is None:
            return
        good = sorted((a.version for a in versions if a.good and (current is None or a.version < current)), reverse=True)
        candidates = ([current] if current is not None else []) + good
        problems = [refused] if refused else []
        for version in candidates[:FALLBACK_TRIES]:
            info = next((a for a in versions if a.version == version), None)
            why = self._problems(info) if info is not None else ["it is missing"]
            if not why:
                try:
                    activate(loaded, info.path, version)
                except Exception as exc:  # noqa: BLE001 - peft's refusal: try the next one
                    why = [f"it could not be loaded: {exc}"]
            if not why:
                self.host.engine.adapter_version = version
                log.info("adapter v%04d loaded at start", version)
                break
            problems.append(f"v{version:04d} was refused: {'; '.join(why)}")
        if problems:
            served = self.host.engine.adapter_version
            serving = "the base model" if served is None else f"v{served:04d}, the previous good version"
            shown = problems[:4] + ([f"{len(problems) - 4} more refused (finch.adapters.list says why)"] if len(problems) > 4 else [])
            self.host.show(f"{'; '.join(shown)}. Serving {serving}", types.MessageType.Warning)

    def _problems(self, info: AdapterInfo) -> list[str]:
        """Why ``info`` cannot be used (empty: it can): odd metadata, then its files as a whole."""
        return info.problems or validate_adapter_dir(str(info.path), self._base_shapes, root=str(self.data_dir))

    # -- commands ----------------------------------------------------------------------------
    def record_feedback(self, args: FeedbackArgs) -> dict[str, Any]:
        """``finch.feedback``: store the example, maybe start training; the PROTOCOL.md result."""
        self.feedback.config = self.host.config
        try:
            example = self.feedback.record(args)
        except (StoreRefused, ValueError) as exc:
            raise InvalidArguments(str(exc)) from None
        if example.pending:
            self.teacher.request_correction(example)
        started = self.maybe_train()
        stats = self.feedback.stats()
        if not started:
            self._prepare_trainer(stats.new_since_training)
        return {
            "recorded": True, "exampleId": example.id, "rating": example.rating, "weight": example.weight,
            "pending": example.pending, "bufferSize": stats.examples, "weightedTotal": stats.weighted,
            "trainingStarted": started, "newSinceTraining": stats.new_since_training,
            "threshold": self.host.config.training.threshold,
        }

    def _prepare_trainer(self, counted: float) -> None:
        """One rating short of the threshold: a trainer that loads the model meanwhile
        (``TrainerProcess.prepare``), so the threshold's training starts on it at once."""
        t = self.host.config.training
        loaded = self.host.engine.loaded
        if t.auto_train and t.threshold - counted <= 1 and self.host.workspace_trusted and loaded is not None and not self.trainer.running:
            self.trainer.prepare(self.host.model_name, str(loaded.device))

    def start_training(self, why: str = "requested") -> dict[str, Any]:
        """``finch.train``: start the trainer over the whole buffer, or say why not."""
        reason = self._cannot_train()
        if reason is None:
            reason = self._spawn(why)
        if reason is not None:
            log.info("training not started: %s", reason)
            return {"started": False, "reason": reason}
        return {"started": True}

    def _cannot_train(self) -> str | None:
        if not self.host.workspace_trusted:
            return "this workspace is not trusted: finch does not train on it"
        if self.host.engine.loaded is None or self.adapters is None:
            return "the model is not loaded yet; try again when finch.status says ready"
        if self.trainer.running:
            return "training is already running"
        self.feedback.resolve_from_edits()
        if not self.feedback.buffer():
            pending = len(self.feedback.pending())
            hint = f" ({pending} pending without a correction)" if pending else ""
            return f"no trainable example yet{hint}: rate a suggestion first (with a correction for critical/medium)"
        return None

    def _spawn(self, why: str) -> str | None:
        staging = self.adapters.staging_dir()
        job = self._job(staging)
        self._progress = ProgressReporter(self.host, "finch: training an adapter")
        self._progress.start(f"{len(job.examples)} examples ({why})")
        reason = self.trainer.start(
            msgspec.json.encode(job), self._on_progress, lambda result, error: self._on_exit(staging, result, error)
        )
        if reason is not None:
            self._progress.finish("not started")
            staging.rmdir()
            return reason
        mark_training(self.feedback)
        if job.device == "cpu":
            self.host.engine.limit_threads(serving_threads())  # completions keep the cores the trainer leaves
        return None

    def _job(self, staging: Path) -> TrainJob:
        train, held_out, validation = split_buffer(self.feedback.buffer())
        t = self.host.config.training
        config = msgspec.structs.replace(
            TrainConfig(), epochs=t.epochs, batch_size=t.batch_size, learning_rate=t.learning_rate, rank=t.rank, alpha=t.alpha,
            gate_tasks=t.gate_tasks, decode_min_shift=t.decode_min_shift,
        )
        return TrainJob(
            base_model=self.host.model_name, device=self.host.engine.loaded.device,
            examples=[_train_example(e) for e in train], output_dir=str(staging), config=config,
            held_out=[_train_example(e) for e in held_out], validation=[_train_example(e) for e in validation],
            gate_cache_dir=str(self.data_dir / "gate"),
        )

    def _on_progress(self, progress: dict) -> None:
        if progress.get("phase") == "gate":
            progress["message"] = f"gate: {progress.get('message', '')}"
            self._progress.report(progress["message"])
            return
        step, steps = progress.get("step", 0), max(1, progress.get("steps", 1))
        message = f"epoch {progress.get('epoch')}/{progress.get('epochs')}, step {step}/{steps}, loss {progress.get('loss', 0):.3f}"
        progress["message"], progress["percentage"] = message, int(100 * step / steps)
        self._progress.report(message, progress["percentage"])

    def _on_exit(self, staging: Path, result: dict | None, error: str | None) -> None:
        """On the trainer's watcher thread: publish, judge, and activate the new adapter."""
        self.host.engine.limit_threads(None)
        if error is not None:
            self._progress.finish("failed")
            self.host.show(f"training failed: {error}", types.MessageType.Error)
            return
        try:
            version = self.adapters.publish(staging)
        except OSError as exc:
            self._progress.finish("failed")
            self.host.show(f"the trained adapter could not be published: {exc}", types.MessageType.Error)
            return
        evaluation = (result or {}).get("evaluation") or {}
        problems = self._problems(self.adapters.get(version))
        if problems or not evaluation.get("passed", False):
            why = "; ".join(problems or evaluation.get("reasons") or ["evaluation did not pass"])
            self.adapters.set_verdict(version, False, why)
            self._progress.finish(f"v{version:04d} kept, not activated")
            self.host.show(f"adapter v{version:04d} was trained but not activated: {why}", types.MessageType.Warning)
            return
        self.adapters.set_verdict(version, True, _summary(evaluation))
        self._progress.finish(f"v{version:04d} trained")
        self.host.engine.run(lambda loaded: self._swap(loaded, version, announce=True))

    def _swap(self, loaded, version: int | None, announce: bool = False) -> dict[str, Any]:
        """On the inference worker: make ``version`` (None: the base model) the live adapter.

        A load that fails leaves the active adapter as it was and raises InvalidArguments.
        """
        before = self.host.engine.adapter_version
        if version is None:
            deactivate(loaded)
        else:
            try:
                activate(loaded, self.adapters.get(version).path, version)
            except Exception as exc:  # noqa: BLE001 - peft's refusal, with the model put back
                kept = "the base model" if before is None else f"v{before:04d}"
                raise InvalidArguments(f"adapter v{version:04d} could not be loaded ({exc}); {kept} stays active") from None
        self.host.engine.adapter_version = version
        try:
            self.adapters.set_current(version)
        except OSError as exc:
            self.host.show(f"the choice of adapter is not remembered for the next start: {exc}", types.MessageType.Warning)
        name = "the base model" if version is None else f"adapter v{version:04d}"
        if announce:
            info = self.adapters.get(version)
            count = info.meta.examples
            self.host.show(f"{name} is active ({count} example{'' if count == 1 else 's'}; {info.verdict.reason})")
        return {"active": version, "adapters": adapter_count(loaded)}

    # -- adapter commands ----------------------------------------------------------------------
    def _store(self) -> AdapterStore:
        if self.adapters is None:
            raise InvalidArguments("the model is not loaded yet; try again when finch.status says ready")
        return self.adapters

    def list_adapters(self) -> list[dict]:
        store = self._store()
        active = self.host.engine.adapter_version
        return [a.describe(active) for a in store.versions()]

    def use(self, version: int | None):
        """``finch.adapters.use``: a future resolving to the switch's status."""
        store = self._store()
        if version is not None:
            info = store.get(version)
            if info is None:
                raise InvalidArguments(f"no adapter v{version:04d}; finch.adapters.list shows the versions")
            problems = self._problems(info)
            if problems:
                raise InvalidArguments(f"adapter v{version:04d} cannot be used: {'; '.join(problems)}")
        return self.host.engine.run(lambda loaded: self._swap(loaded, version))

    def rollback(self):
        """``finch.adapters.rollback``: back to the previous good version that validates (or the base model)."""
        store = self._store()
        active = self.host.engine.adapter_version
        for info in reversed(store.versions()):
            if info.good and (active is None or info.version < active) and not self._problems(info):
                return self.use(info.version)
        return self.use(None)

    def delete(self, version: int) -> dict[str, Any]:
        store = self._store()
        if version == self.host.engine.adapter_version:
            raise InvalidArguments(f"v{version:04d} is active: switch to another version (finch.adapters.use) or roll back first")
        try:
            store.delete(version)
        except KeyError:
            raise InvalidArguments(f"no adapter v{version:04d}; finch.adapters.list shows the versions") from None
        return {"deleted": version}

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        if not self.opened:
            return {}
        stats = self.feedback.stats()
        version = self.host.engine.adapter_version
        info = self.adapters.get(version) if self.adapters is not None and version is not None else None
        training: dict[str, Any] = {"state": self.trainer.state.value}
        if self.trainer.state is TrainingState.RUNNING:
            training["pid"] = self.trainer.pid
            if self.trainer.progress:
                training["progress"] = self.trainer.progress
        if self.trainer.last_error:
            training["lastError"] = self.trainer.last_error
        loaded = self.host.engine.loaded
        return {
            "adapter": {
                "version": version,
                "examples": info.meta.examples if info else None,
                "finalLoss": info.meta.final_loss if info else None,
                "loaded": adapter_count(loaded) if loaded is not None else 0,
            },
            "buffer": {"examples": stats.examples, "weighted": stats.weighted, "pending": stats.pending, "newSinceTraining": stats.new_since_training},
            "training": training,
            "teacher": self.teacher.status(),
        }


def split_buffer(buffer: list[Example]) -> tuple[list[Example], list[Example], list[Example]]:
    """The buffer as (trained on, held-out kept suggestions, validation lines); pure.

    A fifth of the kept suggestions (once there are five, at most ``HELD_OUT_MAX``) is held out
    for the gate's held-out loss check. When no rated correction is in the buffer (implicit
    feedback only), a fifth of the lines typed over or edited (once there are five, at most
    ``HELD_OUT_MAX``) is held back as well: the adapter is judged on lines it was not taught
    (``TrainJob.validation``), since lines typed over are facts of the user's code more than one
    habit repeated, and reproducing the ones it was trained on says little. The draws are seeded
    by the buffer's size: the same buffer splits the same way.
    """
    rng = random.Random(len(buffer))

    def fifth(examples: list[Example]) -> list[Example]:
        return rng.sample(examples, min(HELD_OUT_MAX, len(examples) // 5)) if len(examples) >= 5 else []

    held_out = fifth([e for e in buffer if e.rating == "good" or (e.rating == "implicit" and e.correction_source == "kept")])
    corrected = [e for e in buffer if e.rejected is not None]
    validation = [] if any(e.rating != "implicit" for e in corrected) else fifth(corrected)
    apart = {e.id for e in held_out + validation}
    return [e for e in buffer if e.id not in apart], held_out, validation


def _train_example(e: Example) -> TrainExample:
    return TrainExample(prompt=e.prompt or e.prefix, target=e.target or "", weight=e.weight, rejected=e.rejected, implicit=e.rating == "implicit")


def _summary(evaluation: dict) -> str:
    parts = [f"reproduces {evaluation.get('reproduced')}/{evaluation.get('total')} corrections"]
    lines_before, lines_after = evaluation.get("validation_loss_before"), evaluation.get("validation_loss_after")
    if lines_before is not None and lines_after is not None:
        parts[0] = f"predicts lines you typed better (loss {lines_before:.3f} -> {lines_after:.3f}; {parts[0]})"
    if evaluation.get("scale", 1.0) != 1.0:
        full = "; ".join(evaluation.get("reasons_at_full") or [])
        parts.append(f"kept at {evaluation['scale']:.0%} strength" + (f" (at full strength: {full})" if full else ""))
    before, after = evaluation.get("held_out_loss_before"), evaluation.get("held_out_loss_after")
    if before is not None and after is not None:
        parts.append(f"held-out loss {before:.3f} -> {after:.3f}")
    if evaluation.get("general_kept") is not None:
        parts.append(f"{evaluation['general_kept']}/{evaluation.get('general_total')} general prompts unchanged")
    if evaluation.get("file_kept") is not None:
        parts.append(f"{evaluation['file_kept']}/{evaluation.get('file_total')} functions in your files unchanged")
    if evaluation.get("pass_after") is not None:
        parts.append(f"HumanEval gate {evaluation.get('pass_before')} -> {evaluation['pass_after']} of {evaluation.get('pass_total')} passed")
    return ", ".join(parts)
