/**
 * A stand-in for the `vscode` module, so the bundled extension (out/extension.js) can be
 * activated in plain Node against the real server: VS Code itself cannot run in the tests.
 *
 * The parts the extension's own code uses are real (settings, trust, secrets, commands,
 * messages, the status bar item); everything else vscode-languageclient touches is answered by
 * a permissive stand-in that accepts any call and returns another stand-in.
 */

import Module from "node:module";

/** What the extension showed and registered, for the tests to read. */
export interface FakeVscodeRecord {
  commands: Map<string, (...args: unknown[]) => unknown>;
  messages: { level: "info" | "warning" | "error"; text: string; detail?: string }[];
  output: string[];
  statusBar: { text: string; tooltip: string };
  secrets: Map<string, string>;
  /** Every `window.withProgress`: where, its title, what it reported, and whether it has ended. */
  progress: { location: number; title: string; reports: { message?: string; increment?: number }[]; done: boolean }[];
  /** `finch.*` settings written with `WorkspaceConfiguration.update`. */
  updates: { key: string; value: unknown }[];
}

/** VS Code's `ProgressLocation` values. */
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 } as const;

/** Events the tests fire as VS Code would. */
export interface FakeVscodeEvents {
  grantTrust(): void;
  changeConfiguration(section: string): void;
}

export interface FakeVscodeOptions {
  /** `finch.*` values by key below `finch.`; unset keys read as the caller's default. */
  settings: Record<string, unknown>;
  trusted: boolean;
  /** What each input box answers. */
  inputBox: string | undefined;
  /** What each quick pick answers: one of its items, or undefined (cancelled). */
  quickPick?: (items: readonly { label: string }[]) => unknown;
}

export function createFakeVscode(options: FakeVscodeOptions): { api: object; record: FakeVscodeRecord; events: FakeVscodeEvents } {
  const record: FakeVscodeRecord = {
    commands: new Map(),
    messages: [],
    output: [],
    statusBar: { text: "", tooltip: "" },
    secrets: new Map(),
    progress: [],
    updates: [],
  };
  const trustGranted = new EventEmitter<void>();
  const configurationChanged = new EventEmitter<{ affectsConfiguration(section: string): boolean }>();
  const events: FakeVscodeEvents = {
    grantTrust: () => {
      options.trusted = true;
      trustGranted.fire();
    },
    changeConfiguration: (changed) =>
      configurationChanged.fire({ affectsConfiguration: (section) => changed === section || changed.startsWith(`${section}.`) }),
  };
  const show = (level: "info" | "warning" | "error") => async (text: string, ...rest: unknown[]) => {
    const detail = (rest[0] as { detail?: string } | undefined)?.detail;
    record.messages.push({ level, text, detail });
    return undefined;
  };
  const api = {
    version: "1.99.0",
    EventEmitter,
    Disposable,
    StatusBarAlignment: { Left: 1, Right: 2 },
    ProgressLocation,
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    ThemeColor: class {
      constructor(readonly id: string) {}
    },
    workspace: {
      get isTrusted() {
        return options.trusted;
      },
      getConfiguration: (section?: string) => ({
        get: (key: string, fallback?: unknown) =>
          section === "finch" && key in options.settings ? options.settings[key] : fallback,
        update: async (key: string, value: unknown) => void record.updates.push({ key, value }),
      }),
      onDidGrantWorkspaceTrust: trustGranted.event,
      onDidChangeConfiguration: configurationChanged.event,
      textDocuments: [],
      notebookDocuments: [],
      workspaceFolders: undefined,
    },
    window: {
      createOutputChannel: () => outputChannel(record.output),
      createStatusBarItem: () => Object.assign(record.statusBar, { show() {}, dispose() {} }),
      showInformationMessage: show("info"),
      showWarningMessage: show("warning"),
      showErrorMessage: show("error"),
      showInputBox: async () => options.inputBox,
      showQuickPick: async (items: readonly { label: string }[]) => options.quickPick?.(await items),
      withProgress: (
        { location, title }: { location: number; title: string },
        task: (progress: object, token: object) => Promise<unknown>,
      ) => {
        const shown: FakeVscodeRecord["progress"][number] = { location, title, reports: [], done: false };
        record.progress.push(shown);
        const progress = { report: (step: { message?: string; increment?: number }) => void shown.reports.push(step) };
        const token = { isCancellationRequested: false, onCancellationRequested: () => new Disposable() };
        return Promise.resolve(task(progress, token)).finally(() => (shown.done = true));
      },
      visibleTextEditors: [],
    },
    env: { appName: "Visual Studio Code", language: "en", machineId: "test", sessionId: "test", uriScheme: "vscode" },
    commands: {
      registerCommand: (id: string, handler: (...args: unknown[]) => unknown) => {
        if (record.commands.has(id)) {
          throw new Error(`command '${id}' already exists`); // as VS Code does
        }
        record.commands.set(id, handler);
        return new Disposable(() => record.commands.delete(id));
      },
      executeCommand: async () => undefined,
    },
  };
  return { api: permissive(api, "vscode"), record, events };
}

/** Makes `require("vscode")` return `api` in this process. */
export function installFakeVscode(api: object): void {
  const modules = Module as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, unknown>;
  };
  const resolve = modules._resolveFilename;
  modules._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
  };
  modules._cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: api };
}

/** An extension context with in-memory secret storage. */
export function fakeExtensionContext(record: FakeVscodeRecord) {
  return {
    subscriptions: [] as { dispose(): unknown }[],
    secrets: {
      get: async (key: string) => record.secrets.get(key),
      store: async (key: string, value: string) => void record.secrets.set(key, value),
      delete: async (key: string) => void record.secrets.delete(key),
      onDidChange: () => new Disposable(),
    },
  };
}

class Disposable {
  constructor(private readonly onDispose?: () => unknown) {}

  dispose(): void {
    this.onDispose?.();
  }

  static from(...disposables: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => disposables.forEach((d) => d.dispose()));
  }
}

class EventEmitter<T> {
  private readonly listeners = new Set<(event: T) => unknown>();

  readonly event = (listener: (event: T) => unknown) => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };

  fire(event: T): void {
    this.listeners.forEach((listener) => listener(event));
  }

  dispose(): void {
    this.listeners.clear();
  }
}

function outputChannel(lines: string[]) {
  const write = (message: string) => void lines.push(message);
  return permissive(
    { logLevel: 2, trace: write, debug: write, info: write, warn: write, error: write, append: write, appendLine: write },
    "outputChannel",
  );
}

/** `target`, where every missing property is a stand-in that accepts any use. */
function permissive<T extends object>(target: T, name: string): T {
  return new Proxy(target, {
    get: (object, property) => {
      if (property in object) {
        const value = (object as Record<string | symbol, unknown>)[property];
        return isPlainObject(value) ? permissive(value as object, `${name}.${String(property)}`) : value;
      }
      return property === "then" ? undefined : standIn(`${name}.${String(property)}`);
    },
  });
}

function standIn(name: string): unknown {
  // A function, not an arrow: the client's classes extend vscode classes at load time.
  const callable = function () {
    return standIn(`${name}()`);
  };
  return new Proxy(callable, {
    get: (_target, property) => {
      if (property === Symbol.toPrimitive) {
        return () => 0;
      }
      return property === "then" ? undefined : standIn(`${name}.${String(property)}`);
    },
    construct: () => standIn(`new ${name}`) as object,
  });
}

function isPlainObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
