"""The command line: server options hold wherever they are given."""

import pytest

from finch_lsp.cli import build_parser


@pytest.mark.parametrize("argv", [
    ["--data-dir", "D", "--model", "m", "--log-level", "debug", "bench", "--replay"],
    ["bench", "--replay", "--data-dir", "D", "--model", "m", "--log-level", "debug"],
    ["--data-dir", "X", "bench", "--data-dir", "D", "--model", "m", "--log-level", "DEBUG", "--replay"],
])
def test_server_options_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert (args.data_dir, args.model, args.log_level, args.replay) == ("D", "m", "DEBUG", True)


def test_defaults_without_options():
    for argv in ([], ["bench"], ["demo"]):
        args = build_parser().parse_args(argv)
        assert (args.data_dir, args.model, args.device, args.log_file, args.log_level) == (None, None, None, None, "INFO")


def test_families_first_seed():
    args = build_parser().parse_args(["bench", "--learning", "--families", "utc", "--seed", "2", "--seeds", "3"])
    assert (args.seed, args.seeds) == (2, 3)
