/**
 * The packaged extension (finch-lsp.vsix) in real VS Code: code-server 4.100.3 driven by
 * Playwright in headless Chromium, against the real server on the embedded smollm2-135m.
 *
 * A user's session: ghost text after a function header, Tab to accept (the server logs the
 * acceptance), the next word of a suggestion with Ctrl+Right, a rating and "Train now" from the
 * palette, the status bar through training to adapter v1, a code action's edit; then API keys
 * set at 0 ms, 500 ms and after ready into a server's start-up, which must leave exactly one
 * running client (one server process, no "command ... already exists").
 *
 * Skipped, saying why, where code-server cannot be installed (no npm registry) or Chromium is
 * missing. Screenshots of failures go to test-results/real-vscode/.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { serverCommand } from "../finchServer";
import { PACKAGE_ROOT } from "../packageRoot";
import {
  CodeServer,
  Session,
  finchOutput,
  installCodeServer,
  installExtension,
  processesWith,
  sessionFolders,
  writeUserSettings,
} from "./codeServer";
import { CHROMIUM, Workbench } from "./workbench";

const VSIX = join(PACKAGE_ROOT, "finch-lsp.vsix");
const SCREENSHOTS = join(PACKAGE_ROOT, "test-results", "real-vscode");
const MODEL = "smollm2-135m";
const READY = new RegExp(`${MODEL.replace(/[.]/g, "\\.")} (base|v\\d+)`);
/** Limits for a busy 2-core machine: loading the model, one suggestion, one training run. */
const LOAD_MS = 240_000;
const SUGGESTION_MS = 180_000;
const TRAINING_MS = 600_000;

const FILE = "fibonacci.py";
const FILE_TEXT = "import math\n\n\ndef add(a, b):\n    return a + b\n";

function whyNotHere(): string | undefined {
  if (!existsSync(CHROMIUM)) {
    return `SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set FINCH_E2E_CHROMIUM)`;
  }
  if (!existsSync(VSIX)) {
    return `SKIPPED: ${VSIX} is missing: run npm run package first`;
  }
  const installed = installCodeServer();
  return "skip" in installed ? installed.skip : undefined;
}

const skip = whyNotHere();
if (skip) {
  console.log(skip);
}

