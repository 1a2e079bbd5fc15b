/**
 * The real finch-lsp server on stdio, driven the way VS Code drives it: VS Code's client
 * capabilities (fixtures/vscodeClientCapabilities.json, from scripts/dumpClientCapabilities.cjs),
 * the server requests a VS Code client answers, and the extension's command names.
 */

import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  ClientCapabilities,
  ConfigurationRequest,
  ExecuteCommandRequest,
  InitializeRequest,
  InitializeResult,
  InitializedNotification,
  ProgressToken,
  WorkDoneProgressBegin,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
  InlineCompletionItem,
  InlineCompletionList,
  InlineCompletionRequest,
  InlineCompletionTriggerKind,
  LogMessageNotification,
  Position,
  RegistrationRequest,
  ShowMessageNotification,
  ShowMessageParams,
  ShowMessageRequest,
  UnregistrationRequest,
  WorkDoneProgressCreateRequest,
  DidChangeConfigurationNotification,
  DidOpenTextDocumentNotification,
  ExitNotification,
  ShutdownRequest,
} from "vscode-languageserver-protocol";
import { MessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter, createMessageConnection } from "vscode-jsonrpc/node";
import vscodeCapabilities from "./fixtures/vscodeClientCapabilities.json";
import { FinchStatus, ServerCommand, ServerCommandName, isModelReady } from "../src/protocol";
import { PACKAGE_ROOT } from "./packageRoot";

/** One `$/progress` notification of work-done progress. */
export interface WorkDoneProgress {
  token: ProgressToken;
  value: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;
}

/**
 * Longest wait for one answer: a completion on 2 CPU cores that other work keeps busy, a status
 * while training starts. Generous: a wait ends as soon as the answer comes.
 */
const REQUEST_TIMEOUT_MS = 180_000;

/** FINCH_LSP_COMMAND, else the repository's .venv/bin/finch-lsp when it exists, else finch-lsp on PATH. */
export function serverCommand(): string {
  const venvServer = resolve(PACKAGE_ROOT, "..", "..", ".venv", "bin", "finch-lsp");
  return process.env.FINCH_LSP_COMMAND || (existsSync(venvServer) ? venvServer : "finch-lsp");
}

/** Notifications of one kind, in order, with a way to await the next one that matches. */
export class Received<T> {
  readonly all: T[] = [];
  private readonly waiters = new Set<(item: T) => void>();

  constructor(private readonly what: string) {}

  add(item: T): void {
    this.all.push(item);
    this.waiters.forEach((waiter) => waiter(item));
  }

  /** The first item so far or from now on that `matches`; fails after `timeoutMs`. */
  until(matches: (item: T) => boolean, timeoutMs: number): Promise<T> {
    const seen = this.all.find(matches);
    return seen === undefined ? this.next(matches, timeoutMs) : Promise.resolve(seen);
  }

  /** The first item from now on that `matches`; fails after `timeoutMs`. */
  next(matches: (item: T) => boolean, timeoutMs: number): Promise<T> {
    let waiter: (item: T) => void = () => undefined;
    const arrived = new Promise<T>((done) => {
      waiter = (item) => matches(item) && done(item);
      this.waiters.add(waiter);
    });
    return withTimeout(arrived, timeoutMs, this.what).finally(() => this.waiters.delete(waiter));
  }
}

export class FinchServer {
  readonly messages = new Received<ShowMessageParams>("window/showMessage");
  readonly progress = new Received<WorkDoneProgress>("$/progress");
  readonly dataDir = mkdtempSync(join(tmpdir(), "finch-vscode-test-"));
  private readonly process = spawnServer(this.dataDir);
  private readonly connection = createMessageConnection(
    new StreamMessageReader(this.process.stdout!),
    new StreamMessageWriter(this.process.stdin!),
  );
  private readonly ended = processEnd(this.process);
  private stderr = "";

