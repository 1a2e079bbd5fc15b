/**
 * Handlers of the command palette entries (commands.ts). Server errors are shown with their message.
 */

import * as vscode from "vscode";
import { manageAdapters } from "./adapterPicker";
import { ApiKeyStore, askForApiKey } from "./apiKey";
import {
  ADAPTERS_COMMAND,
  API_KEY_COMMAND,
  FEEDBACK_COMMANDS,
  FeedbackCommand,
  MODELS_COMMAND,
  STATUS_COMMAND,
  TRAIN_COMMAND,
  feedbackArguments,
} from "./commands";
import { trainingTrigger } from "./configuration";
import { downloadModel } from "./modelPicker";
import { FinchClient } from "./finchClient";
import { feedbackMessage, statusLines, trainMessage } from "./messages";
import { FeedbackResult, FinchStatus, ServerCommand, TrainResult } from "./protocol";
import { StatusBar } from "./statusBar";

const UNTRUSTED_TRAINING =
  "Finch: training is off in untrusted workspaces. Trust this workspace to train on your feedback.";

/** Registers every palette command; returns their disposables. */
export function registerPaletteCommands(
  client: FinchClient,
  apiKeys: ApiKeyStore,
  statusBar: StatusBar,
): vscode.Disposable[] {
  return [
    ...FEEDBACK_COMMANDS.map((command) => register(command.id, () => giveFeedback(client, command))),
    register(TRAIN_COMMAND.id, () => trainNow(client)),
    register(STATUS_COMMAND.id, () => showStatus(client, statusBar)),
    register(ADAPTERS_COMMAND.id, () => manageAdapters(client)),
    register(API_KEY_COMMAND.id, () => setApiKey(client, apiKeys)),
    register(MODELS_COMMAND.id, () => downloadModel(client)),
  ];
}

function register(id: string, handler: () => Promise<void>): vscode.Disposable {
  return vscode.commands.registerCommand(id, async () => {
    try {
      await handler();
    } catch (error) {
      void vscode.window.showErrorMessage(`Finch: ${errorMessage(error)}`);
    }
  });
}

/** The message of a JSON-RPC error (ResponseError) or any other error. */
function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function giveFeedback(client: FinchClient, command: FeedbackCommand): Promise<void> {
  const note = await vscode.window.showInputBox({
    title: command.title,
    prompt: "Optional note: what was wrong or right about the suggestion (Enter to skip)",
  });
  if (note === undefined) {
    return;
  }
  const result = await client.execute<FeedbackResult>(command.serverCommand, feedbackArguments(note));
  void vscode.window.showInformationMessage(`Finch: ${feedbackMessage(result, trainingTrigger())}`);
}

async function trainNow(client: FinchClient): Promise<void> {
  if (!vscode.workspace.isTrusted) {
    await offerWorkspaceTrust();
    return;
  }
  const result = await client.execute<TrainResult>(ServerCommand.train, []);
  void vscode.window.showInformationMessage(`Finch: ${trainMessage(result)}`);
}

async function offerWorkspaceTrust(): Promise<void> {
  const manage = "Manage Workspace Trust";
  if ((await vscode.window.showWarningMessage(UNTRUSTED_TRAINING, manage)) === manage) {
    await vscode.commands.executeCommand("workbench.trust.manage");
  }
}

async function showStatus(client: FinchClient, statusBar: StatusBar): Promise<void> {
  const status = await client.execute<FinchStatus>(ServerCommand.status, []);
  statusBar.show(status);
  await vscode.window.showInformationMessage("Finch status", { modal: true, detail: statusLines(status).join("\n") });
}

async function setApiKey(client: FinchClient, apiKeys: ApiKeyStore): Promise<void> {
  const key = await askForApiKey();
  if (key === undefined) {
    return;
  }
  await apiKeys.set(key);
  await client.restart();
  const done = key ? "API key stored; the server was restarted with it." : "API key removed; the server was restarted.";
  void vscode.window.showInformationMessage(`Finch: ${done}`);
}
