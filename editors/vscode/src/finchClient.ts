/**
 * The language client: starts the finch server, keeps it told of the settings, and runs its
 * commands. Inline completions go through vscode-languageclient's own inlineCompletion feature.
 */

import * as vscode from "vscode";
import {
  CancellationToken,
  ConfigurationParams,
  ConfigurationRequest,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ResponseError,
  ServerOptions,
  State,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import { ApiKeyStore, serverEnvironment } from "./apiKey";
import { currentServerSettings, initializationOptions, serverLaunch } from "./configuration";
import { showWorkDoneProgress } from "./progress";
import { ServerCommandName } from "./protocol";
import { SECTION, getPath } from "./settings";

/** How long a stopping server may take to answer `shutdown` before its process is killed. */
const STOP_TIMEOUT_MS = 5000;

/**
 * Owns the one language client. Every start, restart and stop runs in order on one promise
 * chain: a restart asked for while the server is still starting (trusting the workspace, a new
 * `finch.server.*` setting or API key) waits for that start, stops that client, then starts
 * the next, so exactly one client is ever registered and running.
 */
export class FinchClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** A restart queued and not begun yet: later requests join it (it reads the settings when it runs). */
  private queuedRestart: Promise<void> | undefined;
  private disposed = false;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly apiKeys: ApiKeyStore,
  ) {}

  /** Starts the server (after whatever start, restart or stop is under way). */
  start(): Promise<void> {
    return this.enqueue(() => this.startNow());
  }

  /** Stops the server and starts a new one (new settings for the process, a new API key). */
  restart(): Promise<void> {
    if (!this.queuedRestart) {
      const restart = this.enqueue(async () => {
        this.queuedRestart = undefined;
        await this.stopNow();
        await this.startNow();
      });
      this.queuedRestart = restart;
    }
    return this.queuedRestart;
  }

  /** Stops the server, if one runs or is starting. */
  stop(): Promise<void> {
    return this.enqueue(() => this.stopNow());
  }

  /** Runs a server command; rejects with the server's error (a ResponseError) when it fails. */  /** Runs a server command; rejects with the server's error (a ResponseError) when it fails. */
  async execute<T>(command: ServerCommandName, args: unknown[]): Promise<T> {
    if (!this.client?.isRunning()) {
      throw new Error("the finch server is not running (see the Finch output)");
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
  }

  dispose(): void {
    void this.stop();
    this.disposed = true;
  }

  /** Runs `step` after every step queued before it; a failed step does not stop the chain. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch((error) => this.output.error(`Finch: ${errorText(error)}`));
    return this.chain;
  }

  private async startNow(): Promise<void> {
    if (this.disposed || this.client) {
      return;
    }
    const client = await this.createClient();
    this.client = client;
    try {
      await client.start();
      this.showProgressOf(client);
    } catch (error) {
      void vscode.window.showErrorMessage(startFailureMessage(serverLaunch().command, error));
    }
  }

  /** The server's work-done progress, shown by progress.ts; ended when the server stops. */
  private showProgressOf(client: LanguageClient): void {
    const shown = new Set<() => void>();
    client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => void shown.add(showWorkDoneProgress(client, token)));
    client.onDidChangeState(({ newState }) => {
      if (newState === State.Stopped) {
        shown.forEach((end) => end());
        shown.clear();
      }
    });
  }

  /** Stops the current client, waiting first for a start still under way. */
  private async stopNow(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) {
      return;
    }
    if (client.state === State.Starting) {
      await client.start().catch(() => undefined);
    }
    if (client.needsStop()) {
      await client.stop(STOP_TIMEOUT_MS).catch((error) => this.output.warn(`Finch: stopping the server: ${errorText(error)}`));
    }
  }

  private async createClient(): Promise<LanguageClient> {
    const launch = serverLaunch();
    const serverOptions: ServerOptions = {
      command: launch.command,
      args: launch.args,
      options: { env: await serverEnvironment(this.apiKeys) },
    };
    const client: LanguageClient = new LanguageClient("finch", "Finch", serverOptions, this.clientOptions(() => client));
    return client;
  }

  private clientOptions(client: () => LanguageClient): LanguageClientOptions {
    return {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: this.output,
      initializationOptions: () => initializationOptions(),
      synchronize: { configurationSection: SECTION },
      middleware: {
        workspace: {
          didChangeConfiguration: () => sendSettings(client()),
          configuration: answerConfiguration,
        },
      },
    };
  }
}

/** `workspace/didChangeConfiguration` with the trust-adjusted settings, not VS Code's raw ones. */
async function sendSettings(client: LanguageClient): Promise<void> {
  await client.sendNotification(DidChangeConfigurationNotification.type, {
    settings: { [SECTION]: currentServerSettings() },
  });
}

/** `workspace/configuration`: the `finch` section (or part of it) comes trust-adjusted too. */
async function answerConfiguration(
  params: ConfigurationParams,
  token: CancellationToken,
  next: ConfigurationRequest.HandlerSignature,
): Promise<unknown[] | ResponseError<void>> {
  const answers = await next(params, token);
  if (!Array.isArray(answers)) {
    return answers;
  }
  return params.items.map((item, index) => finchSection(item.section) ?? answers[index]);
}

function finchSection(section: string | undefined): unknown {
  if (section === SECTION) {
    return currentServerSettings();
  }
  if (section?.startsWith(`${SECTION}.`)) {
    return getPath(currentServerSettings(), section.slice(SECTION.length + 1)) ?? null;
  }
  return undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function startFailureMessage(command: string, error: unknown): string {
  const reason = errorText(error);
  return `Finch: could not start the server "${command}": ${reason}. Install finch-lsp or set finch.server.command.`;
}
