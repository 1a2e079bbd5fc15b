"""Issue-level acceptance: teach "read files with pathlib" through the real server on the
embedded model, CPU, default settings; the preference generalises, the gate activates it, and no
unrelated completion turns from right to wrong.
"""

import asyncio

import pytest

from finch_lsp.tools.scenarios import MAX_UNRELATED_CHANGED, MIN_UNSEEN_HITS, TRAIN_CASES, UNRELATED, UNSEEN_PROMPTS, score, uses_pathlib
from tests.e2e.lsp import command, end_of, inline, open_doc, start, wait_ready, wait_training

pytestmark = pytest.mark.slow


async def complete(client, text: str, counter=iter(range(10_000))) -> str:
    uri = f"file:///w/accept_{next(counter)}.py"
    open_doc(client, uri, text)
    items = (await inline(client, uri, *end_of(text))).items
    return items[0].insert_text if items else ""


async def test_pathlib_preference_is_learned_without_forgetting(tmp_path):
    client, _ = await start(tmp_path, {"model": "smollm2-135m"})
    try:
        assert (await wait_ready(client, timeout=600))["model"]["state"] == "ready"
        unseen_before = [await complete(client, p) for p in UNSEEN_PROMPTS]
        unrelated_before = [await complete(client, p) for p, _ in UNRELATED]
        for prompt, correction in TRAIN_CASES:
            await complete(client, prompt)
            result = await command(client, "finch.feedback", {"rating": "critical", "correction": correction, "note": "read files with pathlib"})
            assert (result["weight"], result["pending"], result["trainingStarted"]) == (10, False, False)
        assert (await command(client, "finch.train"))["started"]
        status = await wait_training(client)
        assert status["training"]["state"] == "idle", status["training"]
        (adapter,) = await command(client, "finch.adapters.list")
        assert adapter["evaluation"]["passed"], adapter
        while (await command(client, "finch.status"))["adapter"]["version"] != 1:
            await asyncio.sleep(0.1)
        unseen_after = [await complete(client, p) for p in UNSEEN_PROMPTS]
        unrelated_after = [await complete(client, p) for p, _ in UNRELATED]
        result = score(unseen_after, unrelated_after, unrelated_before)
        newly = [p for p, b, a in zip(UNSEEN_PROMPTS, unseen_before, unseen_after) if uses_pathlib(a) and not uses_pathlib(b)]
        report = {"before": unseen_before, "after": unseen_after, "unrelated_before": unrelated_before, "unrelated_after": unrelated_after}
        assert len(newly) >= MIN_UNSEEN_HITS, report
        # what was right stays right; of the odd ones, at most one moves (issue 9: no single seed's exact lines)
        assert result["wrong"] == [] and len(result["changed"]) <= MAX_UNRELATED_CHANGED, report
    finally:
        await client.shutdown_session()
        await client.stop()
