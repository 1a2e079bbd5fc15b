/**
 * The bundled extension (out/extension.js) activated in a stand-in VS Code (fakeVscode.ts)
 * against the real server: the language client starts finch-lsp from the settings, the status
 * bar shows the model, palette commands reach the server, server errors are shown, the API key
 * restarts the server without being logged, and untrusted workspaces cannot train.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { API_KEY_COMMAND, FEEDBACK_COMMANDS, PALETTE_COMMANDS, STATUS_COMMAND, TRAIN_COMMAND } from "../src/commands";
import { ServerCommand } from "../src/protocol";
import { createFakeVscode, fakeExtensionContext, installFakeVscode } from "./fakeVscode";
import { serverCommand } from "./finchServer";
import { PACKAGE_ROOT } from "./packageRoot";

const READY_TEXT = "$(sparkle) tiny-qwen2";
const API_KEY = "sk-ant-finch-test-key";
/** Loading the model on a busy 2-core machine; the wait ends when the status bar shows it. */
const LOAD_MS = 300_000;

describe("the bundled extension in a stand-in VS Code", { timeout: LOAD_MS * 3 }, () => {
  delete process.env.ANTHROPIC_API_KEY;
  const dataDir = mkdtempSync(join(tmpdir(), "finch-vscode-extension-test-"));
  const options = {
    settings: { model: "tiny-qwen2", dataDir, "server.command": serverCommand(), "server.args": [] },
    trusted: true,
    inputBox: undefined as string | undefined,
  };
  const { api, record } = createFakeVscode(options);
  installFakeVscode(api);
  const extension = createRequire(__filename)(join(PACKAGE_ROOT, "out", "extension.js"));
  const context = fakeExtensionContext(record);

  before(async () => {
    await extension.activate(context);
  });

  after(async () => {
    await extension.deactivate();
    context.subscriptions.forEach((disposable) => disposable.dispose());
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("registers every palette command, and every server command through the language client", () => {
    for (const id of [...PALETTE_COMMANDS.map((c) => c.id), ...Object.values(ServerCommand)]) {
      assert.ok(record.commands.has(id), `${id} is not registered`);
    }
  });

  it("shows the model from the settings in the status bar", { timeout: LOAD_MS + 10_000 }, async () => {
    await until(() => record.statusBar.text.startsWith(READY_TEXT), LOAD_MS, describeState);
    assert.match(record.statusBar.tooltip, /Model: tiny-qwen2 on /);
  });

  it("'Finch: Show status' shows the status readably", async () => {
    await run(STATUS_COMMAND.id);
    const shown = record.messages.at(-1);
    assert.equal(shown?.text, "Finch status");
    assert.match(shown?.detail ?? "", /^Model: tiny-qwen2 on .*\nAdapter: /);
  });

  it("shows a server error with the server's message", async () => {
    options.inputBox = "";
    await run(FEEDBACK_COMMANDS[0].id);
    const shown = record.messages.at(-1);
    assert.equal(shown?.level, "error");
    assert.match(shown?.text ?? "", /^Finch: .*suggestion/i);
  });

  it("stores the API key, restarts the server with it, and never logs it", { timeout: LOAD_MS + 10_000 }, async () => {
    options.inputBox = API_KEY;
    await run(API_KEY_COMMAND.id);
    assert.ok([...record.secrets.values()].includes(API_KEY));
    assert.match(record.messages.at(-1)?.text ?? "", /API key stored/);
    record.statusBar.text = "";
    await until(() => record.statusBar.text.startsWith(READY_TEXT), LOAD_MS, describeState);
    const leaks = [...record.output, ...record.messages.map((m) => m.text)].filter((line) => line.includes(API_KEY));
    assert.deepEqual(leaks, []);
  });

  it("passes the key to the server process in ANTHROPIC_API_KEY", { skip: !existsSync("/proc/self/environ") && "needs /proc" }, () => {
    const keys = childEnvironments().map((env) => env.ANTHROPIC_API_KEY);
    assert.deepEqual(keys, [API_KEY]);
  });

  it("refuses 'Finch: Train now' in an untrusted workspace", async () => {
    options.trusted = false;
    await run(TRAIN_COMMAND.id);
    const shown = record.messages.at(-1);
    assert.equal(shown?.level, "warning");
    assert.match(shown?.text ?? "", /untrusted/);
  });

  function describeState(): string {
    const messages = record.messages.slice(-3).map((m) => `${m.level}: ${m.text}`);
    return [`status bar: ${record.statusBar.text}`, ...messages, ...record.output.slice(-10)].join("\n");
  }

  async function run(id: string): Promise<void> {
    await record.commands.get(id)!();
  }
});

/** The environments of this process's child processes (the language server), from /proc. */
function childEnvironments(): Record<string, string>[] {
  const children = readdirSync("/proc").filter((entry) => /^\d+$/.test(entry) && parentOf(entry) === process.pid);
  return children.map((pid) => {
    const pairs = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
    return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
  });
}

function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Waits until `done()` holds, checking every 200 ms; fails after `timeoutMs` with `state()`. */
async function until(done: () => boolean, timeoutMs: number, state: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out; last state: ${state()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
