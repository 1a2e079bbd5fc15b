"""The server's side of models: which to load now, background downloads, and switching.

``serving_plan`` is pure: for the requested model, the machine and what is downloaded, it
says what to load now, why, and what to download. ``ModelDownloads`` carries it out for a
running server: it shows the reason in the window, runs downloads in a thread (never on the
event loop) with ``$/progress`` titled ``finch: downloading NAME``, announces the end with
``window/showMessage``, and reloads when the finished download is what the settings want.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from finch_lsp.models.catalog import EMBEDDED, HubModel, format_size, hub_model, pick_auto
from finch_lsp.models.download_errors import DownloadError, is_offline, offline_error
from finch_lsp.models.machine import Machine, probe_machine
from finch_lsp.models.transfer import ProgressSnapshot, Throttle, format_progress

from finch_lsp.host import Host


class ServingHost(Host, Protocol):
    """The server as downloads see it: a Host that also resolves and (re)loads the model."""

    def requested_model(self) -> tuple[str, str]: ...

    def start_loading(self) -> None: ...

log = logging.getLogger(__name__)
AUTO = "auto"


@dataclass(frozen=True)
class ServePlan:
    load: str
    """The model to load now."""
    reason: str
    """Why, for the window message; empty when the user named the model and it is here."""
    fetch: HubModel | None
    """What to download in the background (only with ``modelDownload`` on)."""


def serving_plan(requested: str, machine: Machine, present: Collection[str], download: bool) -> ServePlan:
    """What to load for the ``model`` setting ``requested``, and what to download meanwhile."""
    name = (requested or AUTO).strip()
    if name.lower() == AUTO:
        choice = pick_auto(machine, present)
        if download and choice.better is not None:
            return ServePlan(choice.name, _meanwhile(choice.better, choice.name, f"it fits this machine ({machine.describe()})"), choice.better)
        return ServePlan(choice.name, choice.why, None)
    model = hub_model(name)
    if model is not None and model.name not in present and download:
        return ServePlan(EMBEDDED, _meanwhile(model, EMBEDDED, "the model setting names it"), model)
    return ServePlan(name, "", None)


def _meanwhile(model: HubModel, serving: str, because: str) -> str:
    return (
        f"downloading {model.name} ({format_size(model.download_bytes)}) in the background because "
        f"{because} and finch.modelDownload is on; serving {serving} until it is ready"
    )


class ModelDownloads:
    """Downloads a running server makes, one thread each, and the switch when one is done."""

    def __init__(self, server: "ServingHost") -> None:
        self.server = server
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    # -- called by the server -------------------------------------------------------------
    def choose(self, requested: str, device: str) -> tuple[str, str]:
        """The model to load now and why; shows why, and starts a download the settings allow."""
        plan = self._plan(requested, device)
        if plan.reason:
            self.server.show(f"using {plan.load}: {plan.reason}")
        if plan.fetch is not None:
            self._start_wanted(plan.fetch)
        return plan.load, plan.reason

    def settings_changed(self) -> None:
        """Start the download ``modelDownload`` allows when it has just been switched on."""
        if not self.server.config.model_download:
            return
        name, device = self.server.requested_model()
        plan = self._plan(name, device)
        if plan.fetch is not None:
            self._start_wanted(plan.fetch)

    def rows(self) -> list[dict]:
        """``finch.models.list``: every known model, as this server sees the machine."""
        from finch_lsp.models.listing import model_rows
        from finch_lsp.models.registry import LOADERS

        loaded = self.server.engine.loaded
        _, device = self.server.requested_model()
        return model_rows(probe_machine(device), active=getattr(loaded, "name", None), loaders=LOADERS)

    def pull(self, model: HubModel) -> dict:
        """``finch.models.pull``: ``{"started": bool, "reason"?: str}``."""
        from finch_lsp.models.local_cache import is_present, size_on_disk

        with self._lock:
            if model.name in self._running:
                return {"started": False, "reason": f"{model.name} is already downloading"}
            if is_present(model.repo):
                size = format_size(size_on_disk(model.repo))
                return {"started": False, "reason": f"{model.name} is already downloaded ({size})"}
            if is_offline():
                return {"started": False, "reason": offline_error(model.repo).message}
            thread = threading.Thread(target=self._download, args=(model,), name=f"finch-pull-{model.name}", daemon=True)
            self._running[model.name] = thread
        thread.start()
        return {"started": True}

    # -- inside ---------------------------------------------------------------------------
    def _plan(self, requested: str, device: str) -> ServePlan:
        from finch_lsp.models.listing import present_models

        return serving_plan(requested, probe_machine(device), present_models(), self.server.config.model_download)

    def _start_wanted(self, model: HubModel) -> None:
        answer = self.pull(model)
        if not answer["started"] and "already downloading" not in answer["reason"]:
            self.server.show(f"finch.modelDownload is on, but {answer['reason']}", _message_type("Warning"))

    def _download(self, model: HubModel) -> None:
        from finch_lsp.models.download import pull
        from finch_lsp.progress import ProgressReporter

        progress = ProgressReporter(self.server, f"finch: downloading {model.name}")
        progress.start(f"{model.repo}, about {format_size(model.download_bytes)}")
        throttle = Throttle(interval_s=0.5, step=1)

        def on_progress(snapshot: ProgressSnapshot) -> None:
            if throttle.due(snapshot.percentage) or snapshot.done >= snapshot.total:
                progress.report(format_progress(snapshot), snapshot.percentage)

        try:
            result = pull(model.repo, on_progress=on_progress, on_status=progress.report)
        except DownloadError as error:
            self._failed(model, progress, error.message)
            return
        except Exception as error:  # noqa: BLE001 - a thread must say what went wrong
            log.exception("download of %s failed", model.repo)
            self._failed(model, progress, f"{type(error).__name__}: {error}")
            return
        finally:
            with self._lock:
                self._running.pop(model.name, None)
        progress.finish(f"downloaded {format_size(result.total_bytes)}")
        self.server.show(f"downloaded {model.name} ({result.summary()})")
        self.server.call_soon(self._switch_if_wanted)

    def _failed(self, model: HubModel, progress, message: str) -> None:
        progress.finish("failed")
        self.server.show(f"could not download {model.name}: {message}", _message_type("Error"))

    def _switch_if_wanted(self) -> None:
        """After a download: reload when the settings now resolve to another model."""
        name, device = self.server.requested_model()
        if self._plan(name, device).load != self.server.model_name:
            self.server.start_loading()


def _message_type(kind: str):
    from lsprotocol import types

    return getattr(types.MessageType, kind)
