/**
 * Trusting the workspace, a new `finch.server.*` setting or API key at any moment, start-up
 * included, leaves exactly one client: one server process and each server command registered
 * once (the stand-in VS Code throws "command ... already exists" as VS Code does). The server is
 * the stand-in, slow to answer `initialize`, so every restart lands during some start-up.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ServerCommand } from "../src/protocol";
import { extensionWithFakeServer, fakeServerProcesses, until } from "./fakeExtension";

const INIT_DELAY_MS = 1500;
const LIMIT_MS = 120_000;

describe("restarts in a stand-in VS Code", { timeout: 600_000, skip: process.platform !== "linux" && "reads /proc" }, () => {
  process.env.FAKE_INIT_DELAY_MS = String(INIT_DELAY_MS);
  const { extension, context, record, events } = extensionWithFakeServer({ trusted: false });
  let activated: Promise<void>;

  before(() => {
    activated = extension.activate(context);
  });

  after(async () => {
    await extension.deactivate();
    context.subscriptions.forEach((disposable) => disposable.dispose());
  });

  /** Waits for one server process, started after `before`, with every server command registered once. */
  async function settled(before: Set<number>): Promise<void> {
    record.statusBar.text = "";
    await until(
      () => {
        const servers = fakeServerProcesses();
        return servers.length === 1 && !before.has(servers[0]) && record.commands.has(ServerCommand.status) &&
          record.statusBar.text.includes("fake-model");
      },
      LIMIT_MS,
      () => `servers ${fakeServerProcesses().join(", ")} (before: ${[...before].join(", ")}); status bar ${record.statusBar.text}; output ${record.output.slice(-5).join(" | ")}`,
    );
    const duplicates = record.output.filter((line) => /already exists|initialization failed/i.test(line));
    assert.deepEqual(duplicates, []);
  }

  const running = () => new Set(fakeServerProcesses());

  it("trusting the workspace at 0 ms, while the first server starts, leaves one client", async () => {
    events.grantTrust();
    await activated;
    await settled(new Set());
  });

  it("a finch.server change 500 ms into a start-up leaves one client", async () => {
    const before = running();
    events.changeConfiguration("finch.server.args");
    await until(() => fakeServerProcesses().some((pid) => !before.has(pid)), LIMIT_MS, () => "no new server process");
    await new Promise((done) => setTimeout(done, 500));
    const starting = running();
    events.changeConfiguration("finch.server.command");
    await settled(starting);
  });

  it("several changes at once, then one after ready, leave one client", async () => {
    const before = running();
    events.changeConfiguration("finch.server.args");
    events.grantTrust();
    events.changeConfiguration("finch.server");
    await settled(before);
    const ready = running();
    events.changeConfiguration("finch.server.args");
    await settled(ready);
  });

  it("deactivating stops the server, even one that is still starting", async () => {
    events.changeConfiguration("finch.server.args");
    await extension.deactivate();
    await until(() => fakeServerProcesses().length === 0, LIMIT_MS, () => `servers ${fakeServerProcesses().join(", ")}`);
  });
});
