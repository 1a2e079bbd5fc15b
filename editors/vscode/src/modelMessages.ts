/**
 * What the user reads about models (`finch.models.list`, `finch.models.pull`).
 * No `vscode` import, so the tests render real and fake server results.
 */

import { ModelInfo, PullResult } from "./protocol";

/** "1.0 GB", "135 MB", "512 B": decimal units, as download sizes are usually given. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return "unknown size";
  }
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Quick pick label, description and detail of one model. */
export function modelItem(model: ModelInfo): { label: string; description: string; detail: string } {
  const badges = [
    model.active ? "in use" : "",
    model.present ? "downloaded" : `download ${formatBytes(model.sizeBytes)}`,
    model.autoPick ? "auto's pick" : "",
  ].filter(Boolean);
  const memory = `needs ${formatBytes(model.cpuMemoryBytes)} RAM on CPU, ${formatBytes(model.gpuMemoryBytes)} on a GPU`;
  return {
    label: model.name,
    description: badges.join(" · "),
    detail: [model.repo, memory, model.why ?? ""].filter(Boolean).join(" · "),
  };
}

/** The message after `finch.models.pull NAME`: where the progress shows, or why it did not start. */
export function pullMessage(model: ModelInfo, result: PullResult): string {
  if (!result.started) {
    return `${model.name} is not being downloaded: ${result.reason ?? "the server gave no reason"}`;
  }
  return (
    `downloading ${model.name} (${formatBytes(model.sizeBytes)}); the notification shows its progress. ` +
    `Then set finch.model to ${model.name}, or leave it on auto.`
  );
}

/** The message when the picked model is already on this machine. */
export function presentMessage(model: ModelInfo): string {
  return model.active
    ? `${model.name} is downloaded and in use.`
    : `${model.name} is already downloaded. Set finch.model to ${model.name} to use it.`;
}
