/**
 * Names and result shapes of the server's `workspace/executeCommand` commands (PROTOCOL.md).
 * No `vscode` import: the end-to-end test drives the real server through this module.
 */

export const ServerCommand = {
  accept: "finch.accept",
  feedback: "finch.feedback",
  feedbackCritical: "finch.feedback.critical",
  feedbackMedium: "finch.feedback.medium",
  feedbackGood: "finch.feedback.good",
  train: "finch.train",
  status: "finch.status",
  adaptersList: "finch.adapters.list",
  adaptersUse: "finch.adapters.use",
  adaptersRollback: "finch.adapters.rollback",
  adaptersDelete: "finch.adapters.delete",
} as const;

/**
 * The known models and their download, as `finch-lsp models list` and `pull` on the command
 * line. Kept apart from ServerCommand: a server without them still runs everything else.
 */
export const ModelCommand = {
  list: "finch.models.list",
  pull: "finch.models.pull",
} as const;

export type ServerCommandName =
  | (typeof ServerCommand)[keyof typeof ServerCommand]
  | (typeof ModelCommand)[keyof typeof ModelCommand];

export type Rating = "critical" | "medium" | "good";

/** `finch.feedback` argument. */
export interface FeedbackRequest {
  rating: Rating;
  note?: string;
  suggestionId?: string;
  correction?: string;
}

/** Result of `finch.feedback` and `finch.feedback.<rating>`. */
export interface FeedbackResult {
  recorded: boolean;
  exampleId: string;
  rating: Rating;
  weight: number;
  pending: boolean;
  bufferSize: number;
  weightedTotal: number;
  trainingStarted: boolean;
}

/** Result of `finch.train`. */
export interface TrainResult {
  started: boolean;
  reason?: string;
}

/** Training progress as `finch.status` may report it: a percentage or an object. */
export type TrainingProgress = number | { percentage?: number; message?: string };

/** The model part of `finch.status`. */
export interface ModelStatus {
  name: string;
  device: string | null;
  state?: "loading" | "ready" | "failed";
  error?: string | null;
}

/**
 * Result of `finch.status`. The parts past `model` are optional here so that the status bar
 * shows what a server sends even when it leaves a part out; the end-to-end test requires them.
 */
export interface FinchStatus {
  model: ModelStatus;
  adapter?: { version: number | null; examples?: number; finalLoss?: number | null };
  buffer?: { examples: number; weighted: number; pending: number };
  training?: { state: "idle" | "running" | "failed"; progress?: TrainingProgress; lastError?: string | null };
}

/** One entry of `finch.adapters.list`. */
export interface AdapterInfo {
  version: number;
  createdAt: string;
  examples: number;
  finalLoss: number | null;
  active: boolean;
  evaluation?: unknown;
}

/** One entry of `finch.models.list`. */
export interface ModelInfo {
  name: string;
  repo: string;
  sizeBytes: number;
  cpuMemoryBytes: number;
  gpuMemoryBytes: number;
  /** Downloaded (or embedded) on this machine. */
  present: boolean;
  /** The model the server runs now. */
  active: boolean;
  /** The model `auto` picks on this machine. */
  autoPick: boolean;
  /** Why `auto` picks it, or not. */
  why?: string;
}

/** Result of `finch.models.pull`; the download's bytes arrive as `$/progress` "finch: downloading NAME". */
export interface PullResult {
  started: boolean;
  reason?: string;
}

/** JSON-RPC InvalidParams: bad arguments or an unknown suggestion id. */
export const INVALID_PARAMS = -32602;

/** Whether the model can complete: `model.state` is "ready" (a server without the field: it has a device). */
export function isModelReady(status: FinchStatus): boolean {
  return status.model.state === undefined ? Boolean(status.model.device) : status.model.state === "ready";
}
