/**
 * "Finch: Manage adapters": pick a version from `finch.adapters.list`, then use it, roll back
 * to the previous good version, or delete it.
 */

import * as vscode from "vscode";
import { FinchClient } from "./finchClient";
import { adapterItem, resultMessage } from "./messages";
import { AdapterInfo, ServerCommand, ServerCommandName } from "./protocol";

interface AdapterAction extends vscode.QuickPickItem {
  command: ServerCommandName;
  args: unknown[];
}

/** Runs the whole pick-then-act flow; does nothing when the user cancels a step. */
export async function manageAdapters(client: FinchClient): Promise<void> {
  const adapters = await client.execute<AdapterInfo[]>(ServerCommand.adaptersList, []);
  if (adapters.length === 0) {
    void vscode.window.showInformationMessage(
      "Finch: no adapters yet. Give feedback on suggestions; training makes the first one.",
    );
    return;
  }
  const adapter = await pickAdapter(adapters);
  const action = adapter && (await pickAction(adapter));
  if (!action || !(await confirm(action, adapter))) {
    return;
  }
  const result = await client.execute<unknown>(action.command, action.args);
  void vscode.window.showInformationMessage(`Finch: ${resultMessage(result)}`);
}

async function pickAdapter(adapters: AdapterInfo[]): Promise<AdapterInfo | undefined> {
  const items = adapters.map((adapter) => ({ ...adapterItem(adapter), adapter }));
  const picked = await vscode.window.showQuickPick(items, {
    title: "Finch: adapters",
    placeHolder: "Pick an adapter version",
  });
  return picked?.adapter;
}

function pickAction(adapter: AdapterInfo): Thenable<AdapterAction | undefined> {
  return vscode.window.showQuickPick(adapterActions(adapter), {
    title: `Finch: adapter v${adapter.version}`,
    placeHolder: adapter.active ? "This version is active" : "What to do with this version",
  });
}

function adapterActions(adapter: AdapterInfo): AdapterAction[] {
  const use: AdapterAction = {
    label: `Use v${adapter.version}`,
    command: ServerCommand.adaptersUse,
    args: [adapter.version],
  };
  const rollback: AdapterAction = {
    label: "Roll back to the previous good version",
    command: ServerCommand.adaptersRollback,
    args: [],
  };
  const remove: AdapterAction = {
    label: `Delete v${adapter.version}`,
    command: ServerCommand.adaptersDelete,
    args: [adapter.version],
  };
  return adapter.active ? [rollback] : [use, rollback, remove];
}

async function confirm(action: AdapterAction, adapter: AdapterInfo): Promise<boolean> {
  if (action.command !== ServerCommand.adaptersDelete) {
    return true;
  }
  const answer = await vscode.window.showWarningMessage(
    `Delete adapter v${adapter.version}? Its files are removed.`,
    { modal: true },
    "Delete",
  );
  return answer === "Delete";
}
