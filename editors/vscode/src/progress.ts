/**
 * The server's work-done progress (`window/workDoneProgress/create` + `$/progress`), shown in
 * VS Code. vscode-languageclient shows every progress in the status bar only; a model download
 * takes minutes and was asked for by the user, so it gets a notification with its bytes.
 */

import * as vscode from "vscode";
import {
  LanguageClient,
  ProgressToken,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressReport,
} from "vscode-languageclient/node";
import { progressPlace, progressStep } from "./progressSteps";

type Reported = Pick<WorkDoneProgressReport, "message" | "percentage">;

/**
 * Shows the progress of `token` from its `begin` to its `end`. The returned function ends it
 * early: a stopped server sends no `end`.
 */
export function showWorkDoneProgress(client: LanguageClient, token: ProgressToken): () => void {
  const view = new ProgressView(client, token);
  return () => view.end();
}

class ProgressView {
  private readonly listener: vscode.Disposable;
  private progress: vscode.Progress<{ message?: string; increment?: number }> | undefined;
  private finish: (() => void) | undefined;
  private reported = 0;
  private ended = false;
  /** The latest report that came before VS Code handed over its progress object. */
  private waiting: Reported | undefined;

  constructor(
    private readonly client: LanguageClient,
    private readonly token: ProgressToken,
  ) {
    this.listener = client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === "begin") {
        this.begin(value);
      } else if (value.kind === "report") {
        this.report(value);
      } else {
        this.end();
      }
    });
  }

  private begin(value: WorkDoneProgressBegin): void {
    const location =
      progressPlace(value.title) === "notification" ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window;
    this.waiting = value;
    void vscode.window.withProgress(
      { location, title: value.title, cancellable: value.cancellable ?? false },
      (progress, cancellation) => {
        if (this.ended) {
          return Promise.resolve();
        }
        cancellation.onCancellationRequested(() => {
          void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token: this.token });
        });
        this.progress = progress;
        const waiting = this.waiting;
        this.waiting = undefined;
        if (waiting) {
          this.report(waiting);
        }
        return new Promise<void>((done) => (this.finish = done));
      },
    );
  }

  private report(value: Reported): void {
    if (!this.progress) {
      this.waiting = { ...this.waiting, ...value };
      return;
    }
    const step = progressStep(this.reported, value);
    this.reported += step.increment ?? 0;
    this.progress.report(step);
  }

  end(): void {
    this.ended = true;
    this.listener.dispose();
    this.finish?.();
  }
}
