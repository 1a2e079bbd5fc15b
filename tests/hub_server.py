"""A Hugging Face hub on 127.0.0.1 for tests: the URL layout and headers huggingface_hub needs.

Serves ``GET /api/models/{repo}/revision/{rev}`` (with ``?blobs=true`` file metadata) and
``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag`` (the git blob id,
or for LFS files the sha256 with ``X-Linked-Etag``/``X-Linked-Size``), ``Content-Length`` and
``Range`` requests (206 with ``Content-Range``). Tests can make it refuse a repository, serve
wrong bytes for a file, or stall in the middle of one; it logs every request it answers.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

STALL_LIMIT_S = 300.0
RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    """One model repository at one commit; ``*.safetensors`` files are stored in LFS."""

    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"

    @staticmethod
    def from_directory(directory: Path, **kwargs) -> HubRepo:
        files = {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
        return HubRepo(files, **kwargs)

    def is_lfs(self, path: str) -> bool:
        return path.endswith(".safetensors")

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.files[path]).hexdigest()

    def sibling(self, path: str) -> dict:
        data = self.files[path]
        entry = {"rfilename": path, "size": len(data), "blobId": git_blob_id(data)}
        if self.is_lfs(path):
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256(path)}\nsize {len(data)}\n".encode()
            entry |= {"blobId": git_blob_id(pointer), "size": len(pointer), "lfs": {"size": len(data), "sha256": self.sha256(path), "pointerSize": len(pointer)}}
        return entry

    def etag(self, path: str) -> str:
        return self.sha256(path) if self.is_lfs(path) else git_blob_id(self.files[path])


@dataclass
class Stall:
    """Send ``after`` bytes of ``path``, then wait until ``release`` is set (once)."""

    path: str
    after: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    used: bool = False


class HubServer:
    """The hub, in a thread; use as a context manager. ``url`` is what HF_ENDPOINT gets."""

    def __init__(self, repos: dict[str, HubRepo]) -> None:
        self.repos = repos
        self.refuse: dict[str, int] = {}  # repo id -> HTTP status (401, 403)
        self.corrupt: set[tuple[str, str]] = set()  # (repo id, path): same length, wrong bytes
        self.stall: Stall | None = None
        self.cut: dict[str, int] = {}  # path -> offset where every answer drops the connection
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.stall is not None:
            self.stall.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def log(self, **entry) -> None:
        with self._lock:
            self.requests.append(entry)

    def gets(self, path: str) -> list[dict]:
        """The GET requests for a file (``path`` relative to the repository)."""
        with self._lock:
            return [r for r in self.requests if r["method"] == "GET" and r.get("file") == path]


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # noqa: A002 - quiet test output
            return None

        def do_GET(self) -> None:  # noqa: N802
            self._answer(send_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(send_body=False)

        def _answer(self, send_body: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/([^/]+)", path)
            resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if api:
                self._api(*api.groups())
            elif resolve:
                self._file(*resolve.groups(), send_body=send_body)
            else:
                self._error(404, "EntryNotFound", f"no route {path}")

        def _repo(self, repo_id: str, revision: str) -> HubRepo | None:
            if repo_id in hub.refuse:
                self._error(hub.refuse[repo_id], "RepoNotFound", "Invalid username or password.")
                return None
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            if revision not in ("main", repo.commit):
                self._error(404, "RevisionNotFound", "Invalid rev id")
                return None
            return repo

        def _api(self, repo_id: str, revision: str) -> None:
            hub.log(method=self.command, api=repo_id, query=urlsplit(self.path).query)
            repo = self._repo(repo_id, revision)
            if repo is None:
                return
            body = json.dumps({"id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False, "siblings": [repo.sibling(p) for p in repo.files]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _file(self, repo_id: str, revision: str, file: str, send_body: bool) -> None:
            hub.log(method=self.command, repo=repo_id, file=file, range=self.headers.get("Range"))
            repo = self._repo(repo_id, revision)
            if repo is None:
                return
            if file not in repo.files:
                self._error(404, "EntryNotFound", "Entry not found", repo.commit)
                return
            data = repo.files[file]
            if (repo_id, file) in hub.corrupt:
                data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
            start, status = 0, 200
            match = RANGE.match(self.headers.get("Range") or "")
            if match and send_body:
                start, status = int(match.group(1)), 206
            self.send_response(status)
            etag = repo.etag(file)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{etag}"')
            if repo.is_lfs(file):
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if send_body:
                self._send(file, data, start)

        def _send(self, file: str, data: bytes, start: int) -> None:
            stall = hub.stall
            try:
                if stall is not None and stall.path == file and not stall.used and start < stall.after:
                    stall.used = True
                    self.wfile.write(data[start : stall.after])
                    self.wfile.flush()
                    stall.reached.set()
                    stall.release.wait(STALL_LIMIT_S)
                    start = stall.after
                end = hub.cut.get(file, len(data))
                self.wfile.write(data[start:end])
                if end < len(data):  # a connection lost mid-file: Content-Length promised more
                    self.wfile.flush()
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _error(self, status: int, code: str, message: str, commit: str | None = None) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            if commit:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def save_tiny_qwen2(directory: Path) -> Path:
    """tiny-qwen2 (seeded weights, Qwen2.5 tokenizer) written by save_pretrained into ``directory``."""
    from finch_lsp.models import load_model

    loaded = load_model("tiny-qwen2", "cpu")
    loaded.model.save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)
    return directory
