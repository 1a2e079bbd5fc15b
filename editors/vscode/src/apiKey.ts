/**
 * The Anthropic API key, kept in VS Code's SecretStorage. It reaches the server only through
 * the `ANTHROPIC_API_KEY` environment variable of the server process, and is never logged.
 */

import * as vscode from "vscode";

const SECRET_NAME = "finch.anthropicApiKey";

export class ApiKeyStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  /** The stored key, if any. */
  get(): Thenable<string | undefined> {
    return this.secrets.get(SECRET_NAME);
  }

  /** Stores `key`, or forgets the stored key when `key` is empty. */
  async set(key: string): Promise<void> {
    if (key) {
      await this.secrets.store(SECRET_NAME, key);
    } else {
      await this.secrets.delete(SECRET_NAME);
    }
  }
}

/** Asks for a key; undefined when the user cancels, "" when they want the stored key removed. */
export async function askForApiKey(): Promise<string | undefined> {
  const key = await vscode.window.showInputBox({
    title: "Finch: Anthropic API key",
    prompt: "Used by the teacher (finch.teacher.enabled). Leave empty to remove the stored key.",
    password: true,
    ignoreFocusOut: true,
  });
  return key?.trim();
}

/** The server's environment: this process's, plus the stored key in trusted workspaces. */
export async function serverEnvironment(store: ApiKeyStore): Promise<NodeJS.ProcessEnv> {
  const key = vscode.workspace.isTrusted ? await store.get() : undefined;
  return key ? { ...process.env, ANTHROPIC_API_KEY: key } : { ...process.env };
}
