"""The inference engine: one dedicated worker thread owns the model.

Nothing else touches the model: completions, adapter swaps and code actions are tasks on
this worker, so a swap always happens between two generations. The event loop only
submits tasks and awaits futures. A newer completion for the same document supersedes an
older one (queued: dropped; running: cancelled at the next decoding step); a task whose
cancel flag is set before it starts is dropped without running.

Completions reuse the KV cache of the document's previous prompt (``kvcache``). Any task
given the model through ``run`` may swap an adapter, so it bumps the weights epoch and the
cached prefixes of older weights are never reused.
"""

from __future__ import annotations

import collections
import enum
import functools
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

from finch_lsp.completion.generate import generate, heal_prompt
from finch_lsp.completion.kvcache import PrefixCache
from finch_lsp.completion.prompt import OtherFile, Prompt, fim_prompt, prefix_prompt
from finch_lsp.cpu import Pacer, usable_cores

log = logging.getLogger(__name__)


class ModelState(str, enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class CompletionRequest:
    """A read-only snapshot of what one completion needs."""

    key: str  # the document uri: newer requests for it supersede older ones
    prefix: str
    suffix: str
    path: str | None = None
    others: tuple[OtherFile, ...] = ()
    single_line: bool = False
    max_new_tokens: int = 64
    prompt_tokens: int = 1536
    min_new_tokens: int = 0
    block: bool = False  # at a block start: the rest of the block is generated after the first line
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class CompletionOutput:
    """Raw completion text (healing removed) and what produced it."""

    text: str
    prompt: Prompt
    tokens: int
    seconds: float
    cancelled: bool
    prompt_tokens: int = 0
    prefilled: int = 0  # prompt tokens run through the model; the rest were reused from the KV cache
    first_token_seconds: float = 0.0


@dataclass
class _Task:
    fn: Callable[[], Any]
    future: Future
    key: str | None = None
    cancel: threading.Event | None = None
    background: bool = False


SERVING_OTHERS_BUSY_CORES = 0.5
"""Cores' worth of CPU other processes may use while completions still run on every core. An
editor redrawing as the user types takes a fraction of one; a build, a test run or a CPU hog
takes whole ones, and beside one of those a thread per core waits at every op for the thread
that shares its core (18 s for a completion that took 1.3 s on one thread; docs/benchmarks.md)."""

IDLE_READING_S = 1.0
"""While no task runs, the worker reads the load this often, so a completion starts on what the
machine does now rather than on an average over the idle minutes before it."""


def serving_pacer(default_threads: int) -> Pacer | None:
    """Completions on torch's ``default_threads`` while the rest of the machine stays under
    ``SERVING_OTHERS_BUSY_CORES``, one thread fewer while it does not (None with one thread)."""
    if default_threads <= 1:
        return None
    return Pacer(default_threads - 1, default_threads, others_busy=SERVING_OTHERS_BUSY_CORES)


class InferenceEngine:
    """Owns the loaded model; runs every model task on one worker thread.

    On the CPU its torch threads follow the machine's load (``serving_pacer``; ``pacer`` makes
    another, or returns None to keep torch's default) unless ``limit_threads`` fixes them.
    """

    def __init__(self, pacer: Callable[[int], Pacer | None] | None = None) -> None:
        self.state = ModelState.LOADING
        self.error: str | None = None
        self.loaded = None
        self.adapter_version: int | None = None
        self._queue: collections.deque[_Task] = collections.deque()
        self._running: _Task | None = None
        self._cv = threading.Condition()
        self._closed = False
        self.recent: collections.deque[dict] = collections.deque(maxlen=8)  # last generations, for status
        self.prefixes = PrefixCache()
        self.reuse_prefixes = True
        self._weights_epoch = 0  # bumped by every task that may change the weights (adapter swaps, loads)
        self._threads_wanted: int | None = None  # torch threads for the next tasks; None: torch's own default
        self._threads_default: int | None = None  # torch's default (at most the usable cores), read on the worker before the first change
        self.threads: int | None = None  # the torch threads the worker's tasks run with now
        self._make_pacer = serving_pacer if pacer is None else pacer  # given torch's default threads
        self.pacer: Pacer | None = None  # made on the worker with the first task; None: torch's default stays
        self._thread = threading.Thread(target=self._work, name="finch-inference", daemon=True)
        self._thread.start()

    @property
    def running_key(self) -> str | None:
        """The key of the task running now (a document uri for completions)."""
        task = self._running
        return task.key if task is not None else None

    # -- submitting -------------------------------------------------------------------------
    def submit(self, fn: Callable[[], Any], key: str | None = None, cancel: threading.Event | None = None, background: bool = False) -> Future:
        """Run ``fn`` on the worker; a task with the same ``key`` supersedes older ones.

        A ``background`` task (work nobody waits for: the rest of a block after its first line)
        yields to every other: one submitted drops the queued background tasks and cancels a
        running one (their futures resolve to None).
        """
        task = _Task(fn, Future(), key, cancel, background)
        with self._cv:
            if self._closed:
                task.future.set_exception(RuntimeError("the inference engine is shut down"))
                return task.future
            if key is not None:
                self._supersede(key)
            if not background:
                self._yield_background()
            self._queue.append(task)
            self._cv.notify()
        return task.future

    def _supersede(self, key: str) -> None:
        for old in [t for t in self._queue if t.key == key]:
            self._queue.remove(old)
            _resolve(old.future, None)
        if self._running is not None and self._running.key == key and self._running.cancel is not None:
            self._running.cancel.set()

    def _yield_background(self) -> None:
        for old in [t for t in self._queue if t.background]:
            self._queue.remove(old)
            _resolve(old.future, None)
        if self._running is not None and self._running.background and self._running.cancel is not None:
            self._running.cancel.set()

    def load(self, loader: Callable[[], Any], on_done: Callable[[], None] | None = None) -> Future:
        """Load the model on the worker (the first task); state goes to ready or failed."""

        def run() -> None:
            try:
                self._weights_changed()
                self.loaded = loader()
                self.state, self.error = ModelState.READY, None
            except Exception as exc:  # the message is what the user sees in finch.status
                log.exception("model loading failed")
                self.state, self.error = ModelState.FAILED, str(exc) or type(exc).__name__
            if on_done is not None:
                on_done()

        return self.submit(run)

    def complete(self, request: CompletionRequest, background: bool = False) -> Future:
        """A completion for ``request``; resolves to CompletionOutput, or None when superseded or not ready
        (``background``: it yields to any other task, see ``submit``)."""
        if self.state is not ModelState.READY:
            done: Future = Future()
            done.set_result(None)
            return done
        return self.submit(lambda: self._complete(request), key=request.key, cancel=request.cancel, background=background)

    def run(
        self,
        fn: Callable[[Any], Any],
        key: str | None = None,
        cancel: threading.Event | None = None,
        changes_weights: bool = True,
    ) -> Future:
        """Run ``fn(loaded_model)`` between generations (adapter swaps, code actions).

        ``key`` and ``cancel`` work as for completions (a newer task with the key supersedes a
        queued one; a task cancelled before it starts never runs). A task that may change the
        weights (the default: adapter swaps) invalidates the cached KV prefixes.
        """

        def task() -> Any:
            try:
                return fn(self.loaded)
            finally:
                if changes_weights:
                    self._weights_changed()

        return self.submit(task, key=key, cancel=cancel)

    def _weights_changed(self) -> None:
        self._weights_epoch += 1
        self.prefixes.clear()

    def weights_identity(self) -> tuple:
        """What a cached KV prefix must have been computed with: the model, the adapter, the epoch."""
        return (id(self.loaded), self.adapter_version, self._weights_epoch)

    def limit_threads(self, threads: int | None) -> None:
        """Run the next tasks with ``threads`` torch threads (None: follow the machine's load again).

        Applied on the worker between two tasks: torch's thread count belongs to the thread
        that runs the model.
        """
        self._threads_wanted = threads

    def _apply_threads(self) -> None:
        """Set the worker's torch threads for the next task: the limit asked for, else what the
        pacer allows now (on the CPU), else torch's default."""
        import torch

        if self._threads_default is None:
            self._threads_default = min(torch.get_num_threads(), usable_cores())  # a cgroup quota, too
            self.threads = torch.get_num_threads()
            self.pacer = self._make_pacer(self._threads_default)
        pacer = self._cpu_pacer()
        if self._threads_wanted:
            wanted = self._threads_wanted
        elif pacer is not None:
            wanted = pacer.wanted()
        else:
            wanted = self._threads_default
        if wanted != self.threads:  # only this worker sets them: no torch call per task once settled
            torch.set_num_threads(wanted)
            level = logging.INFO if self._threads_wanted else logging.DEBUG  # the load's changes may be many
            log.log(level, "completions run on %d torch thread(s)", wanted)
            self.threads = wanted

    def _cpu_pacer(self) -> Pacer | None:
        """The pacer while the model (or its loading) runs on the CPU; None on a GPU."""
        on_cpu = str(getattr(self.loaded, "device", "cpu")).startswith("cpu")
        return self.pacer if on_cpu else None

    # -- the worker -------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    if not self._cv.wait(timeout=IDLE_READING_S if self._cpu_pacer() is not None else None):
                        self._apply_threads()  # a reading while idle: the next task starts on the load of now
                if self._closed:
                    return
                task = self._running = self._queue.popleft()
            if task.cancel is not None and task.cancel.is_set():
                _resolve(task.future, None)  # cancelled while queued: dropped before it starts
            elif task.future.set_running_or_notify_cancel():
                try:
                    self._apply_threads()
                    _resolve(task.future, task.fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                    _resolve(task.future, exc=exc)
            with self._cv:
                self._running = None

    def _complete(self, request: CompletionRequest) -> CompletionOutput | None:
        if request.cancel.is_set():
            return None
        started = time.perf_counter()
        prompt, removed = build_model_prompt(self.loaded, request)
        if not prompt.text:
            return None  # an empty document and a model without FIM: nothing to complete from
        out = generate(
            self.loaded,
            prompt.text,
            removed,
            request.max_new_tokens,
            cancel=request.cancel,
            single_line=request.single_line,
            min_new_tokens=request.min_new_tokens,
            reuse=self.prefixes if self.reuse_prefixes else None,
            reuse_key=request.key,
            weights=self.weights_identity(),
        )
        seconds = time.perf_counter() - started
        self.recent.append({
            "key": request.key, "tokens": out.tokens, "cancelled": out.cancelled, "seconds": round(seconds, 4),
            "promptTokens": out.prompt_tokens, "prefilled": out.prefilled,
        })
        return CompletionOutput(
            out.text, prompt, out.tokens, seconds, out.cancelled, out.prompt_tokens, out.prefilled, out.first_token_seconds
        )

    def close(self, wait_s: float = 0.0) -> None:
        """Stop the worker: queued tasks resolve to None; a running generation is cancelled.

        ``wait_s`` waits that long for the worker to end (a process about to exit, so torch's
        threads are not torn down under a running task)."""
        with self._cv:
            self._closed = True
            for task in self._queue:
                _resolve(task.future, None)
            self._queue.clear()
            if self._running is not None and self._running.cancel is not None:
                self._running.cancel.set()
            self._cv.notify_all()
        if wait_s > 0 and threading.current_thread() is not self._thread:
            self._thread.join(wait_s)


def _resolve(future: Future, result: Any = None, exc: BaseException | None = None) -> None:
    """Settle ``future`` unless its requester already cancelled it."""
    if future.done():
        return
    try:
        future.set_exception(exc) if exc is not None else future.set_result(result)
    except Exception:  # noqa: BLE001 - cancelled between the check and the set
        pass


def build_model_prompt(loaded, request: CompletionRequest) -> tuple[Prompt, str]:
    """The prompt for ``request`` on ``loaded`` and the text removed by token healing."""
    tokenizer = loaded.tokenizer

    @functools.lru_cache(maxsize=512)
    def count(text: str) -> int:  # cached: the budget split counts the same texts more than once
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    budget = max(64, min(request.prompt_tokens, loaded.context_length - request.max_new_tokens - 8))
    if loaded.fim is None:
        prompt = prefix_prompt(request.prefix, budget, count)
        kept, removed = heal_prompt(tokenizer, prompt.prefix, None)
        return Prompt(kept, kept, "", (), fim=False, full=prompt.text), removed
    prompt = fim_prompt(
        request.prefix, request.suffix, loaded.fim, budget, count,
        path=request.path, others=request.others,
    )
    text, removed = heal_prompt(tokenizer, prompt.text, loaded.fim)
    kept = prompt.prefix[: len(prompt.prefix) - len(removed)]
    return Prompt(text, kept, prompt.suffix, prompt.files, fim=True, header=prompt.header, full=prompt.text), removed