describe("the packaged extension in real VS Code (code-server 4.100.3, headless Chromium)", { skip, timeout: 2_400_000 }, () => {
  let session: Session;
  let codeServer: CodeServer;
  let workbench: Workbench;
  let serverLog: string;

  before(async () => {
    const started = Date.now();
    const program = (installCodeServer() as { program: string }).program;
    session = sessionFolders(mkdtempSync(join(tmpdir(), "finch-real-vscode-")));
    serverLog = join(session.root, "server.log");
    writeFileSync(join(session.workspace, FILE), FILE_TEXT);
    const settings = {
      "finch.server.command": serverCommand(),
      "finch.server.args": ["--log-file", serverLog],
      "finch.model": MODEL,
      "finch.dataDir": join(session.root, "data"),
      "finch.completion.maxNewTokens": 24,
      "finch.training.autoTrain": false,
      "finch.training.epochs": 1,
      "finch.training.threshold": 1,
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "editor.inlineSuggest.enabled": true,
      "editor.quickSuggestions": { other: false, comments: false, strings: false },
      "editor.suggestOnTriggerCharacters": false,
      "telemetry.telemetryLevel": "off",
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "git.enabled": false,
    };
    writeUserSettings(session, settings);
    installExtension(program, session, VSIX);
    codeServer = await CodeServer.start(program, session);
    workbench = await Workbench.open(codeServer.url);
    console.log(`code-server and the workbench up in ${((Date.now() - started) / 1000).toFixed(1)} s (${session.root})`);
  });

  after(async () => {
    await workbench?.close().catch(() => undefined);
    codeServer?.stop();
    if (session && !process.env.FINCH_E2E_KEEP) {
      rmSync(session.root, { recursive: true, force: true });
    }
  });

  /** A step that leaves a screenshot and the logs' ends when it fails. */
  function step(name: string, body: () => Promise<void>, timeout = SUGGESTION_MS * 2): void {
    it(name, { timeout }, async () => {
      try {
        await body();
      } catch (error) {
        const shot = await workbench?.screenshot(SCREENSHOTS, name).catch(() => "(no screenshot)");
        console.log(`screenshot of the failure: ${shot}`);
        await workbench?.closeOverlays().catch(() => undefined);
        const log = existsSync(serverLog) ? readFileSync(serverLog, "utf8").slice(-3000) : "(no server log)";
        const output = session ? finchOutput(session).slice(-3000) : "";
        throw new Error(`${(error as Error).message}\n--- server log ---\n${log}\n--- Finch output ---\n${output}`, { cause: error });
      }
    });
  }

  step("opens a Python file and shows the model in the status bar", async () => {
    await workbench.openFile(FILE);
    await workbench.waitForStatusBar(READY, LOAD_MS);
  }, LOAD_MS + 60_000);

  step("applies a code action's edit from the Ctrl+. menu", async () => {
    await workbench.page.keyboard.press("Control+Home");
    for (let line = 1; line < 4; line++) {
      await workbench.page.keyboard.press("ArrowDown");
    }
    // The file as written, read back once the editor has drawn it: a reading taken mid-redraw
    // differs from the edited text whether or not the edit has landed.
    const lines = (text: string) => text.trimEnd().split("\n").length;
    const before = await workbench.waitForEditor((text) => text.trimEnd() === FILE_TEXT.trimEnd(), 30_000, "the file as written");
    await workbench.applyCodeAction("Finch: Document");
    const edited = await workbench.waitForEditor((text) => lines(text) > lines(before), SUGGESTION_MS, "the Document action's edit");
    assert.match(edited, /def add\(a, b\):/);
    assert.match(edited, /return a \+ b/);
  });

  step("shows ghost text after a function header and accepts it with Tab; the server records it", async () => {
    await workbench.page.keyboard.press("Control+End");
    await workbench.page.keyboard.type("\n\ndef fibonacci(n):\n");
    const ghost = await workbench.waitForGhostText(SUGGESTION_MS);
    const before = await workbench.editorLines();
    await workbench.page.keyboard.press("Tab");
    const firstLine = ghost.split("\n").map((line) => line.trim()).find(Boolean);
    assert.ok(firstLine, `the ghost text is blank: ${JSON.stringify(ghost)}`);
    await workbench.waitForEditor((text) => text !== before.join("\n") && text.includes(firstLine), 30_000, "the accepted suggestion");
    await until(() => /suggestion \S+ accepted/.test(readLog(serverLog)), 60_000, "the server's log of finch.accept");
  });

  step("accepts the next word of a suggestion with Ctrl+Right (editor.action.inlineSuggest.acceptNextWord)", async () => {
    await workbench.page.keyboard.press("Control+End");
    await workbench.page.keyboard.type("\n\ndef factorial(n):\n");
    const ghost = await workbench.waitForGhostText(SUGGESTION_MS);
    const before = (await workbench.editorLines()).join("\n");
    await workbench.page.keyboard.press("Control+ArrowRight");
    const after = await workbench.waitForEditor((text) => text !== before, 30_000, "the accepted word");
    const inserted = squeeze(insertedText(before, after));
    assert.ok(inserted.length > 0, `nothing inserted; the ghost text was ${JSON.stringify(ghost)}`);
    assert.ok(squeeze(ghost).startsWith(inserted), `${JSON.stringify(inserted)} is not the start of ${JSON.stringify(ghost)}`);
    assert.ok(inserted.length < squeeze(ghost).length, `the whole suggestion was accepted: ${JSON.stringify(inserted)}`);
    await workbench.page.keyboard.press("Escape");
  });

  step("rates the suggestion from the palette", async () => {
    await workbench.runCommand("Finch: Good feedback on last suggestion");
    await workbench.answerInputBox("clear and correct");
    await workbench.waitForNotification(/Recorded good feedback/, 60_000);
  });

  step("'Finch: Train now' trains; the status bar shows training, then adapter v1", async () => {
    const training = workbench.waitForTraining(TRAINING_MS);
    await workbench.runCommand("Finch: Train now");
    await workbench.waitForNotification(/Training started/, 60_000);
    await training;
    const shown = await workbench.waitForStatusBar(/ v1\b/, TRAINING_MS);
    assert.match(shown, READY);
  }, TRAINING_MS * 2);

  for (const [label, delayMs] of [["0 ms", 0], ["500 ms", 500], ["ready", undefined]] as const) {
    const when = delayMs === undefined ? "once the server is ready" : `${label} after the server process appears`;
    step(`setting the API key ${when} leaves exactly one running client`, async () => {
      const marker = serverLog;
      const before = new Set(processesWith(marker));
      await askForApiKey(`sk-ant-e2e-${label}-1`);
      await workbench.page.keyboard.press("Enter"); // restart 1
      await askForApiKey(`sk-ant-e2e-${label}-2`); // restart 2 waits for Enter
      await until(() => processesWith(marker).some((pid) => !before.has(pid)), LOAD_MS, "the restarted server process");
      if (delayMs === undefined) {
        await until(() => processesWith(marker).length === 1, LOAD_MS, "the old server to exit");
        await until(() => /model \S+ ready/.test(readLog(serverLog).split("\n").slice(-20).join("\n")), LOAD_MS, "the model to load");
      } else if (delayMs > 0) {
        await new Promise((done) => setTimeout(done, delayMs));
      }
      const starting = new Set(processesWith(marker));
      await workbench.page.keyboard.press("Enter"); // restart 2, during that start-up
      await until(() => processesWith(marker).length === 1 && processesWith(marker).every((pid) => !starting.has(pid)), LOAD_MS,
        "exactly one server process, started after the last key", () => `processes: ${processesWith(marker).join(", ")}`);
      assert.match(await workbench.showStatus(LOAD_MS), /Model: smollm2-135m/);
      assert.doesNotMatch(finchOutput(session), /already exists|Server initialization failed/);
      assert.equal(processesWith(marker).length, 1);
    }, LOAD_MS * 4);
  }

  /** "Finch: Set Anthropic API key" from the palette, with `key` typed and Enter not yet pressed. */
  async function askForApiKey(key: string): Promise<void> {
    await workbench.runCommand("Finch: Set Anthropic API key");
    await workbench.page.waitForSelector('.quick-input-widget input[type="password"]', { state: "visible", timeout: 30_000 });
    await workbench.page.keyboard.type(key);
  }
});

function readLog(path: string): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}

/** The text an edit inserted: `after` without the start and end it shares with `before`. */
function insertedText(before: string, after: string): string {
  let start = 0;
  while (start < before.length && before[start] === after[start]) {
    start++;
  }
  let end = 0;
  while (end < before.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) {
    end++;
  }
  return after.slice(start, after.length - end);
}

/** Text with its whitespace runs made single spaces and trimmed, to compare what the editor shows. */
function squeeze(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** Waits until `done()` holds, checking every 200 ms; fails after `timeoutMs` saying what it waited for. */
async function until(done: () => boolean, timeoutMs: number, what: string, state: () => string = () => ""): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs / 1000} s ${state()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
