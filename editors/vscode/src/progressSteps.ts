/**
 * Pure parts of progress display (progress.ts). No `vscode` import, so they are table-tested.
 */

/** Where a progress shows: downloads in a notification, the rest in the status bar. */
export function progressPlace(title: string): "notification" | "window" {
  return /^finch: downloading /i.test(title) ? "notification" : "window";
}

/**
 * One `progress.report` for VS Code, which adds up increments, from an LSP percentage (0-100,
 * absolute). `reported` is the total already handed to VS Code; percentages never go back.
 */
export function progressStep(
  reported: number,
  value: { message?: string; percentage?: number },
): { message?: string; increment?: number } {
  const step: { message?: string; increment?: number } = {};
  if (typeof value.message === "string") {
    step.message = value.message;
  }
  if (typeof value.percentage === "number" && Number.isFinite(value.percentage)) {
    const clamped = Math.max(0, Math.min(value.percentage, 100));
    step.increment = Math.max(0, clamped - reported);
  }
  return step;
}
