"""The typing replay's pure parts: where the cursor stops, what is accepted, how files split."""

from pathlib import Path

import pytest

from finch_lsp.tools.replay import Tally, accepted_part, cursor_points, split_files

SOURCE = "import os\n\n\ndef f(x):\n    # a comment\n    value = x + 1\n    return value\n"


def test_cursor_points_stop_after_the_indentation_of_code_lines():
    points = cursor_points(SOURCE, per_file=10)
    assert [rest for _, rest in points] == ["import os", "def f(x):", "value = x + 1", "return value"]
    prefix, rest = points[2]
    assert prefix.endswith("\n    ") and SOURCE.startswith(prefix + rest)


def test_cursor_points_are_spread_and_capped():
    text = "".join(f"value_{i} = {i}\n" for i in range(100))
    points = cursor_points(text, per_file=5)
    assert len(points) == 5 and points[0][1] == "value_0 = 0" and points[1][1] == "value_20 = 20"


def test_accepted_part_is_the_first_line_when_the_line_starts_with_it():
    assert accepted_part("x + 1", "x + 1") == "x + 1"
    assert accepted_part("x + 1\n    return", "x + 1  # more") == "x + 1"
    assert accepted_part("x - 1", "x + 1") == ""
    assert accepted_part("   ", "   x") == ""


def test_split_alternates_and_tally_ratios():
    files = [Path(f"{c}.py") for c in "abcde"]
    assert split_files(files) == (files[0::2], files[1::2])
    tally = Tally(typed=200, saved=50, shown=10, accepted=4)
    assert (tally.saved_share, tally.acceptance) == (0.25, 0.4)
    assert Tally().saved_share == 0.0 and Tally().acceptance == 0.0


def test_gate_line_names_the_humaneval_subset_only_when_it_ran():
    from finch_lsp.tools.replay import gate_line

    assert gate_line({}) == ""
    line = gate_line({"pass_before": 2, "pass_after": 2, "pass_total": 40, "general_kept": 39, "general_total": 40})
    assert "2 -> 2 of 40" in line and "39/40" in line


class _FakeClient:
    """Answers a replay as a server with no suggestions would; records what it was sent."""

    def __init__(self):
        self.sent = []
        self.trained = False
        self.trainings = 0
        self.new_since_training = 0
        self.version = None

    def notify(self, method, params):
        if method == "textDocument/didOpen":
            self.sent.append(("open", params["textDocument"]["uri"].rsplit("_", 1)[-1]))
        elif method == "workspace/didChangeConfiguration":
            self.sent.append(("implicit", params["settings"]["finch"]["training"]["implicit"]))

    def request(self, method, params):
        return {"items": []}

    def command(self, name, *args):
        if name == "finch.status":
            return {"model": {"state": "ready"}, "buffer": {"examples": 0, "newSinceTraining": self.new_since_training}, "training": {"state": "idle"}, "adapter": {"version": self.version}}
        if name == "finch.adapters.list":  # a refused adapter, as ``finch.adapters.list`` lists it
            return [{"version": 1, "active": False, "evaluation": {"passed": False}, "verdict": "corrections: it comes close to only 2 of 8"}] if self.trained else []
        if name == "finch.train":
            self.trained, self.trainings, self.new_since_training = True, self.trainings + 1, 0
        if name == "finch.adapters.use":
            self.sent.append(("use", args[0]))
            self.version = args[0]
        return {"started": True}

    def wait_for_status(self, done, timeout):
        status = self.command("finch.status")
        assert done(status)
        return status


def test_implicit_feedback_is_on_only_while_the_users_files_are_typed(tmp_path):
    from finch_lsp.tools.replay import Replayer, measure

    files = []
    for name in ("held.py", "mine.py"):
        (tmp_path / name).write_text("def f(x):\n    return x + 1\n" * 5)
        files.append(tmp_path / name)
    client = _FakeClient()
    result = measure(Replayer(client), [files[1]], [files[0]], per_file=2)
    assert client.trained and not result["activated"] and result["verdict"] == "corrections: it comes close to only 2 of 8"
    assert client.sent == [("open", "held.py"), ("implicit", True), ("open", "mine.py"), ("implicit", False), ("open", "held.py"),
                           ("use", 1), ("open", "held.py")]  # the refused adapter, used by hand, on the held-out files again
    assert result["used"] is not None and result["used"].typed == result["after"].typed
    assert client.trainings == 1


def test_what_was_typed_after_a_training_started_is_trained_on_before_the_held_out_files(tmp_path):
    from finch_lsp.tools.replay import Replayer, measure

    (tmp_path / "a.py").write_text("def f(x):\n    return x + 1\n" * 5)
    client = _FakeClient()
    client.trained, client.new_since_training = True, 3  # the threshold trained on part of the user's files
    measure(Replayer(client), [tmp_path / "a.py"], [tmp_path / "a.py"], per_file=2)
    assert client.trainings == 1 and client.new_since_training == 0
    measure(Replayer(client), [tmp_path / "a.py"], [tmp_path / "a.py"], per_file=2)
    assert client.trainings == 1  # nothing new since: the adapter the threshold trained is measured


def test_render_shows_the_refused_adapter_used_by_hand_only_when_it_was():
    from finch_lsp.tools.replay import render

    result = {"before": Tally(typed=100, saved=3, shown=10, accepted=1), "after": Tally(typed=100, saved=3, shown=10, accepted=1),
              "examples": 36, "activated": False, "verdict": "corrections", "evaluation": {}, "used": None, "training": 95.4}
    from finch_lsp.tools.latency import machine_info

    args = ("smollm2-135m", "click", [Path("a.py")], [Path("b.py")], machine_info(), "finch-lsp bench --replay")
    assert "used by hand" not in render(result, *args)
    assert "training and gate took 95 s" in render(result, *args)
    result["used"] = Tally(typed=100, saved=6, shown=10, accepted=2)
    assert "| the refused adapter, used by hand | 6.0% (6/100) | 20.0% | 10 |" in render(result, *args)


def test_replay_settings_are_training_settings_parsed_as_json():
    from finch_lsp.tools.replay import training_settings

    assert training_settings(["decodeMinShift=0", "gateTasks=10"]) == {"decodeMinShift": 0, "gateTasks": 10}
    with pytest.raises(SystemExit, match="maxSteps"):
        training_settings(["maxSteps=3"])
    with pytest.raises(SystemExit, match="implicit"):
        training_settings(["implicit=true"])  # the replay turns it on for the user's files only
