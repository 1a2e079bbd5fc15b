/**
 * Entry point: wires the language client, the status bar and the palette commands together.
 */

import * as vscode from "vscode";
import { ApiKeyStore } from "./apiKey";
import { FinchClient } from "./finchClient";
import { registerPaletteCommands } from "./palette";
import { FinchStatus, ServerCommand } from "./protocol";
import { SECTION } from "./settings";
import { StatusBar } from "./statusBar";

let activeClient: FinchClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Finch", { log: true });
  const apiKeys = new ApiKeyStore(context.secrets);
  const client = new FinchClient(output, apiKeys);
  const statusBar = new StatusBar(() => client.execute<FinchStatus>(ServerCommand.status, []));
  activeClient = client;
  context.subscriptions.push(
    output,
    client,
    statusBar,
    ...registerPaletteCommands(client, apiKeys, statusBar),
    restartOnServerSettings(client),
    vscode.workspace.onDidGrantWorkspaceTrust(() => client.restart()),
  );
  await client.start();
  statusBar.start();
}

export async function deactivate(): Promise<void> {
  await activeClient?.stop();
  activeClient = undefined;
}

/** A new server command or arguments needs a new process; other settings are sent to the live one. */
function restartOnServerSettings(client: FinchClient): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (event.affectsConfiguration(`${SECTION}.server`)) {
      void client.restart();
    }
  });
}
