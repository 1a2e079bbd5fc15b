/**
 * A tiny stand-in language server on stdio for the client-side tests that need no model: it
 * answers `initialize` after FAKE_INIT_DELAY_MS (a slow start-up to restart into), `finch.status`,
 * and `finch.models.list` / `finch.models.pull`, whose download it reports as the real server
 * does: `window/workDoneProgress/create`, then `$/progress` titled "finch: downloading NAME".
 * Run as `node out/test/fakeServer.js`.
 */

import {
  ExecuteCommandRequest,
  InitializeRequest,
  ShutdownRequest,
  ExitNotification,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
  TextDocumentSyncKind,
  ProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  createProtocolConnection,
} from "vscode-languageserver-protocol/node";
import { ModelCommand, ModelInfo, ServerCommand } from "../src/protocol";
import { DOWNLOAD_PERCENTAGES, FAKE_MODELS } from "./fakeModels";

function main(): void {
  const connection = createProtocolConnection(new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout));
  const initDelay = Number(process.env.FAKE_INIT_DELAY_MS ?? 0);
  connection.onRequest(InitializeRequest.method, async () => {
    await new Promise((done) => setTimeout(done, initDelay));
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        executeCommandProvider: { commands: [ServerCommand.accept, ServerCommand.status, ModelCommand.list, ModelCommand.pull] },
      },
      serverInfo: { name: "fake-finch", version: "0" },
    };
  });
  connection.onRequest(ExecuteCommandRequest.type, async ({ command, arguments: args }) => {
    switch (command) {
      case ServerCommand.status:
        return { model: { name: "fake-model", device: "cpu", state: "ready" }, adapter: { version: null } };
      case ModelCommand.list:
        return FAKE_MODELS;
      case ModelCommand.pull: {
        const name = String(args?.[0]);
        const model = FAKE_MODELS.find((m) => m.name === name);
        if (!model) {
          return { started: false, reason: `no model called ${name}` };
        }
        void reportDownload(connection, model);
        return { started: true };
      }
      default:
        return null;
    }
  });
  connection.onRequest(ShutdownRequest.method, () => null);
  connection.onNotification(ExitNotification.type, () => process.exit(0));
  connection.onClose(() => process.exit(0));
  connection.listen();
}

async function reportDownload(connection: ProtocolConnection, model: ModelInfo): Promise<void> {
  const token = `download-${model.name}`;
  await connection.sendRequest(WorkDoneProgressCreateRequest.type, { token });
  const [first, ...rest] = DOWNLOAD_PERCENTAGES;
  const bytes = (percentage: number) => `${((model.sizeBytes * percentage) / 100 / 1e6).toFixed(0)} MB of ${(model.sizeBytes / 1e6).toFixed(0)} MB`;
  await connection.sendProgress(WorkDoneProgress.type, token, {
    kind: "begin", title: `finch: downloading ${model.name}`, percentage: first, message: bytes(first), cancellable: false,
  });
  for (const percentage of rest) {
    await connection.sendProgress(WorkDoneProgress.type, token, { kind: "report", percentage, message: bytes(percentage) });
  }
  await connection.sendProgress(WorkDoneProgress.type, token, { kind: "end", message: `${model.name} downloaded` });
}

main();
