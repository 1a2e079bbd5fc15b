/**
 * Status bar item: model, adapter version and training progress, polled from `finch.status`.
 * Polls faster while training runs. Progress notifications themselves are shown by
 * vscode-languageclient from the server's `$/progress`.
 */

import * as vscode from "vscode";
import { STATUS_COMMAND } from "./commands";
import { statusBarText, statusLines } from "./messages";
import { FinchStatus } from "./protocol";

const IDLE_POLL_MS = 5000;
const TRAINING_POLL_MS = 1500;

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  private timer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(private readonly fetchStatus: () => Promise<FinchStatus>) {
    this.item.name = "Finch";
    this.item.command = STATUS_COMMAND.id;
    this.item.text = "$(loading~spin) Finch";
    this.item.tooltip = "Finch: starting";
    this.item.show();
  }

  /** Polls until disposed. */
  start(): void {
    void this.poll();
  }

  /** Shows a status the caller already has. */
  show(status: FinchStatus): void {
    this.item.text = statusBarText(status);
    this.item.tooltip = ["Finch", ...statusLines(status)].join("\n");
    this.item.backgroundColor =
      status.training?.state === "failed" || status.model.state === "failed"
        ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.item.dispose();
  }

  private async poll(): Promise<void> {
    const status = await this.refresh();
    if (!this.disposed) {
      const delay = status?.training?.state === "running" ? TRAINING_POLL_MS : IDLE_POLL_MS;
      this.timer = setTimeout(() => void this.poll(), delay);
    }
  }

  private async refresh(): Promise<FinchStatus | undefined> {
    try {
      const status = await this.fetchStatus();
      this.show(status);
      return status;
    } catch (error) {
      this.showUnavailable(error);
      return undefined;
    }
  }

  private showUnavailable(error: unknown): void {
    this.item.text = "$(circle-slash) Finch";
    this.item.tooltip = `Finch: no status (${error instanceof Error ? error.message : String(error)})`;
    this.item.backgroundColor = undefined;
  }
}
