/**
 * The defaults in src/settings.ts against the server's own (finch_lsp.config.FinchConfig), read
 * with the server's Python: VS Code sends every setting, so a default that differs here
 * silently overrides the server's.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { describe, it } from "node:test";
import { KNOWN_MODELS, SETTINGS, SettingsTree, getPath } from "../src/settings";
import { serverCommand } from "./finchServer";

const MODEL_NAMES_SCRIPT =
  "import json\n" +
  "from finch_lsp.models.registry import MODEL_NAMES\n" +
  "print(json.dumps(list(MODEL_NAMES)))";

const DEFAULTS_SCRIPT =
  "import json, msgspec\n" +
  "from finch_lsp.config import FinchConfig\n" +
  "print(json.dumps(msgspec.to_builtins(FinchConfig())))";

describe("settings defaults", () => {
  it("are the server's defaults", () => {
    const server = serverDefaults();
    const differences = SETTINGS.filter((spec) => spec.sentToServer)
      .map((spec) => ({ key: spec.key, extension: spec.default === "" ? null : spec.default, server: getPath(server, spec.key) }))
      .filter((pair) => JSON.stringify(pair.extension) !== JSON.stringify(pair.server));
    assert.deepEqual(differences, []);
  });
});

describe("finch.model's offered names", () => {
  it("are models the server knows", () => {
    const known: string[] = JSON.parse(execFileSync(serverPython(), ["-c", MODEL_NAMES_SCRIPT], { encoding: "utf8" }));
    assert.deepEqual(KNOWN_MODELS.filter((name) => !known.includes(name)), []);
  });
});

function serverDefaults(): SettingsTree {
  const output = execFileSync(serverPython(), ["-c", DEFAULTS_SCRIPT], { encoding: "utf8" });
  return JSON.parse(output);
}

/** The interpreter of the server's console script (its `#!` line). */
function serverPython(): string {
  const script = onPath(serverCommand());
  const shebang = readFileSync(script, "utf8").split("\n", 1)[0];
  assert.match(shebang, /^#!\S*python/, `${script} is not a Python console script`);
  return shebang.slice(2).trim();
}

function onPath(command: string): string {
  if (isAbsolute(command) || command.includes("/")) {
    return command;
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      continue;
    }
  }
  throw new Error(`${command} is not on PATH: set FINCH_LSP_COMMAND`);
}
