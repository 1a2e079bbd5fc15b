/**
 * package.json against the extension's tables and PROTOCOL.md: palette titles, `finch.*`
 * settings with their defaults, untrusted-workspace support, and the bundle vsce packs.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { generatedManifest } from "../src/manifest";
import { SETTINGS } from "../src/settings";
import { PACKAGE_ROOT } from "./packageRoot";

const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8"));

const PALETTE_TITLES = [
  "Finch: Critical feedback on last suggestion",
  "Finch: Medium feedback on last suggestion",
  "Finch: Good feedback on last suggestion",
  "Finch: Train now",
  "Finch: Show status",
  "Finch: Manage adapters",
  "Finch: Set Anthropic API key",
  "Finch: Download a model…",
];

/** PROTOCOL.md "Settings" and the extension's own, with the defaults the product ships. */
const PROTOCOL_DEFAULTS: Record<string, unknown> = {
  "finch.model": "auto",
  "finch.device": "auto",
  "finch.dataDir": "",
  "finch.completion.maxNewTokens": 64,
  "finch.completion.multiline": "auto",
  "finch.training.autoTrain": true,
  "finch.training.threshold": 10,
  "finch.training.bufferSize": 100,
  "finch.training.epochs": 6,
  "finch.training.batchSize": 4,
  "finch.training.learningRate": 1e-3,
  "finch.training.rank": 16,
  "finch.training.alpha": 32,
  "finch.training.weights.critical": 10,
  "finch.training.weights.medium": 3,
  "finch.training.weights.good": 1,
  "finch.training.weights.implicit": 0.25,
  "finch.training.implicit": true,
  "finch.training.settleSeconds": 20,
  "finch.teacher.enabled": false,
  "finch.teacher.model": "claude-sonnet-4-5",
  "finch.teacher.sampleRate": 0.05,
  "finch.server.command": "finch-lsp",
  "finch.server.args": [],
};

describe("package.json", () => {
  it("is what `npm run contributes` generates from src/settings.ts and src/commands.ts", () => {
    assert.deepEqual(manifest, generatedManifest(manifest), "run `npm run contributes` and commit package.json");
  });

  it("contributes every palette title", () => {
    const titles = manifest.contributes.commands.map((c: { title: string }) => c.title);
    assert.deepEqual([...titles].sort(), [...PALETTE_TITLES].sort());
  });

  it("contributes every finch.* setting with its default and a description", () => {
    const properties = manifest.contributes.configuration.properties;
    assert.deepEqual(Object.keys(properties).sort(), Object.keys(PROTOCOL_DEFAULTS).sort());
    for (const [key, value] of Object.entries(PROTOCOL_DEFAULTS)) {
      assert.deepEqual(properties[key].default, value, key);
      assert.ok(properties[key].description, `${key} has no description`);
    }
    assert.deepEqual(properties["finch.completion.multiline"].enum, ["auto", "always", "never"]);
    assert.deepEqual(properties["finch.model"].examples, [
      "auto", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "qwen2.5-coder-3b", "smollm2-135m", "tiny-qwen2",
    ]);
    assert.equal(properties["finch.model"].enum, undefined, "finch.model also takes Hugging Face ids and directories");
  });

  it("supports untrusted workspaces in a limited way, without workspace-chosen programs", () => {
    const untrusted = manifest.capabilities.untrustedWorkspaces;
    assert.equal(untrusted.supported, "limited");
    assert.ok(untrusted.restrictedConfigurations.includes("finch.server.command"));
    assert.ok(untrusted.restrictedConfigurations.includes("finch.server.args"));
  });

  it("declares what vsce packs without prompting", () => {
    assert.equal(manifest.name, "finch-lsp");
    assert.equal(manifest.publisher, "finch");
    assert.ok(manifest.repository?.url, "repository");
    assert.ok(existsSync(join(PACKAGE_ROOT, "LICENSE")), "LICENSE");
    assert.ok(manifest.activationEvents.includes("onStartupFinished"));
    assert.ok(manifest.engines.vscode.startsWith("^1."));
  });

  it("points main at a bundle that needs no node_modules", () => {
    const bundle = join(PACKAGE_ROOT, manifest.main);
    assert.ok(existsSync(bundle), `${manifest.main} is missing: run npm run compile`);
    const requires = [...readFileSync(bundle, "utf8").matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    const external = requires.filter((name) => name !== "vscode" && !isNodeBuiltin(name));
    assert.deepEqual([...new Set(external)], []);
  });

  it("lists each setting once in src/settings.ts", () => {
    const keys = SETTINGS.map((s) => s.key);
    assert.equal(new Set(keys).size, keys.length);
  });
});

function isNodeBuiltin(name: string): boolean {
  return name.startsWith("node:") || require("node:module").builtinModules.includes(name);
}
