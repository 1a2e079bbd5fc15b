"""LearningCoordinator: feedback -> buffer -> trainer child -> adapter -> hot swap.

It owns the feedback service, the trainer child, the adapter store of the active base model
and the teacher bridge, and answers the learning commands of docs/protocol.md. Model work
(swaps) goes through the inference engine, so a swap always falls between two generations.
It is built with the server and opened at ``initialize``, once the data dir is known.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from lsprotocol import types

from finch_lsp.learning.adapters import AdapterStore, activate, adapter_count, deactivate, param_shapes, validate_adapter_dir
from finch_lsp.learning.child import TrainerProcess, TrainingState
from finch_lsp.learning.feedback import FeedbackService, mark_training
from finch_lsp.learning.jobs import TrainConfig, TrainExample, TrainJob
from finch_lsp.learning.store import Example, FeedbackStore
from finch_lsp.learning.teacher.bridge import TeacherBridge
from finch_lsp.progress import ProgressReporter
from finch_lsp.protocol import FeedbackArgs, InvalidArguments

if TYPE_CHECKING:
    from finch_lsp.documents.suggestions import Suggestion
    from finch_lsp.host import Host

log = logging.getLogger(__name__)

HELD_OUT_MAX = 8


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
        """Start on ``data_dir`` (at ``initialize``): the feedback store and the trainer."""
        self.data_dir = data_dir
        self.feedback = FeedbackService(FeedbackStore(data_dir), self.host.suggestions, self.host.config)
        self.trainer = TrainerProcess(data_dir)
        self.teacher.attach(self.feedback)
        self.host.on_exit(self.trainer.kill)

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
        """A user's edit may be the correction a pending example waits for."""
        if self.feedback is not None and self.feedback.has_pending():
            self.feedback.resolve_from_edits()

    async def aclose(self) -> None:
        await self.teacher.aclose()

    # -- model lifecycle ----------------------------------------------------------------------
    def on_model_ready(self, loaded) -> None:
        """On the inference worker, after loading: remember shapes, reload the current adapter."""
        self.adapters = AdapterStore(self.data_dir, self.host.model_name)
        self.adapters.clean_staging()
        self._base_shapes = param_shapes(loaded.model)
        newest = self.adapters.versions()
        if newest:
            mark_training(self.feedback, newest[-1].meta.get("startedAt") or newest[-1].path.stat().st_mtime)
        current = self.adapters.current()
        if current is not None:
            info = self.adapters.get(current)
            problems = self._validate(info.path) if info else [f"v{current:04d} is missing"]
            if problems:
                self.host.show(f"the current adapter v{current:04d} was not loaded: {'; '.join(problems)}", types.MessageType.Warning)
                return
            activate(loaded, info.path, current)
            self.host.engine.adapter_version = current
            log.info("adapter v%04d loaded at start", current)

    def _validate(self, path: Path) -> list[str]:
        return validate_adapter_dir(str(path), self._base_shapes)

    # -- commands ----------------------------------------------------------------------------
    def record_feedback(self, args: FeedbackArgs) -> dict[str, Any]:
        """``finch.feedback``: store the example, maybe start training; the PROTOCOL.md result."""
        self.feedback.config = self.host.config
        example = self.feedback.record(args)
        if example.pending:
            self.teacher.request_correction(example)
        started = False
        if self.feedback.threshold_reached() and self.host.config.training.auto_train:
            started = self.start_training("threshold reached").get("started", False)
        stats = self.feedback.stats()
        return {
            "recorded": True, "exampleId": example.id, "rating": example.rating, "weight": example.weight,
            "pending": example.pending, "bufferSize": stats.examples, "weightedTotal": stats.weighted,
            "trainingStarted": started, "newSinceTraining": stats.new_since_training,
            "threshold": self.host.config.training.threshold,
        }

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
        return None

    def _job(self, staging: Path) -> TrainJob:
        buffer = self.feedback.buffer()
        kept = [e for e in buffer if e.rating == "good"]
        held_out = random.Random(len(buffer)).sample(kept, min(HELD_OUT_MAX, len(kept) // 5)) if len(kept) >= 5 else []
        train = [e for e in buffer if e not in held_out]
        t = self.host.config.training
        config = msgspec.structs.replace(
            TrainConfig(), epochs=t.epochs, batch_size=t.batch_size, learning_rate=t.learning_rate, rank=t.rank, alpha=t.alpha,
            gate_tasks=t.gate_tasks,
        )
        return TrainJob(
            base_model=self.host.model_name, device=self.host.engine.loaded.device,
            examples=[_train_example(e) for e in train], output_dir=str(staging), config=config,
            held_out=[_train_example(e) for e in held_out], gate_cache_dir=str(self.data_dir / "gate"),
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
        if error is not None:
            self._progress.finish("failed")
            self.host.show(f"training failed: {error}", types.MessageType.Error)
            return
        version = self.adapters.publish(staging)
        evaluation = (result or {}).get("evaluation") or {}
        problems = self._validate(self.adapters.get(version).path)
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
        """On the inference worker: make ``version`` (None: the base model) the live adapter."""
        if version is None:
            deactivate(loaded)
        else:
            activate(loaded, self.adapters.get(version).path, version)
        self.host.engine.adapter_version = version
        self.adapters.set_current(version)
        name = "the base model" if version is None else f"adapter v{version:04d}"
        if announce:
            info = self.adapters.get(version)
            count = info.meta.get("examples")
            self.host.show(f"{name} is active ({count} example{'' if count == 1 else 's'}; {info.verdict.get('reason')})")
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
            problems = self._validate(info.path)
            if problems:
                raise InvalidArguments(f"adapter v{version:04d} cannot be used: {'; '.join(problems)}")
        return self.host.engine.run(lambda loaded: self._swap(loaded, version))

    def rollback(self):
        """``finch.adapters.rollback``: back to the previous good version (or the base model)."""
        store = self._store()
        return self.use(store.previous_good(self.host.engine.adapter_version))

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
                "examples": info.meta.get("examples") if info else None,
                "finalLoss": (info.meta.get("losses") or [None])[-1] if info else None,
                "loaded": adapter_count(loaded) if loaded is not None else 0,
            },
            "buffer": {"examples": stats.examples, "weighted": stats.weighted, "pending": stats.pending, "newSinceTraining": stats.new_since_training},
            "training": training,
            "teacher": self.teacher.status(),
        }


def _train_example(e: Example) -> TrainExample:
    return TrainExample(prompt=e.prompt or e.prefix, target=e.target or "", weight=e.weight, rejected=e.rejected)


def _summary(evaluation: dict) -> str:
    parts = [f"reproduces {evaluation.get('reproduced')}/{evaluation.get('total')} corrections"]
    before, after = evaluation.get("held_out_loss_before"), evaluation.get("held_out_loss_after")
    if before is not None and after is not None:
        parts.append(f"held-out loss {before:.3f} -> {after:.3f}")
    if evaluation.get("general_kept") is not None:
        parts.append(f"{evaluation['general_kept']}/{evaluation.get('general_total')} general prompts unchanged")
    if evaluation.get("pass_after") is not None:
        parts.append(f"HumanEval gate {evaluation.get('pass_before')} -> {evaluation['pass_after']} of {evaluation.get('pass_total')} passed")
    return ", ".join(parts)
