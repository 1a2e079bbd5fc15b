"""Downloading models from a hub on 127.0.0.1: progress, resume, verification, failures, removal.

The repository is tiny-qwen2 written by save_pretrained, served as Qwen/Qwen2.5-Coder-0.5B.
In-process tests pass the endpoint and cache directory; the command-line tests run
``finch-lsp models`` with HF_ENDPOINT and HF_HUB_CACHE in its environment, as users would.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finch_lsp.models import download as download_module
from finch_lsp.models.download import pull
from finch_lsp.models.download_errors import DownloadError
from finch_lsp.models.local_cache import is_present, remove, repo_storage, size_on_disk
from tests.hub_server import HubRepo, HubServer, Stall, save_tiny_qwen2

REPO = "Qwen/Qwen2.5-Coder-0.5B"
WEIGHTS = "model.safetensors"
CLI = [sys.executable, "-m", "finch_lsp", "models"]
CHUNK = 10 << 20  # huggingface_hub writes what it receives in chunks of 10 MiB


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> Path:
    return save_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture
def hub(tiny_files):
    with HubServer({REPO: HubRepo.from_directory(tiny_files)}) as server:
        yield server


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "hf-cache"


def hub_env(hub_url: str, tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    return {**env, "HF_ENDPOINT": hub_url, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_CACHE": str(tmp_path / "hf-cache"), **extra}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def assert_nothing_half_written(cache: Path, repo_id: str = REPO) -> None:
    """No model in the snapshot, no partial file left: nothing that would load as broken."""
    assert not is_present(repo_id, cache)
    storage = repo_storage(repo_id, cache)
    assert not list(storage.glob("snapshots/*/config.json"))
    assert not list(storage.glob("blobs/*.incomplete"))


def test_pull_reports_one_progress_for_the_whole_model_and_verifies_it(hub, cache, tiny_files):
    seen = []
    result = pull(REPO, cache_dir=cache, endpoint=hub.url, on_progress=seen.append)
    total = sum(p.stat().st_size for p in tiny_files.iterdir())
    assert result.total_bytes == total == result.transferred_bytes and result.resumed_bytes == 0
    assert all(s.total == total for s in seen)
    assert [s.done for s in seen] == sorted(s.done for s in seen) and seen[-1].done == total
    assert is_present(REPO, cache) and size_on_disk(REPO, cache) == total
    for name in ("config.json", WEIGHTS, "tokenizer.json"):
        assert (result.snapshot / name).read_bytes() == (tiny_files / name).read_bytes()
    assert (repo_storage(REPO, cache) / "refs" / "main").read_text() == hub.repos[REPO].commit
    assert any("blobs=true" in r.get("query", "") for r in hub.requests)  # sizes and hashes asked for


def test_pull_of_a_present_model_transfers_nothing(hub, cache):
    pull(REPO, cache_dir=cache, endpoint=hub.url)
    hub.requests.clear()
    again = pull(REPO, cache_dir=cache, endpoint=hub.url)
    assert again.transferred_bytes == 0 and not [r for r in hub.requests if r["method"] == "GET" and "file" in r]
    assert again.summary() == f"{REPO} is already downloaded ({again.total_bytes / (1 << 20):.1f} MiB)"


def test_verified_blobs_not_yet_linked_are_linked_without_a_transfer(hub, cache):
    import shutil

    pull(REPO, cache_dir=cache, endpoint=hub.url)
    storage = repo_storage(REPO, cache)
    shutil.rmtree(storage / "snapshots")  # as if killed after the blobs, before the links
    (storage / "refs" / "main").unlink()
    assert not is_present(REPO, cache)
    hub.requests.clear()
    seen = []
    again = pull(REPO, cache_dir=cache, endpoint=hub.url, on_progress=seen.append)
    assert again.transferred_bytes == 0 and not [r for r in hub.requests if r["method"] == "GET" and "file" in r]
    assert all(s.done == again.total_bytes for s in seen)
    assert is_present(REPO, cache)


def test_a_file_with_the_wrong_hash_is_deleted_and_nothing_is_linked(hub, cache):
    hub.corrupt.add((REPO, WEIGHTS))
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=hub.url)
    error = raised.value
    assert error.kind == "checksum"
    assert f"{REPO}/{WEIGHTS} does not match what the hub publishes (expected sha256 {hub.repos[REPO].sha256(WEIGHTS)}" in error.message
    assert "the bad download was deleted" in error.message
    assert not (repo_storage(REPO, cache) / "blobs" / hub.repos[REPO].sha256(WEIGHTS)).exists()
    assert_nothing_half_written(cache)
    hub.corrupt.clear()  # the hub is fixed: the next pull succeeds
    assert pull(REPO, cache_dir=cache, endpoint=hub.url).snapshot.joinpath(WEIGHTS).is_file()
    assert is_present(REPO, cache)


@pytest.mark.parametrize(
    ("status", "kind", "says"),
    [(401, "refused", "refused Qwen/Qwen2.5-Coder-0.5B (HTTP 401): it needs a login or is private; log in with `hf auth login`"),
     (404, "not_found", "has no repository Qwen/Qwen2.5-Coder-0.5B (HTTP 404)")],
)
def test_the_hub_refusing_says_so(hub, cache, status, kind, says):
    if status == 404:
        hub.repos.pop(REPO)
    else:
        hub.refuse[REPO] = status
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=hub.url)
    assert raised.value.kind == kind and says in raised.value.message
    assert_nothing_half_written(cache)


def test_an_unreachable_hub_is_named(cache):
    url = closed_port_url()
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=url)
    assert raised.value.kind == "unreachable"
    assert raised.value.message.startswith(f"cannot reach the Hugging Face hub at {url} (")
    assert "check the network connection, a proxy (HTTPS_PROXY) or HF_ENDPOINT" in raised.value.message


def test_offline_mode_is_honoured_before_any_request(hub, cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=hub.url)
    assert raised.value.kind == "offline" and "HF_HUB_OFFLINE is set" in raised.value.message
    assert hub.requests == []


def test_too_little_disk_space_is_refused_before_the_first_byte(hub, cache, monkeypatch):
    monkeypatch.setattr(download_module, "free_bytes", lambda path: 1 << 20)
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=hub.url)
    assert raised.value.kind == "disk_full"
    assert "not enough disk space for Qwen/Qwen2.5-Coder-0.5B: it needs" in raised.value.message
    assert "has 1.0 MiB free" in raised.value.message
    assert not hub.gets(WEIGHTS)
    assert_nothing_half_written(cache)


def test_a_disk_that_fills_up_while_writing_is_reported(hub, cache, monkeypatch):
    from huggingface_hub import file_download

    def full_disk(url, temp_file, **kwargs):
        temp_file.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_download, "http_get", full_disk)
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=hub.url)
    assert raised.value.kind == "disk_full" and "the disk filled up while writing" in raised.value.message
    assert not is_present(REPO, cache)


def test_remove_deletes_the_model_and_partial_downloads(hub, cache):
    pull(REPO, cache_dir=cache, endpoint=hub.url)
    size = size_on_disk(REPO, cache)
    leftover = repo_storage(REPO, cache) / "blobs" / "deadbeef.incomplete"
    leftover.write_bytes(b"partial")
    removal = remove(REPO, cache)
    refs = len(hub.repos[REPO].commit)  # refs/main
    assert removal.found and removal.revisions == 1 and removal.freed_bytes == size + len(b"partial") + refs
    assert not repo_storage(REPO, cache).exists() and not is_present(REPO, cache)
    assert not remove(REPO, cache).found


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    """Poll ``condition`` (a file growing, a process state) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_killed_pull_resumes_with_a_range_request(hub, tmp_path):
    env = hub_env(hub.url, tmp_path)
    repo = hub.repos[REPO]
    size = len(repo.files[WEIGHTS])
    hub.stall = Stall(WEIGHTS, after=CHUNK + (1 << 20))
    first = subprocess.Popen([*CLI, "pull", "qwen2.5-coder-0.5b"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert hub.stall.reached.wait(120), "the pull never reached the middle of the weights"
        partial = tmp_path / "hf-cache" / "models--Qwen--Qwen2.5-Coder-0.5B" / "blobs" / f"{repo.sha256(WEIGHTS)}.incomplete"
        wait_for(lambda: partial.is_file() and partial.stat().st_size >= CHUNK, "the first 10 MiB on disk")
        first.send_signal(signal.SIGKILL)
        first.wait(60)
    finally:
        hub.stall.release.set()
        if first.poll() is None:
            first.kill()
    kept = partial.stat().st_size
    assert CHUNK <= kept < size
    assert not is_present(REPO, tmp_path / "hf-cache")

    second = subprocess.run([*CLI, "pull", "qwen2.5-coder-0.5b"], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"resuming {WEIGHTS} at 10.0 MiB of" in second.stderr
    assert hub.gets(WEIGHTS)[-1]["range"] == f"bytes={kept}-"
    assert f"downloaded {REPO} (" in second.stdout and "resumed after" in second.stdout
    assert "auto now picks qwen2.5-coder-0.5b" in second.stdout
    weights = tmp_path / "hf-cache" / "models--Qwen--Qwen2.5-Coder-0.5B" / "snapshots" / repo.commit / WEIGHTS
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == repo.sha256(WEIGHTS)
    assert not partial.exists()


def test_a_connection_lost_for_good_keeps_the_partial_file_for_the_next_pull(hub, cache):
    hub.cut[WEIGHTS] = CHUNK + (2 << 20)  # every attempt stops here; huggingface_hub retries 5 times
    with pytest.raises(DownloadError) as raised:
        pull(REPO, cache_dir=cache, endpoint=hub.url)
    error = raised.value
    assert error.kind == "interrupted"
    assert error.message.startswith(f"the download of {REPO}/{WEIGHTS} was interrupted (")
    from finch_lsp.models.catalog import format_size

    weights = format_size(len(hub.repos[REPO].files[WEIGHTS]))
    assert error.message.endswith(f"10.0 MiB of {weights} is kept: pull again to resume")
    assert not is_present(REPO, cache)
    hub.cut.clear()
    result = pull(REPO, cache_dir=cache, endpoint=hub.url)
    assert result.resumed_bytes == CHUNK and hub.gets(WEIGHTS)[-1]["range"] == f"bytes={CHUNK}-"
    assert is_present(REPO, cache)


def test_ctrl_c_says_how_to_resume(hub, tmp_path):
    hub.stall = Stall(WEIGHTS, after=CHUNK + (1 << 20))
    # The pull starts as from a terminal, with Ctrl-C's default action: a run launched in the
    # background (`cmd &`, nohup) ignores SIGINT, and exec would pass that on to the child.
    launcher = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        pulling = subprocess.Popen([*CLI, "pull", "qwen2.5-coder-0.5b"], env=hub_env(hub.url, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        if launcher is not None:  # None: a handler set outside Python, which cannot be put back
            signal.signal(signal.SIGINT, launcher)
    try:
        assert hub.stall.reached.wait(120)
        pulling.send_signal(signal.SIGINT)
        _, stderr = pulling.communicate(timeout=120)
    finally:
        hub.stall.release.set()
        if pulling.poll() is None:
            pulling.kill()
    assert pulling.returncode == 130
    assert "finch: interrupted; what was downloaded is kept: run `finch-lsp models pull qwen2.5-coder-0.5b` again to resume" in stderr
    assert not is_present(REPO, tmp_path / "hf-cache")


@pytest.mark.parametrize(
    ("extra", "says"),
    [({"HF_HUB_OFFLINE": "1"}, "cannot download Qwen/Qwen2.5-Coder-0.5B: HF_HUB_OFFLINE is set"),
     ({"HF_ENDPOINT": "unreachable"}, "cannot reach the Hugging Face hub at http://127.0.0.1:")],
)
def test_the_command_line_says_why_it_cannot_download(hub, tmp_path, extra, says):
    if extra.get("HF_ENDPOINT") == "unreachable":
        extra = {"HF_ENDPOINT": closed_port_url()}
    result = subprocess.run([*CLI, "pull", "qwen2.5-coder-0.5b"], env=hub_env(hub.url, tmp_path, **extra), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert says in result.stderr
    assert not is_present(REPO, tmp_path / "hf-cache")


def test_list_and_remove_on_the_command_line(hub, tmp_path):
    import json

    env = hub_env(hub.url, tmp_path)
    before = json.loads(subprocess.run([*CLI, "list", "--json", "--device", "cpu"], env=env, capture_output=True, text=True, check=True).stdout)
    assert {row["name"] for row in before} >= {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-3b", "smollm2-135m", "tiny-qwen2"}
    assert [row["name"] for row in before if row["autoPick"]] == ["smollm2-135m"]
    assert not next(row for row in before if row["name"] == "qwen2.5-coder-0.5b")["present"]
    subprocess.run([*CLI, "pull", "qwen2.5-coder-0.5b"], env=env, capture_output=True, check=True, timeout=300)
    table = subprocess.run([*CLI, "list", "--device", "cpu"], env=env, capture_output=True, text=True, check=True).stdout
    row = next(line for line in table.splitlines() if line.startswith("qwen2.5-coder-0.5b "))
    assert " yes " in row and row.rstrip().endswith("<- auto")
    assert "auto picks qwen2.5-coder-0.5b on this machine: qwen2.5-coder-0.5b is the largest downloaded" in table
    removed = subprocess.run([*CLI, "remove", "qwen2.5-coder-0.5b"], env=env, capture_output=True, text=True, timeout=120)
    assert removed.returncode == 0 and removed.stdout.startswith(f"finch: removed {REPO} (")
    assert "auto now picks smollm2-135m" in removed.stdout
    again = subprocess.run([*CLI, "remove", "qwen2.5-coder-0.5b"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "nothing removed" in again.stderr
