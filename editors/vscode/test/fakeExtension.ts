/**
 * The bundled extension (out/extension.js) activated in the stand-in VS Code (fakeVscode.ts)
 * against the stand-in server (fakeServer.ts): for client-side behaviour that needs no model.
 */

import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { FakeVscodeOptions, createFakeVscode, fakeExtensionContext, installFakeVscode } from "./fakeVscode";
import { PACKAGE_ROOT } from "./packageRoot";

export const FAKE_SERVER = join(PACKAGE_ROOT, "out", "test", "fakeServer.js");

/** The stand-in VS Code with the extension loaded (not yet activated) and set to run the fake server. */
export function extensionWithFakeServer(overrides: Partial<FakeVscodeOptions> = {}) {
  const options: FakeVscodeOptions = {
    settings: { "server.command": process.execPath, "server.args": [FAKE_SERVER] },
    trusted: true,
    inputBox: undefined,
    ...overrides,
  };
  const { api, record, events } = createFakeVscode(options);
  installFakeVscode(api);
  const extension = createRequire(__filename)(join(PACKAGE_ROOT, "out", "extension.js"));
  return { extension, context: fakeExtensionContext(record), record, events, options };
}

/** Live child processes of this process running the fake server. */
export function fakeServerProcesses(): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => parentOf(pid) === process.pid && commandLine(pid).includes("fakeServer.js"))
    .map(Number);
}

function commandLine(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) {
      return undefined; // exited, not yet reaped
    }
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Waits until `done()` holds, checking every 50 ms; fails after `timeoutMs` with `state()`. */
export async function until(done: () => boolean, timeoutMs: number, state: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s; last state: ${state()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
