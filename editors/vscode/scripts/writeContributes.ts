/**
 * Writes package.json's generated parts from the extension's own tables:
 * contributes.commands (commands.ts), contributes.configuration and the settings restricted in
 * untrusted workspaces (settings.ts). Run with `npm run contributes`; test/package.test.ts
 * fails while package.json differs from what this writes.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generatedManifest } from "../src/manifest";

const path = join(process.cwd(), "package.json");
const manifest = JSON.parse(readFileSync(path, "utf8"));
writeFileSync(path, `${JSON.stringify(generatedManifest(manifest), null, 2)}\n`);
console.log(`wrote ${path}`);
