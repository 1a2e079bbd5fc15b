"""Feedback: a rating of a suggestion becomes a weighted, durable training example.

Implicit feedback (``learning.implicit``: a suggestion kept, edited or typed over) becomes an
example too, rated ``implicit``, with a small weight that also counts towards the threshold.

- good: the target is the suggestion as finally kept in the document (or as shown);
- critical / medium: the target is the correction: the explicit argument, else the
  user's edit of the accepted text, else the teacher's answer; the rejected suggestion
  is kept as a negative. Without any correction yet the example is stored *pending* and
  becomes trainable once one is known.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import msgspec

from finch_lsp.config import FinchConfig
from finch_lsp.documents.suggestions import Suggestion, SuggestionRegistry
from finch_lsp.learning.implicit import Observation
from finch_lsp.learning.store import Example, FeedbackStore
from finch_lsp.protocol import FeedbackArgs, InvalidArguments

log = logging.getLogger(__name__)


@dataclass
class BufferStats:
    examples: int
    weighted: float
    pending: int
    new_since_training: int


class FeedbackService:
    """Records ratings, resolves pending examples, and keeps the replay buffer."""

    def __init__(self, store: FeedbackStore, suggestions: SuggestionRegistry, config: FinchConfig) -> None:
        self.store = store
        self.suggestions = suggestions
        self.config = config
        self._lock = threading.Lock()
        self._examples: dict[str, Example] = {e.id: e for e in store.latest()}
        self.last_training_at = 0.0  # set by the trainer from the newest adapter

    # -- recording ----------------------------------------------------------------------------
    def find_suggestion(self, suggestion_id: str | None) -> Suggestion:
        """The rated suggestion, or InvalidArguments that says what to do."""
        if suggestion_id is not None:
            found = self.suggestions.get(suggestion_id)
            if found is None:
                raise InvalidArguments(
                    f"unknown suggestion id {suggestion_id!r}: it was never shown or is too old; "
                    "rate the last suggestion by leaving suggestionId out"
                )
            return found
        found = self.suggestions.last()
        if found is None:
            raise InvalidArguments("no suggestion yet: ask for a completion (or a Finch code action) first, then rate it")
        return found

    def record(self, args: FeedbackArgs) -> Example:
        """Store one rating; the returned example is durable (fsynced) when this returns."""
        suggestion = self.find_suggestion(args.suggestion_id)
        suggestion.observed = True  # a rating dominates whatever the user does with it later
        example = self._example_for(suggestion, args)
        self.store.append(example)
        with self._lock:
            self._examples[example.id] = example
        log.info("feedback %s (weight %g) on %s%s", example.rating, example.weight, suggestion.id, " (pending)" if example.pending else "")
        return example

    def _example_for(self, s: Suggestion, args: FeedbackArgs) -> Example:
        weight = getattr(self.config.training.weights, args.rating)
        kept = self.suggestions.edited_text(s.id)
        example = Example(
            rating=args.rating, weight=weight, note=args.note, suggestion_id=s.id, kind=s.kind,
            uri=s.uri, language=s.language, model=s.model, adapter_version=s.adapter_version,
            prefix=s.prefix, suffix=s.suffix, prompt=s.prompt, suggestion=s.text, kept=kept,
        )
        if args.rating == "good":
            example.correction_source = "kept"
            return example
        example.rejected = s.text
        correction, source = _explicit_or_edited(args.correction, kept, s.text)
        if correction is None:
            example.pending = True
        else:
            example.correction, example.correction_source = correction, source
        return example

    def resolve(self, example_id: str, correction: str, source: str) -> Example | None:
        """A pending example learns its correction: a new line supersedes the old one."""
        with self._lock:
            current = self._examples.get(example_id)
        if current is None or not current.pending or not correction.strip():
            return None
        resolved = msgspec.structs.replace(current, correction=correction, correction_source=source, pending=False)
        self.store.append(resolved)
        with self._lock:
            self._examples[example_id] = resolved
        log.info("pending example %s resolved from %s", example_id, source)
        return resolved

    def resolve_from_edits(self) -> int:
        """Pending examples whose accepted text the user has since edited take that edit."""
        resolved = 0
        for example in self.pending():
            edited = self.suggestions.edited_text(example.suggestion_id)
            if edited is not None and edited.strip() and edited != example.suggestion:
                resolved += self.resolve(example.id, edited, "edit") is not None
        return resolved

    def record_implicit(self, seen: Observation) -> Example:
        """A settled suggestion, kept, edited or typed over: a small-weight example."""
        s = seen.suggestion
        s.observed = True
        example = Example(
            rating="implicit", weight=self.config.training.weights.implicit, suggestion_id=s.id,
            kind=s.kind, uri=s.uri, language=s.language, model=s.model, adapter_version=s.adapter_version,
            prefix=s.prefix, suffix=s.suffix, prompt=s.prompt, suggestion=s.text,
            kept=s.current_text if s.accepted else None, rejected=seen.rejected,
            correction=seen.target if seen.kind != "kept" else None, correction_source=seen.kind,
        )
        self.store.append(example)
        with self._lock:
            self._examples[example.id] = example
        log.info("implicit feedback (%s) on %s", seen.kind, s.id)
        return example

    def add_teacher_example(self, s: Suggestion, correction: str, note: str) -> Example:
        """A clear teacher disagreement with a sampled suggestion: a medium-weight example."""
        example = Example(
            rating="medium", weight=self.config.training.weights.medium, note=note, suggestion_id=s.id,
            kind=s.kind, uri=s.uri, language=s.language, model=s.model, adapter_version=s.adapter_version,
            prefix=s.prefix, suffix=s.suffix, prompt=s.prompt, suggestion=s.text, rejected=s.text,
            correction=correction, correction_source="teacher",
        )
        self.store.append(example)
        with self._lock:
            self._examples[example.id] = example
        return example

    # -- the buffer ---------------------------------------------------------------------------
    def all(self) -> list[Example]:
        with self._lock:
            return sorted(self._examples.values(), key=lambda e: e.created_at)

    def has_pending(self) -> bool:
        """Cheap enough for every keystroke's didChange: no sorting, no copies."""
        with self._lock:
            return any(e.pending for e in self._examples.values())

    def pending(self) -> list[Example]:
        return [e for e in self.all() if e.pending]

    def buffer(self, examples: list[Example] | None = None) -> list[Example]:
        """The replay buffer: the last ``bufferSize`` trainable examples."""
        trainable = [e for e in (examples if examples is not None else self.all()) if not e.pending]
        return trainable[-self.config.training.buffer_size :]

    def stats(self) -> BufferStats:
        examples = self.all()
        buffer = self.buffer(examples)
        new = sum(_counted(e) for e in examples if not e.pending and e.created_at > self.last_training_at)
        return BufferStats(len(buffer), sum(e.weight for e in buffer), sum(e.pending for e in examples), int(new + 1e-9))

    def threshold_reached(self) -> bool:
        return self.stats().new_since_training >= self.config.training.threshold


def _counted(e: Example) -> float:
    """What an example counts towards the threshold: a rating 1, implicit feedback its weight."""
    return e.weight if e.rating == "implicit" else 1.0


def _explicit_or_edited(correction: str | None, kept: str | None, shown: str) -> tuple[str | None, str | None]:
    if correction is not None and correction.strip():
        return correction, "argument"
    if kept is not None and kept.strip() and kept != shown:
        return kept, "edit"
    return None, None


def mark_training(service: FeedbackService, when: float | None = None) -> None:
    service.last_training_at = time.time() if when is None else when
