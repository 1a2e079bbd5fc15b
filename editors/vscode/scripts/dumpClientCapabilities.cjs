/**
 * Prints the ClientCapabilities that this extension's vscode-languageclient sends in
 * `initialize`, for test/fixtures/vscodeClientCapabilities.json:
 *
 *   node scripts/dumpClientCapabilities.cjs > test/fixtures/vscodeClientCapabilities.json
 *
 * Inside VS Code the language client, not the editor, computes these capabilities. Outside VS
 * Code the `vscode` module does not exist, so a stand-in answers every property lookup (and
 * reports VS Code 1.99.0, the version the client checks); the capability code reads only enum
 * values and constants from it, and none of them reaches the output.
 */

const VSCODE_VERSION = "1.99.0";

const Module = require("node:module");
const path = require("node:path");

function standIn() {
  const target = function () {
    return standIn();
  };
  return new Proxy(target, {
    get: (_target, property) => {
      if (property === "version") return VSCODE_VERSION;
      if (property === Symbol.toPrimitive) return () => 0;
      return property === "then" ? undefined : standIn();
    },
    construct: () => standIn(),
  });
}

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === "vscode" ? "vscode" : resolveFilename.call(this, request, ...rest);
};
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: standIn() };

const main = path.join(__dirname, "..", "node_modules", "vscode-languageclient", "lib", "node", "main.js");
const { LanguageClient } = require(main);
const client = new LanguageClient("finch", "Finch", { command: "finch-lsp" }, { documentSelector: [{ scheme: "file" }] });
process.stdout.write(`${JSON.stringify(client.computeClientCapabilities(), null, 2)}\n`);
