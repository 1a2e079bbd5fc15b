"""Where a bench's measured section goes in the docs."""

from finch_lsp.tools.report import add_section, growing_section


def test_a_missing_part_is_created_at_the_end_with_its_introduction():
    doc = add_section("# Learning\n\n## Other\n\ntext\n", "## Replay", "What it measures.", "### run 1\n\n| a |\n", title="# Learning")
    assert doc == "# Learning\n\n## Other\n\ntext\n\n## Replay\n\nWhat it measures.\n\n### run 1\n\n| a |\n"


def test_a_section_goes_at_the_end_of_its_part_not_of_the_document():
    doc = "# B\n\n## Replay\n\nintro\n\n### run 1\n\n## Later\n\nkept\n"
    assert add_section(doc, "## Replay", "intro", "### run 2\n") == "# B\n\n## Replay\n\nintro\n\n### run 1\n\n### run 2\n\n## Later\n\nkept\n"


def test_an_empty_document_gets_its_title():
    assert add_section("", "## X", "", "s\n", title="# Learning") == "# Learning\n\n## X\n\ns\n"


def test_a_growing_section_replaces_what_it_wrote_and_keeps_the_rest(tmp_path):
    path = tmp_path / "learning.md"
    path.write_text("# Learning\n\n## Families\n\n### an older run\n\n## Later\n\nkept\n")
    write = growing_section(path, "## Families", "", title="# Learning")
    write("### this run\n\n| 1 |\n")
    write("### this run\n\n| 1 |\n| 2 |\n")
    assert path.read_text() == "# Learning\n\n## Families\n\n### an older run\n\n### this run\n\n| 1 |\n| 2 |\n\n## Later\n\nkept\n"


def test_a_growing_section_creates_its_file(tmp_path):
    write = growing_section(tmp_path / "new.md", "## X", "", title="# Learning")
    write("a\n")
    write("b\n")
    assert (tmp_path / "new.md").read_text() == "# Learning\n\n## X\n\nb\n"
