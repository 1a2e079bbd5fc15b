/**
 * What the user reads: server command results turned into messages and status bar text.
 * No `vscode` import, so the tests can render real server results.
 */

import { AdapterInfo, FeedbackResult, FinchStatus, TrainResult, TrainingProgress, isModelReady } from "./protocol";

/** How training is triggered: the settings sent to the server and the workspace's trust. */
export interface TrainingTrigger {
  autoTrain: boolean;
  threshold: number;
  trusted: boolean;
}

/** "Recorded critical feedback (weight 10, 7/10 until training)", plus "pending" when it waits for a correction. */
export function feedbackMessage(result: FeedbackResult, trigger: TrainingTrigger): string {
  const recorded = `Recorded ${result.rating} feedback (weight ${result.weight}, ${trainingOutlook(result, trigger)})`;
  return result.pending ? `${recorded}; pending: no correction yet` : recorded;
}

function trainingOutlook(result: FeedbackResult, trigger: TrainingTrigger): string {
  if (result.trainingStarted) {
    return "training started";
  }
  if (!trigger.trusted) {
    return "no training in an untrusted workspace";
  }
  if (!trigger.autoTrain) {
    return `${examples(result.bufferSize)} buffered, automatic training off`;
  }
  return `${Math.min(result.bufferSize, trigger.threshold)}/${trigger.threshold} until training`;
}

/** "Training started", or why not. */
export function trainMessage(result: TrainResult): string {
  return result.started ? "Training started" : `Training not started: ${result.reason ?? "the server gave no reason"}`;
}

/** Status bar text: model, adapter version and training progress, with a codicon. */
export function statusBarText(status: FinchStatus): string {
  if (status.model.state === "failed") {
    return `$(error) Finch: ${status.model.name} failed to load`;
  }
  if (!isModelReady(status)) {
    return `$(loading~spin) Finch: loading ${status.model.name}`;
  }
  return [`$(sparkle) ${status.model.name}`, adapterLabel(status.adapter), trainingBadge(status.training)]
    .filter(Boolean)
    .join(" ");
}

function adapterLabel(adapter: FinchStatus["adapter"]): string {
  const version = adapter?.version;
  return version === null || version === undefined ? "base" : `v${version}`;
}

function trainingBadge(training: FinchStatus["training"]): string {
  if (training?.state === "running") {
    return `$(sync~spin) ${progressText(training.progress) || "training"}`;
  }
  return training?.state === "failed" ? "$(error) training failed" : "";
}

/** "40% epoch 2/3, step 5/8, loss 0.981" from a percentage or a progress object. */
export function progressText(progress: TrainingProgress | undefined): string {
  if (typeof progress === "number") {
    return `${Math.round(progress)}%`;
  }
  if (!progress) {
    return "";
  }
  const percentage = typeof progress.percentage === "number" ? `${Math.round(progress.percentage)}%` : "";
  return [percentage, progress.message ?? ""].filter(Boolean).join(" ");
}

/** The full status, one line per part, for the "Show status" message and the status bar tooltip. */
export function statusLines(status: FinchStatus): string[] {
  const lines = [`Model: ${modelLine(status)}`];
  if (status.adapter) {
    lines.push(`Adapter: ${adapterLine(status.adapter)}`);
  }
  if (status.buffer) {
    const { weighted, pending } = status.buffer;
    lines.push(`Feedback buffer: ${examples(status.buffer.examples)}, weighted ${weighted}, ${pending} pending`);
  }
  if (status.training) {
    lines.push(`Training: ${trainingLine(status.training)}`);
  }
  return lines;
}

function modelLine(status: FinchStatus): string {
  const { name, device, state, error } = status.model;
  if (state === "failed") {
    return `${name} failed to load${error ? `: ${error}` : ""}`;
  }
  return isModelReady(status) ? `${name} on ${device ?? "an unknown device"}` : `${name} (loading)`;
}

function adapterLine(adapter: NonNullable<FinchStatus["adapter"]>): string {
  if (adapter.version === null || adapter.version === undefined) {
    return "none (base model)";
  }
  const details = [
    typeof adapter.examples === "number" ? examples(adapter.examples) : "",
    typeof adapter.finalLoss === "number" ? `final loss ${formatLoss(adapter.finalLoss)}` : "",
  ].filter(Boolean);
  return details.length ? `v${adapter.version} (${details.join(", ")})` : `v${adapter.version}`;
}

function trainingLine(training: NonNullable<FinchStatus["training"]>): string {
  if (training.state === "running") {
    return ["running", progressText(training.progress)].filter(Boolean).join(" ");
  }
  if (training.state === "failed") {
    return `failed${training.lastError ? `: ${training.lastError}` : ""}`;
  }
  return training.state;
}

/** "1 example", "7 examples". */
function examples(count: number): string {
  return `${count} example${count === 1 ? "" : "s"}`;
}

function formatLoss(loss: number): string {
  return loss.toFixed(3);
}

/** Quick pick label, description and detail of one adapter version. */
export function adapterItem(adapter: AdapterInfo): { label: string; description: string; detail: string } {
  const details = [
    examples(adapter.examples),
    typeof adapter.finalLoss === "number" ? `final loss ${formatLoss(adapter.finalLoss)}` : "",
    evaluationText(adapter.evaluation),
  ].filter(Boolean);
  return {
    label: `v${adapter.version}`,
    description: [adapter.active ? "active" : "", adapter.createdAt].filter(Boolean).join(" · "),
    detail: details.join(", "),
  };
}

function evaluationText(evaluation: unknown): string {
  if (evaluation === null || evaluation === undefined) {
    return "";
  }
  if (typeof evaluation === "object" && "passed" in evaluation) {
    const { passed, reasons } = evaluation as { passed: unknown; reasons?: unknown };
    const why = Array.isArray(reasons) && reasons.length ? `: ${reasons.join("; ")}` : "";
    return passed ? "passed evaluation" : `failed evaluation${why}`;
  }
  return `evaluation ${typeof evaluation === "object" ? JSON.stringify(evaluation) : String(evaluation)}`;
}

/** Result of `finch.adapters.use`, `.rollback` (`{active}`) or `.delete` (`{deleted}`), in words. */
export function adapterResultMessage(result: unknown): string {
  const fields = (result ?? {}) as { active?: number | null; deleted?: number; message?: string };
  if (typeof fields.message === "string") {
    return fields.message;
  }
  if ("active" in fields) {
    return fields.active === null || fields.active === undefined ? "now using the base model" : `now using adapter v${fields.active}`;
  }
  if (typeof fields.deleted === "number") {
    return `deleted adapter v${fields.deleted}`;
  }
  return JSON.stringify(result);
}
