/**
 * The `finch` settings as VS Code holds them, with the workspace's trust applied.
 */

import * as vscode from "vscode";
import { TrainingTrigger } from "./messages";
import { SECTION, SettingsTree, getPath, serverSettings, withWorkspaceTrust } from "./settings";

/** The `finch` section the server gets: untrusted workspaces get no teacher and no auto-training. */
export function currentServerSettings(): SettingsTree {
  const config = vscode.workspace.getConfiguration(SECTION);
  return withWorkspaceTrust(
    serverSettings((key) => config.get(key)),
    vscode.workspace.isTrusted,
  );
}

/**
 * `initialize` options. `workspaceTrusted: false` tells the server to make no teacher calls and
 * to train nothing, whatever later settings say.
 */
export function initializationOptions(): { finch: SettingsTree; workspaceTrusted: boolean } {
  return { finch: currentServerSettings(), workspaceTrusted: vscode.workspace.isTrusted };
}

/** Program and arguments that start the server. */
export function serverLaunch(): { command: string; args: string[] } {
  const config = vscode.workspace.getConfiguration(SECTION);
  const command = config.get<string>("server.command")?.trim() || "finch-lsp";
  const args = config.get<string[]>("server.args") ?? [];
  return { command, args: args.map(String) };
}

/** What decides whether feedback starts training, for the feedback message. */
export function trainingTrigger(): TrainingTrigger {
  const settings = currentServerSettings();
  return {
    autoTrain: getPath(settings, "training.autoTrain") === true,
    threshold: Number(getPath(settings, "training.threshold")),
    trusted: vscode.workspace.isTrusted,
  };
}
