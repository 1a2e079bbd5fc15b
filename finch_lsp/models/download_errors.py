"""Why a download failed, in words that say what to do: one ``DownloadError`` per cause."""

from __future__ import annotations

import os

from finch_lsp.models.hf import hub_is_offline

KINDS = ("offline", "unreachable", "refused", "not_found", "disk_full", "checksum", "interrupted", "hub_error")


class DownloadError(Exception):
    """A download failed; ``kind`` is one of KINDS and the message says what to do."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind, self.message, self.detail = kind, message, detail or message


def is_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, now or when huggingface_hub was imported."""
    from huggingface_hub import constants

    return hub_is_offline() or bool(constants.HF_HUB_OFFLINE)


def offline_error(repo_id: str) -> DownloadError:
    variables = [v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(v)] or ["HF_HUB_OFFLINE"]
    return DownloadError(
        "offline",
        f"cannot download {repo_id}: {' and '.join(variables)} is set, which keeps finch and the "
        f"Hugging Face libraries off the network; unset it to download, or copy a Hugging Face "
        "cache that holds the model from a machine with internet",
    )


def explain(error: BaseException, repo_id: str, endpoint: str | None, path: str | None = None) -> DownloadError:
    """The DownloadError for an exception raised by huggingface_hub while talking to the hub."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, DownloadError):
        return error
    where = endpoint or constants.ENDPOINT
    what = f"{repo_id}/{path}" if path else repo_id
    detail = _first_line(error)
    if isinstance(error, OfflineModeIsEnabled):
        return offline_error(repo_id)
    if isinstance(error, GatedRepoError):
        return DownloadError(
            "refused",
            f"the hub refused {what}: the repository is gated ({_status(error)}); accept its terms "
            f"on the hub's page for {repo_id} and log in with `hf auth login`, then pull again",
            detail,
        )
    if isinstance(error, RevisionNotFoundError):
        return DownloadError("not_found", f"{repo_id} has no such revision on {where} ({_status(error)})", detail)
    if isinstance(error, RemoteEntryNotFoundError):
        return DownloadError("not_found", f"{where} has no file {what} ({_status(error)}); the repository changed: pull again", detail)
    if isinstance(error, RepositoryNotFoundError) or (isinstance(error, HfHubHTTPError) and _code(error) in (401, 403)):
        code = _code(error)
        if code == 404:
            message = f"{where} has no repository {repo_id} (HTTP 404); check the name and HF_ENDPOINT"
            return DownloadError("not_found", message, detail)
        return DownloadError(
            "refused",
            f"the hub at {where} refused {what} (HTTP {code}): it needs a login or is private; "
            "log in with `hf auth login` (or set HF_TOKEN) and pull again",
            detail,
        )
    if isinstance(error, HfHubHTTPError):
        return DownloadError(
            "hub_error",
            f"the hub at {where} answered {what} with HTTP {_code(error)}; try again later",
            detail,
        )
    if _is_connection_error(error):
        kind = "unreachable" if _is_connect_failure(error) else "interrupted"
        return DownloadError(
            kind,
            f"cannot reach the Hugging Face hub at {where} ({detail}); check the network connection, "
            "a proxy (HTTPS_PROXY) or HF_ENDPOINT, and pull again",
            detail,
        )
    return DownloadError("hub_error", f"downloading {what} from {where} failed: {type(error).__name__}: {detail}", detail)


def _is_connection_error(error: BaseException) -> bool:
    http = _http_module()
    transient = (http.TransportError,) if http is not None else ()
    return isinstance(error, (*transient, ConnectionError, TimeoutError))


def _is_connect_failure(error: BaseException) -> bool:
    http = _http_module()
    if http is not None and isinstance(error, (http.ConnectError, http.ConnectTimeout)):
        return True
    return isinstance(error, ConnectionRefusedError)


def _http_module():
    """The HTTP client module huggingface_hub raises from (httpx2 in huggingface_hub 2.x)."""
    try:
        import httpx2

        return httpx2
    except ImportError:
        try:
            import httpx

            return httpx
        except ImportError:
            return None


def _code(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _status(error: BaseException) -> str:
    code = _code(error)
    return f"HTTP {code}" if code else type(error).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
