/**
 * The real finch-lsp server over stdio, driven as this extension drives it inside VS Code:
 * VS Code's client capabilities, inline completion, `finch.accept`, and the server commands
 * behind every palette entry, through the extension's own command table (src/commands.ts).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { InitializeResult, InlineCompletionItem, MessageType, ResponseError } from "vscode-languageserver-protocol";
import { FEEDBACK_COMMANDS, feedbackArguments } from "../src/commands";
import { adapterItem, adapterResultMessage, feedbackMessage, statusLines, trainMessage } from "../src/messages";
import {
  AdapterInfo,
  FeedbackResult,
  FinchStatus,
  INVALID_PARAMS,
  ServerCommand,
  TrainResult,
} from "../src/protocol";
import { SETTINGS, serverSettings } from "../src/settings";
import { FinchServer } from "./finchServer";

const DOCUMENT_URI = "file:///tmp/finch-vscode-test/fibonacci.py";
const DOCUMENT = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    return ';
const CURSOR = { line: 2, character: 11 };
const DEFAULT_TRIGGER = { autoTrain: true, threshold: 10, trusted: true };
/** Limits for a busy 2-core machine; every wait ends as soon as its event arrives. */
const LOAD_MS = 300_000;
const TRAINING_MS = 900_000;

describe("finch-lsp over stdio, driven as VS Code drives it", { timeout: LOAD_MS + TRAINING_MS * 2 }, () => {
  let server: FinchServer;
  let capabilities: InitializeResult["capabilities"];
  let suggestionId: string;

  before(async () => {
    const started = await FinchServer.start({ finch: { model: "tiny-qwen2" } });
    server = started.server;
    capabilities = started.result.capabilities;
  });

  after(async () => {
    await server?.shutdown();
  });

  it("advertises inline completion, utf-16 positions and every finch command", () => {
    assert.ok(capabilities.inlineCompletionProvider, "inlineCompletionProvider");
    assert.equal(capabilities.positionEncoding, "utf-16");
    const commands = capabilities.executeCommandProvider?.commands ?? [];
    for (const command of Object.values(ServerCommand)) {
      assert.ok(commands.includes(command), `executeCommandProvider.commands lacks ${command}`);
    }
  });

  it("loads tiny-qwen2 and says so in finch.status", { timeout: LOAD_MS + 10_000 }, async () => {
    await server.openPython(DOCUMENT_URI, DOCUMENT);
    const status = await server.waitForModel(LOAD_MS);
    assert.equal(status.model.name, "tiny-qwen2");
  });

  it("names a bad setting in window/showMessage and keeps running", async () => {
    const warned = server.messages.next((m) => m.message.includes("multiline"), 60_000);
    await server.changeSettings({ model: "tiny-qwen2", completion: { multiline: "sometimes" } });
    assert.ok((await warned).type <= MessageType.Warning);
  });

  it("takes the extension's default settings without a warning", async () => {
    const shown = server.messages.all.length;
    await server.changeSettings(serverSettings((key) => settingDefault(key, { model: "tiny-qwen2" })));
    await server.execute(ServerCommand.status, []);
    const warnings = server.messages.all.slice(shown).filter((m) => m.type <= MessageType.Warning);
    assert.deepEqual(warnings, []);
  });

  it("answers textDocument/inlineCompletion with items that run finch.accept", async () => {
    const items = await server.inlineCompletion(DOCUMENT_URI, CURSOR);
    assert.ok(items.length > 0, `no inline completion items\n${server.diagnostics()}`);
    items.forEach(assertAcceptable);
    suggestionId = items[0].command!.arguments![0];
  });

  it("records acceptance with finch.accept", async () => {
    assert.equal(await server.execute(ServerCommand.accept, [suggestionId]), null);
  });

  for (const command of FEEDBACK_COMMANDS) {
    it(`runs "${command.title}" as ${command.serverCommand}`, async () => {
      const note = command.rating === "critical" ? "prefer an iterative loop" : undefined;
      const result = await server.execute<FeedbackResult>(command.serverCommand, feedbackArguments(note));
      assert.equal(result.recorded, true);
      assert.equal(result.rating, command.rating);
      assert.equal(result.weight, { critical: 10, medium: 3, good: 1 }[command.rating]);
      assert.equal(typeof result.exampleId, "string");
      assert.match(feedbackMessage(result, DEFAULT_TRIGGER), new RegExp(`^Recorded ${command.rating} feedback \\(weight`));
    });
  }

  it("records finch.feedback with a correction", async () => {
    const result = await server.execute<FeedbackResult>(ServerCommand.feedback, [
      { rating: "critical", correction: "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a" },
    ]);
    assert.equal(result.recorded, true);
    assert.equal(result.weight, 10);
    assert.equal(result.pending, false);
    for (const field of ["bufferSize", "weightedTotal"] as const) {
      assert.equal(typeof result[field], "number", field);
    }
    assert.equal(typeof result.trainingStarted, "boolean");
  });

  it("reports model, adapter, buffer and training in finch.status", async () => {
    const status = await server.execute<FinchStatus>(ServerCommand.status, []);
    assert.equal(status.model.name, "tiny-qwen2");
    assert.ok(status.adapter && "version" in status.adapter, "status.adapter.version");
    assert.ok(status.buffer && status.buffer.examples >= 1, "status.buffer.examples");
    assert.ok(status.training && ["idle", "running", "failed"].includes(status.training.state), "status.training.state");
    assert.ok(!statusLines(status).join("\n").includes("undefined"), statusLines(status).join("\n"));
  });

  it("trains with finch.train, reporting $/progress begin, percentages and end", { timeout: TRAINING_MS * 2 }, async () => {
    const begun = server.progress.next((p) => p.value.kind === "begin" && /train/i.test(p.value.title), TRAINING_MS);
    const result = await server.execute<TrainResult>(ServerCommand.train, []);
    assert.equal(result.started, true, trainMessage(result));
    const { token } = await begun;
    await server.progress.until((p) => p.token === token && p.value.kind === "end", TRAINING_MS);
    const reports = server.progress.all.filter((p) => p.token === token && p.value.kind === "report");
    assert.ok(reports.some((p) => "percentage" in p.value && typeof p.value.percentage === "number" && p.value.message));
    const status = await server.waitForTraining(TRAINING_MS);
    assert.equal(status.training?.state, "idle", JSON.stringify(status.training));
  });

  it("lists, uses, rolls back and deletes adapters as 'Finch: Manage adapters' does", async () => {
    const adapters = await server.execute<AdapterInfo[]>(ServerCommand.adaptersList, []);
    assert.ok(adapters.length >= 1, "training made no adapter version");
    for (const adapter of adapters) {
      assert.equal(typeof adapter.version, "number");
      assert.equal(typeof adapter.active, "boolean");
      assert.doesNotMatch(JSON.stringify(adapterItem(adapter)), /undefined|\[object/);
    }
    const version = adapters[0].version;
    const used = await server.execute(ServerCommand.adaptersUse, [version]);
    assert.equal(adapterResultMessage(used), `now using adapter v${version}`);
    await assertInvalidParams(server.execute(ServerCommand.adaptersDelete, [version]), /active/i);
    const rolledBack = await server.execute<{ active: number | null }>(ServerCommand.adaptersRollback, []);
    assert.notEqual(rolledBack.active, version);
    const deleted = await server.execute(ServerCommand.adaptersDelete, [version]);
    assert.equal(adapterResultMessage(deleted), `deleted adapter v${version}`);
    const left = await server.execute<AdapterInfo[]>(ServerCommand.adaptersList, []);
    assert.ok(!left.some((adapter) => adapter.version === version));
    const base = await server.execute(ServerCommand.adaptersUse, [null]);
    assert.equal(adapterResultMessage(base), "now using the base model");
  });

  it("rejects an unknown suggestion id or a bad rating with InvalidParams and records nothing", async () => {
    const before = await server.execute<FinchStatus>(ServerCommand.status, []);
    assert.equal(typeof before.buffer?.examples, "number", "status.buffer.examples");
    await assertInvalidParams(server.execute(ServerCommand.accept, ["no-such-suggestion"]), /suggestion/i);
    await assertInvalidParams(
      server.execute(ServerCommand.feedback, [{ rating: "critical", suggestionId: "no-such-suggestion" }]),
      /suggestion/i,
    );
    await assertInvalidParams(server.execute(ServerCommand.feedback, [{ rating: "excellent" }]), /rating/i);
    const after = await server.execute<FinchStatus>(ServerCommand.status, []);
    assert.equal(after.buffer?.examples, before.buffer?.examples);
  });
});

describe("finch-lsp in an untrusted workspace", { timeout: LOAD_MS }, () => {
  let server: FinchServer;

  before(async () => {
    server = (await FinchServer.start({ finch: { model: "tiny-qwen2" }, workspaceTrusted: false })).server;
  });

  after(async () => {
    await server?.shutdown();
  });

  it("refuses finch.train with a reason", async () => {
    const result = await server.execute<TrainResult>(ServerCommand.train, []);
    assert.equal(result.started, false);
    assert.equal(typeof result.reason, "string");
  });
});

/** The default of a setting, with `overrides` by key. */
function settingDefault(key: string, overrides: Record<string, unknown>): unknown {
  return key in overrides ? overrides[key] : SETTINGS.find((s) => s.key === key)?.default;
}

function assertAcceptable(item: InlineCompletionItem): void {
  const text = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
  assert.equal(typeof text, "string");
  assert.equal(item.command?.command, ServerCommand.accept);
  assert.equal(item.command?.arguments?.length, 1);
  assert.equal(typeof item.command?.arguments?.[0], "string");
}

/** Rejected with InvalidParams by the command itself (not "no such command"), saying what is wrong. */
async function assertInvalidParams(request: Promise<unknown>, says: RegExp): Promise<void> {
  await assert.rejects(request, (error: unknown) => {
    assert.ok(error instanceof ResponseError, `not a JSON-RPC error: ${error}`);
    assert.equal(error.code, INVALID_PARAMS, error.message);
    assert.doesNotMatch(error.message, /not defined/, error.message);
    assert.match(error.message, says);
    return true;
  });
}
