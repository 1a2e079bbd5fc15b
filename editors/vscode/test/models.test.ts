/**
 * "Finch: Download a model…" in a stand-in VS Code against the stand-in server: the quick pick
 * lists `finch.models.list`, picking one runs `finch.models.pull`, and the download's
 * `$/progress` shows in a notification with its percentages; training-style progress stays in
 * the status bar (progressSteps.ts, table-tested).
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MODELS_COMMAND } from "../src/commands";
import { formatBytes, modelItem, pullMessage } from "../src/modelMessages";
import { progressPlace, progressStep } from "../src/progressSteps";
import { DOWNLOAD_PERCENTAGES, FAKE_MODELS } from "./fakeModels";
import { extensionWithFakeServer, until } from "./fakeExtension";
import { ProgressLocation } from "./fakeVscode";

describe("'Finch: Download a model…' against a stand-in server", { timeout: 120_000 }, () => {
  let offered: readonly { label: string }[] = [];
  const { extension, context, record } = extensionWithFakeServer({
    quickPick: (items) => {
      offered = items;
      return items.find((item) => item.label === "qwen2.5-coder-1.5b");
    },
  });

  before(async () => {
    await extension.activate(context);
    await until(() => record.statusBar.text.includes("fake-model"), 60_000, () => record.statusBar.text);
  });

  after(async () => {
    await extension.deactivate();
    context.subscriptions.forEach((disposable) => disposable.dispose());
  });

  it("offers every model the server lists, saying which is present and auto's pick", async () => {
    await record.commands.get(MODELS_COMMAND.id)!();
    assert.deepEqual(offered.map((item) => item.label), FAKE_MODELS.map((model) => model.name));
    assert.match(JSON.stringify(offered[0]), /in use · downloaded/);
    assert.match(JSON.stringify(offered[1]), /download 3\.1 GB · auto's pick/);
  });

  it("starts the download and says where its progress shows", () => {
    const shown = record.messages.at(-1);
    assert.equal(shown?.level, "info");
    assert.match(shown?.text ?? "", /^Finch: downloading qwen2\.5-coder-1\.5b \(3\.1 GB\)/);
  });

  it("shows the download's progress in a notification, to 100 %", async () => {
    const title = "finch: downloading qwen2.5-coder-1.5b";
    await until(() => record.progress.some((p) => p.title === title && p.done), 60_000, () => JSON.stringify(record.progress));
    const download = record.progress.find((p) => p.title === title)!;
    assert.equal(download.location, ProgressLocation.Notification);
    const total = download.reports.reduce((sum, step) => sum + (step.increment ?? 0), 0);
    assert.equal(total, DOWNLOAD_PERCENTAGES.at(-1));
    assert.match(download.reports.at(-1)?.message ?? "", /3100 MB of 3100 MB/);
  });
});

describe("model and progress messages", () => {
  it("formats sizes in decimal units", () => {
    const cases: [number, string][] = [[0, "0 B"], [999, "999 B"], [135_000_000, "135 MB"], [3_100_000_000, "3.1 GB"], [-1, "unknown size"]];
    for (const [bytes, text] of cases) {
      assert.equal(formatBytes(bytes), text, String(bytes));
    }
  });

  it("describes a model for the quick pick", () => {
    assert.deepEqual(modelItem(FAKE_MODELS[1]), {
      label: "qwen2.5-coder-1.5b",
      description: "download 3.1 GB · auto's pick",
      detail: "Qwen/Qwen2.5-Coder-1.5B · needs 7.0 GB RAM on CPU, 4.0 GB on a GPU · 8-16 GB of RAM",
    });
  });

  it("says why a download did not start", () => {
    assert.equal(pullMessage(FAKE_MODELS[1], { started: false, reason: "offline" }), "qwen2.5-coder-1.5b is not being downloaded: offline");
  });

  it("puts downloads in a notification and everything else in the status bar", () => {
    const cases: [string, string][] = [
      ["finch: downloading qwen2.5-coder-3b", "notification"],
      ["finch: training", "window"],
      ["finch: loading smollm2-135m", "window"],
    ];
    for (const [title, place] of cases) {
      assert.equal(progressPlace(title), place, title);
    }
  });

  it("turns LSP percentages into VS Code increments that never go back", () => {
    const cases: [number, { message?: string; percentage?: number }, { message?: string; increment?: number }][] = [
      [0, { percentage: 40, message: "1 of 3" }, { increment: 40, message: "1 of 3" }],
      [40, { percentage: 30 }, { increment: 0 }],
      [40, { percentage: 150 }, { increment: 60 }],
      [10, { message: "only a message" }, { message: "only a message" }],
    ];
    for (const [reported, value, step] of cases) {
      assert.deepEqual(progressStep(reported, value), step, JSON.stringify(value));
    }
  });
});
