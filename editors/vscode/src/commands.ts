/**
 * The command palette entries and the server commands behind them.
 *
 * Palette ids live in their own `finch-lsp.` namespace: vscode-languageclient registers every
 * server command (`finch.*`) as a VS Code command itself, so the two must not collide.
 * No `vscode` import: package.json is generated from and tested against this table, and the
 * end-to-end test runs the same mapping against the real server.
 */

import { Rating, ServerCommand, ServerCommandName } from "./protocol";

export interface PaletteCommand {
  readonly id: string;
  readonly title: string;
}

export interface FeedbackCommand extends PaletteCommand {
  readonly rating: Rating;
  readonly serverCommand: ServerCommandName;
}

export const FEEDBACK_COMMANDS: readonly FeedbackCommand[] = [
  {
    id: "finch-lsp.feedbackCritical",
    title: "Finch: Critical feedback on last suggestion",
    rating: "critical",
    serverCommand: ServerCommand.feedbackCritical,
  },
  {
    id: "finch-lsp.feedbackMedium",
    title: "Finch: Medium feedback on last suggestion",
    rating: "medium",
    serverCommand: ServerCommand.feedbackMedium,
  },
  {
    id: "finch-lsp.feedbackGood",
    title: "Finch: Good feedback on last suggestion",
    rating: "good",
    serverCommand: ServerCommand.feedbackGood,
  },
];

export const TRAIN_COMMAND = { id: "finch-lsp.train", title: "Finch: Train now" } as const;
export const STATUS_COMMAND = { id: "finch-lsp.showStatus", title: "Finch: Show status" } as const;
export const ADAPTERS_COMMAND = { id: "finch-lsp.manageAdapters", title: "Finch: Manage adapters" } as const;
export const API_KEY_COMMAND = { id: "finch-lsp.setApiKey", title: "Finch: Set Anthropic API key" } as const;
export const MODELS_COMMAND = { id: "finch-lsp.downloadModel", title: "Finch: Download a model…" } as const;

/** Every palette entry, in the order package.json lists them. */
export const PALETTE_COMMANDS: readonly PaletteCommand[] = [
  ...FEEDBACK_COMMANDS,
  TRAIN_COMMAND,
  STATUS_COMMAND,
  ADAPTERS_COMMAND,
  API_KEY_COMMAND,
  MODELS_COMMAND,
];

/** Arguments of `finch.feedback.<rating>`: the note when one was typed, else none. */
export function feedbackArguments(note: string | undefined): [] | [string] {
  const trimmed = note?.trim();
  return trimmed ? [trimmed] : [];
}

/** package.json `contributes.commands`, generated from PALETTE_COMMANDS. */
export function contributedCommands(): { command: string; title: string }[] {
  return PALETTE_COMMANDS.map((c) => ({ command: c.id, title: c.title }));
}
