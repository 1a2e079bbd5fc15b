/**
 * "Finch: Download a model…": pick one of the server's known models (`finch.models.list`) and
 * download it (`finch.models.pull`). The download's `$/progress` shows in a notification
 * (progress.ts); a model already present can be made the `finch.model` setting instead.
 */

import * as vscode from "vscode";
import { FinchClient } from "./finchClient";
import { modelItem, presentMessage, pullMessage } from "./modelMessages";
import { ModelCommand, ModelInfo, PullResult } from "./protocol";
import { SECTION } from "./settings";

/** Runs the pick-then-download flow; does nothing when the user cancels. */
export async function downloadModel(client: FinchClient): Promise<void> {
  const models = await client.execute<ModelInfo[]>(ModelCommand.list, []);
  if (models.length === 0) {
    void vscode.window.showInformationMessage("Finch: the server knows no models to download.");
    return;
  }
  const picked = await vscode.window.showQuickPick(
    models.map((model) => ({ ...modelItem(model), model })),
    { title: "Finch: Download a model", placeHolder: "Pick a model to download", matchOnDetail: true },
  );
  if (!picked) {
    return;
  }
  if (picked.model.present) {
    await offerToUse(picked.model);
    return;
  }
  const result = await client.execute<PullResult>(ModelCommand.pull, [picked.model.name]);
  const show = result.started ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
  void show(`Finch: ${pullMessage(picked.model, result)}`);
}

async function offerToUse(model: ModelInfo): Promise<void> {
  const use = `Use ${model.name}`;
  const answer = await vscode.window.showInformationMessage(
    `Finch: ${presentMessage(model)}`,
    ...(model.active ? [] : [use]),
  );
  if (answer === use) {
    await vscode.workspace.getConfiguration(SECTION).update("model", model.name, vscode.ConfigurationTarget.Global);
  }
}
