/**
 * "Finch: Manage adapters": pick a version from `finch.adapters.list` (or the base model), then
 * use it, roll back to the previous good version, or delete it.
 */

import * as vscode from "vscode";
import { FinchClient } from "./finchClient";
import { adapterItem, adapterResultMessage } from "./messages";
import { AdapterInfo, ServerCommand, ServerCommandName } from "./protocol";

interface AdapterAction extends vscode.QuickPickItem {
  command: ServerCommandName;
  args: unknown[];
  confirm?: string;
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
  const action = await pickAction(adapters);
  if (!action || !(await confirmed(action))) {
    return;
  }
  const result = await client.execute<unknown>(action.command, action.args);
  void vscode.window.showInformationMessage(`Finch: ${adapterResultMessage(result)}`);
}

async function pickAction(adapters: AdapterInfo[]): Promise<AdapterAction | undefined> {
  const baseModel = { label: "Base model", description: "no adapter", adapter: undefined };
  const items = [...adapters.map((adapter) => ({ ...adapterItem(adapter), adapter })), baseModel];
  const picked = await vscode.window.showQuickPick(items, {
    title: "Finch: adapters",
    placeHolder: "Pick an adapter version",
  });
  if (!picked) {
    return undefined;
  }
  return picked.adapter ? pickAdapterAction(picked.adapter) : useBaseModel();
}

function useBaseModel(): AdapterAction {
  return { label: "Use the base model", command: ServerCommand.adaptersUse, args: [null] };
}

function pickAdapterAction(adapter: AdapterInfo): Thenable<AdapterAction | undefined> {
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
    confirm: `Delete adapter v${adapter.version}? Its files are removed.`,
  };
  return adapter.active ? [rollback] : [use, rollback, remove];
}

async function confirmed(action: AdapterAction): Promise<boolean> {
  if (!action.confirm) {
    return true;
  }
  const answer = await vscode.window.showWarningMessage(action.confirm, { modal: true }, "Delete");
  return answer === "Delete";
}
