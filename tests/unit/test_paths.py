"""The data dir as a boundary: no link followed out of it, private modes, a looser tree tightened."""

import os
import stat

import pytest

from finch_lsp.paths import OutsideDataDir, data_dir, inside, open_private, private_file, private_subdir, read_private, tighten


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_new_dirs_and_their_parents_are_private(tmp_path):
    made = data_dir(tmp_path / "a" / "b" / "c")
    assert all(mode(p) == 0o700 for p in (tmp_path / "a", tmp_path / "a" / "b", made))
    sub = private_subdir(made, "adapters", "tiny-qwen2")
    assert mode(made / "adapters") == 0o700 and mode(sub) == 0o700


def test_a_linked_subdir_out_of_the_data_dir_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "data"
    root.mkdir()
    (root / "adapters").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutsideDataDir, match="symbolic link"):
        private_subdir(root, "adapters", "m")
    assert list(outside.iterdir()) == []


def test_files_are_opened_without_following_links(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    os.chmod(target, 0o644)
    root = tmp_path / "data"
    root.mkdir()
    (root / "f").symlink_to(target)
    for flags in (os.O_WRONLY | os.O_APPEND | os.O_CREAT, os.O_RDONLY):
        with pytest.raises(OutsideDataDir, match="symbolic link"):
            open_private(root, root / "f", flags)
    with pytest.raises(OutsideDataDir):
        read_private(root, root / "f", 100)
    assert target.read_text() == "keep" and mode(target) == 0o644


def test_a_file_in_a_linked_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "data"
    root.mkdir()
    (root / "v0001").symlink_to(outside, target_is_directory=True)
    assert not inside(root, root / "v0001" / "meta.json")
    with pytest.raises(OutsideDataDir):
        open_private(root, root / "v0001" / "verdict.json", os.O_WRONLY | os.O_CREAT)
    assert list(outside.iterdir()) == []


def test_open_private_creates_0600_and_tightens_a_looser_file(tmp_path):
    fd = open_private(tmp_path, tmp_path / "new", os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    (tmp_path / "old").write_text("x")
    os.chmod(tmp_path / "old", 0o644)
    os.close(open_private(tmp_path, tmp_path / "old", os.O_RDONLY))
    assert mode(tmp_path / "new") == 0o600 and mode(tmp_path / "old") == 0o600


def test_read_private_refuses_more_than_its_limit(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 101)
    with pytest.raises(ValueError, match="more than"):
        read_private(tmp_path, tmp_path / "big", 100)
    assert read_private(tmp_path, tmp_path / "big", 101) == b"x" * 101


def test_a_looser_tree_is_tightened_and_links_left_alone(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    root = tmp_path / "data"
    (root / "adapters" / "m").mkdir(parents=True)
    (root / "trainer.log").write_text("log")
    (root / "link").symlink_to(outside)
    for path, loose in ((root, 0o755), (root / "adapters", 0o755), (root / "adapters" / "m", 0o775), (root / "trainer.log", 0o644)):
        os.chmod(path, loose)
    assert tighten(root) == []
    assert [mode(p) for p in (root, root / "adapters", root / "adapters" / "m", root / "trainer.log")] == [0o700, 0o700, 0o700, 0o600]
    assert mode(outside) == 0o644


def test_the_log_file_is_private(tmp_path):
    log = tmp_path / "finch.log"
    private_file(log)
    assert mode(log) == 0o600
    os.chmod(log, 0o644)
    private_file(log)
    assert mode(log) == 0o600
