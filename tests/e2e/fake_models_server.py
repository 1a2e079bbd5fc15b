"""A stand-in language server on stdio for the editors' model commands.

It answers `finch.models.list` and `finch.models.pull` by the contract the real server
implements (docs/protocol.md), so the clients' side can be tested without a hub or a model:
a pull reports `$/progress` titled "finch: downloading NAME" (bytes in the messages), then a
window/showMessage, and the model is listed as present afterwards. Unknown names are refused
with a reason. Run: python tests/e2e/fake_models_server.py
"""

from __future__ import annotations

import asyncio
import uuid

from lsprotocol import types
from pygls.lsp.server import LanguageServer

MB = 1_000_000
MODELS = [
    {"name": "qwen2.5-coder-0.5b", "repo": "Qwen/Qwen2.5-Coder-0.5B", "sizeBytes": 988 * MB,
     "cpuMemoryBytes": 2_000 * MB, "gpuMemoryBytes": 1_500 * MB, "present": False, "active": False, "autoPick": False},
    {"name": "qwen2.5-coder-1.5b", "repo": "Qwen/Qwen2.5-Coder-1.5B", "sizeBytes": 3_090 * MB,
     "cpuMemoryBytes": 6_000 * MB, "gpuMemoryBytes": 4_000 * MB, "present": False, "active": False, "autoPick": True,
     "why": "8-16 GB of memory on this machine"},
    {"name": "smollm2-135m", "repo": "HuggingFaceTB/SmolLM2-135M-Instruct", "sizeBytes": 270 * MB,
     "cpuMemoryBytes": 600 * MB, "gpuMemoryBytes": 400 * MB, "present": True, "active": True, "autoPick": False},
]
STEPS = 4

server = LanguageServer("finch-fake-models", "0")
pulls: list[str] = []


def model(name: str) -> dict | None:
    return next((m for m in MODELS if m["name"] == name), None)


async def download(name: str) -> None:
    token = f"finch-{uuid.uuid4().hex[:8]}"
    await server.work_done_progress.create_async(token)
    total = model(name)["sizeBytes"]
    server.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=f"finch: downloading {name}", percentage=0))
    for step in range(1, STEPS + 1):
        await asyncio.sleep(0.05)
        done = total * step // STEPS
        server.work_done_progress.report(token, types.WorkDoneProgressReport(
            message=f"{done // MB} MB of {total // MB} MB", percentage=100 * step // STEPS))
    server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=f"{name} downloaded"))
    model(name)["present"] = True
    server.window_show_message(types.ShowMessageParams(
        types.MessageType.Info, f"finch: {name} downloaded; set the model setting to {name} to use it"))


@server.command("finch.models.list")
def models_list(ls: LanguageServer, *args):
    return MODELS


@server.command("finch.models.pull")
def models_pull(ls: LanguageServer, *args):
    name = args[0] if args else None
    found = model(name) if isinstance(name, str) else None
    if found is None:
        return {"started": False, "reason": f"unknown model {name!r}: see finch.models.list"}
    if found["present"]:
        return {"started": False, "reason": f"{name} is already downloaded"}
    pulls.append(name)
    asyncio.ensure_future(download(name))
    return {"started": True}


@server.command("finch.status")
def status(ls: LanguageServer, *args):
    return {"model": {"name": "smollm2-135m", "device": "cpu", "state": "ready"}, "pulls": pulls}


if __name__ == "__main__":
    server.start_io()