  private constructor() {
    this.process.stderr!.on("data", (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-8000)));
    answerServerRequests(this.connection);
    this.connection.onNotification(ShowMessageNotification.type, (message) => this.messages.add(message));
    this.connection.onUnhandledProgress((params) => this.progress.add(params as WorkDoneProgress));
    this.connection.listen();
  }

  /** Starts the server with a fresh data dir and runs `initialize` + `initialized`. */
  static async start(initializationOptions: object): Promise<{ server: FinchServer; result: InitializeResult }> {
    const server = new FinchServer();
    const result = await server.request(initializeRequest(initializationOptions), REQUEST_TIMEOUT_MS, "initialize");
    await server.connection.sendNotification(InitializedNotification.type, {});
    return { server, result };
  }

  /** `workspace/executeCommand`; rejects with the server's ResponseError. */
  execute<T>(command: ServerCommandName | string, args: unknown[]): Promise<T> {
    const send = (connection: MessageConnection) =>
      connection.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
    return this.request(send, REQUEST_TIMEOUT_MS, command);
  }

  /** `textDocument/didOpen` of a python document. */
  openPython(uri: string, text: string): Promise<void> {
    return this.connection.sendNotification(DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: "python", version: 1, text },
    });
  }

  /** `workspace/didChangeConfiguration` with the `finch` section. */
  changeSettings(finch: object): Promise<void> {
    return this.connection.sendNotification(DidChangeConfigurationNotification.type, { settings: { finch } });
  }

  /** `textDocument/inlineCompletion` as VS Code sends it when the user asks for a suggestion. */
  async inlineCompletion(uri: string, position: Position): Promise<InlineCompletionItem[]> {
    const send = (connection: MessageConnection) =>
      connection.sendRequest(InlineCompletionRequest.type, {
        textDocument: { uri },
        position,
        context: { triggerKind: InlineCompletionTriggerKind.Invoked },
      });
    return inlineItems(await this.request(send, REQUEST_TIMEOUT_MS, "textDocument/inlineCompletion"));
  }

  /** Polls `finch.status` until the model is ready; fails on a load failure or after `timeoutMs`. */
  async waitForModel(timeoutMs: number): Promise<FinchStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.execute<FinchStatus>(ServerCommand.status, []);
      if (isModelReady(status)) {
        return status;
      }
      if (status.model.state === "failed" || Date.now() > deadline) {
        throw new Error(`model not ready: ${JSON.stringify(status.model)}\n${this.diagnostics()}`);
      }
      await new Promise((done) => setTimeout(done, 500));
    }
  }

  /**
   * Polls `finch.status` until training has finished (`training.state` is no longer "running"):
   * the adapter it made is then listed. Fails after `timeoutMs`.
   */
  async waitForTraining(timeoutMs: number): Promise<FinchStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.execute<FinchStatus>(ServerCommand.status, []);
      if (status.training?.state !== "running") {
        return status;
      }
      if (Date.now() > deadline) {
        throw new Error(`training still running after ${timeoutMs / 1000} s: ${JSON.stringify(status.training)}\n${this.diagnostics()}`);
      }
      await new Promise((done) => setTimeout(done, 500));
    }
  }

  /** The end of the server's stderr and log file, for failure messages. */
  diagnostics(): string {
    const logFile = join(this.dataDir, "server.log");
    const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-4000) : "(no log file)";
    return `--- server stderr ---\n${this.stderr}\n--- server log ---\n${log}`;
  }

  /** `shutdown` + `exit`; kills the process if it has not exited within 60 s; removes the data dir. */
  async shutdown(): Promise<void> {
    try {
      await withTimeout(this.connection.sendRequest(ShutdownRequest.type), 60_000, "shutdown");
      await this.connection.sendNotification(ExitNotification.type);
      await withTimeout(this.ended.catch(() => undefined), 60_000, "exit");
    } finally {
      this.process.kill("SIGKILL");
      this.connection.dispose();
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }

  /** A request that fails with the server's output when the server dies or does not answer. */
  private request<T>(sending: (connection: MessageConnection) => Promise<T>, ms: number, what: string): Promise<T> {
    const answer = Promise.race([sending(this.connection), this.ended]);
    return withTimeout(answer, ms, what).catch((error: Error) => {
      if (error instanceof ResponseError) {
        throw error;
      }
      throw new Error(`${what}: ${error.message}\n${this.diagnostics()}`);
    });
  }
}

function spawnServer(dataDir: string): ChildProcess {
  const command = serverCommand();
  if (command.includes("/") && !existsSync(command)) {
    throw new Error(`no finch-lsp at ${command}: run 'make install' or set FINCH_LSP_COMMAND`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, FINCH_DATA_DIR: dataDir };
  delete env.ANTHROPIC_API_KEY;
  return spawn(command, ["--log-file", join(dataDir, "server.log")], { env, stdio: ["pipe", "pipe", "pipe"] });
}

/** Rejects when the process cannot start or exits: no request of a dead server is awaited forever. */
function processEnd(child: ChildProcess): Promise<never> {
  const ended = new Promise<never>((_, fail) => {
    child.once("error", (error) => fail(new Error(`could not start ${serverCommand()}: ${error.message}`)));
    child.once("exit", (code, signal) => fail(new Error(`the server exited (code ${code}, signal ${signal})`)));
  });
  ended.catch(() => undefined);
  return ended;
}

/** The requests a VS Code client answers for the server (progress tokens, registrations, settings). */
function answerServerRequests(connection: MessageConnection): void {
  connection.onRequest(WorkDoneProgressCreateRequest.type, () => undefined);
  connection.onRequest(RegistrationRequest.type, () => undefined);
  connection.onRequest(UnregistrationRequest.type, () => undefined);
  connection.onRequest(ShowMessageRequest.type, () => null);
  connection.onRequest(ConfigurationRequest.type, (params) => params.items.map(() => null));
  connection.onNotification(LogMessageNotification.type, () => undefined);
}

/** `initialize` as VS Code 1.99 sends it, with the given initializationOptions. */
function initializeRequest(initializationOptions: object) {
  const workspace = `file://${resolve(PACKAGE_ROOT, "test")}`;
  return (connection: MessageConnection) =>
    connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      clientInfo: { name: "Visual Studio Code", version: "1.99.0" },
      locale: "en",
      rootUri: workspace,
      workspaceFolders: [{ uri: workspace, name: "test" }],
      capabilities: vscodeCapabilities as ClientCapabilities,
      initializationOptions,
      trace: "off",
    });
}

function inlineItems(result: InlineCompletionList | InlineCompletionItem[] | null): InlineCompletionItem[] {
  if (result === null) {
    return [];
  }
  return Array.isArray(result) ? result : result.items;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
