"""The feedback store: durable lines, private files, torn tails, concurrent writers."""

import os
import stat
import subprocess
import sys

from finch_lsp.learning.store import Example, FeedbackStore


def example(**kw) -> Example:
    return Example(rating=kw.pop("rating", "critical"), weight=kw.pop("weight", 10.0), suggestion_id=kw.pop("suggestion_id", "s1"), **kw)


def test_round_trip_and_permissions(tmp_path):
    store = FeedbackStore(tmp_path)
    e = example(note="use pathlib", correction="return Path(p).read_text()")
    store.append(e)
    again = FeedbackStore(tmp_path).latest()
    assert again == [e] and again[0].schema == 1 and len(again[0].id) == 32
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.dir).st_mode) == 0o700


def test_later_line_supersedes_and_targets(tmp_path):
    store = FeedbackStore(tmp_path)
    pending = example(pending=True)
    store.append(pending)
    import msgspec

    store.append(msgspec.structs.replace(pending, pending=False, correction="x", correction_source="edit"))
    (latest,) = store.latest()
    assert latest.correction == "x" and latest.target == "x"
    assert example(rating="good", suggestion="a", kept="b").target == "b"
    assert example(pending=True).target is None


def test_torn_last_line_is_skipped_and_repaired(tmp_path):
    store = FeedbackStore(tmp_path)
    store.append(example(note="one"))
    with open(store.path, "ab") as f:
        f.write(b'{"schema": 1, "id": "torn", "rat')  # a crash mid-write
    assert [e.note for e in store.latest()] == ["one"]
    store.append(example(note="two"))
    assert [e.note for e in store.latest()] == ["one", "two"]


def test_garbage_lines_do_not_stop_reading(tmp_path):
    store = FeedbackStore(tmp_path)
    store.append(example(note="a"))
    with open(store.path, "ab") as f:
        f.write(b"not json\n{\"valid_json\": \"wrong shape\"}\n")
    store.append(example(note="b"))
    assert [e.note for e in store.latest()] == ["a", "b"]


WRITER = """
import sys
from pathlib import Path
from finch_lsp.learning.store import Example, FeedbackStore
store = FeedbackStore(Path(sys.argv[1]))
for i in range(200):
    store.append(Example(rating="good", weight=1.0, suggestion_id=f"{sys.argv[2]}-{i}", note="x" * 3000))
"""


def test_two_processes_never_interleave(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name]) for name in ("a", "b")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = (tmp_path / "feedback" / "examples.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 401
    records = FeedbackStore(tmp_path).latest()
    assert len(records) == 400 and {r.suggestion_id.split("-")[0] for r in records} == {"a", "b"}


def test_a_symlinked_store_is_refused_and_its_target_untouched(tmp_path):
    import pytest

    from finch_lsp.learning.store import StoreRefused

    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    os.chmod(target, 0o644)
    data = tmp_path / "data"
    (data / "feedback").mkdir(parents=True)
    (data / "feedback" / "examples.jsonl").symlink_to(target)
    store = FeedbackStore(data)
    assert store.problem and "symbolic link" in store.problem
    with pytest.raises(StoreRefused, match="not recorded"):
        store.append(example())
    assert store.latest() == []
    assert target.read_text() == "precious\n" and stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_a_non_finite_weight_is_never_written(tmp_path):
    import pytest

    store = FeedbackStore(tmp_path)
    for weight in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="finite"):
            store.append(example(weight=weight))
    assert store.path.read_bytes() == b""


def test_a_null_weight_written_by_an_older_version_reads_back(tmp_path):
    import json

    store = FeedbackStore(tmp_path)
    line = json.loads(FeedbackStore.__module__ and __import__("msgspec").json.encode(example(rating="medium", note="old")))
    line["weight"] = None
    store.path.write_text(json.dumps(line) + "\n")
    (record,) = store.latest()
    assert (record.note, record.rating, record.weight) == ("old", "medium", 3.0)


def test_a_looser_store_is_tightened(tmp_path):
    (tmp_path / "feedback").mkdir(mode=0o755)
    os.chmod(tmp_path / "feedback", 0o755)
    (tmp_path / "feedback" / "examples.jsonl").write_text("")
    os.chmod(tmp_path / "feedback" / "examples.jsonl", 0o644)
    store = FeedbackStore(tmp_path)
    assert stat.S_IMODE(os.stat(store.dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.dir / "examples.lock").st_mode) == 0o600


def test_a_linked_feedback_dir_is_refused_without_writing_there(tmp_path):
    import pytest

    from finch_lsp.learning.store import StoreRefused

    outside = tmp_path / "outside"
    outside.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "feedback").symlink_to(outside, target_is_directory=True)
    store = FeedbackStore(data)
    assert "symbolic link" in store.problem and store.latest() == []
    with pytest.raises(StoreRefused):
        store.append(example())
    assert list(outside.iterdir()) == []


def test_a_linked_jobs_dir_turns_training_off_with_a_reason(tmp_path):
    from finch_lsp.learning.child import TrainerProcess

    outside = tmp_path / "outside"
    outside.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "jobs").symlink_to(outside, target_is_directory=True)
    trainer = TrainerProcess(data)
    reason = trainer.start(b"{}", lambda e: None, lambda r, e: None)
    assert reason and "training is off" in reason and "symbolic link" in reason
    assert list(outside.iterdir()) == [] and trainer.while_no_trainer_runs(lambda: 1) is None
