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
} from "vscode-languageclient/node";
import { ApiKeyStore, serverEnvironment } from "./apiKey";
import { currentServerSettings, initializationOptions, serverLaunch } from "./configuration";
import { ServerCommandName } from "./protocol";
import { SECTION, getPath } from "./settings";

export class FinchClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private restarting: Promise<void> = Promise.resolve();

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly apiKeys: ApiKeyStore,
  ) {}

  /** Starts the server; a failure is shown to the user with what to change. */
  async start(): Promise<void> {
    const client = await this.createClient();
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      void vscode.window.showErrorMessage(startFailureMessage(serverLaunch().command, error));
    }
  }

  /** Stops the server and starts a new one (new settings for the process, a new API key). */
  restart(): Promise<void> {
    this.restarting = this.restarting.then(async () => {
      await this.stop();
      await this.start();
    });
    return this.restarting;
  }

  /** Stops the server, if one runs. */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client?.isRunning()) {
      await client.stop();
    }
  }

  /** Runs a server command; rejects with the server's error (a ResponseError) when it fails. */
  async execute<T>(command: ServerCommandName, args: unknown[]): Promise<T> {
    if (!this.client?.isRunning()) {
      throw new Error("the finch server is not running (see the Finch output)");
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
  }

  dispose(): void {
    void this.stop();
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

function startFailureMessage(command: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `Finch: could not start the server "${command}": ${reason}. Install finch-lsp or set finch.server.command.`;
}
