/**
 * The pure parts of the extension: settings sent to the server, the workspace-trust limits,
 * palette arguments and the messages the user reads.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { feedbackArguments } from "../src/commands";
import { adapterItem, adapterResultMessage, feedbackMessage, progressText, statusBarText, statusLines, trainMessage } from "../src/messages";
import { FeedbackResult, FinchStatus, isModelReady } from "../src/protocol";
import { SETTINGS, getPath, serverSettings, withWorkspaceTrust } from "../src/settings";

const defaults = () => serverSettings((key) => SETTINGS.find((s) => s.key === key)?.default);

const feedback: FeedbackResult = {
  recorded: true,
  exampleId: "ex-1",
  rating: "critical",
  weight: 10,
  pending: false,
  bufferSize: 7,
  weightedTotal: 25,
  trainingStarted: false,
};

const readyStatus: FinchStatus = {
  model: { name: "qwen2.5-coder-0.5b", device: "cpu", state: "ready" },
  adapter: { version: 3, examples: 12, finalLoss: 0.98123 },
  buffer: { examples: 7, weighted: 25, pending: 1 },
  training: { state: "idle" },
};

describe("server settings", () => {
  it("nest dotted keys and leave out the extension's own settings", () => {
    const settings = defaults();
    assert.equal(getPath(settings, "training.weights.critical"), 10);
    assert.equal(getPath(settings, "completion.multiline"), "auto");
    assert.equal(getPath(settings, "training.learningRate"), 1e-3);
    assert.equal(getPath(settings, "server"), undefined);
  });

  it("leave out an empty dataDir so the server picks its own", () => {
    assert.equal(getPath(defaults(), "dataDir"), undefined);
    const chosen = serverSettings((key) => (key === "dataDir" ? "/data/finch" : undefined));
    assert.deepEqual(chosen, { dataDir: "/data/finch" });
  });

  it("turn off the teacher and automatic training in an untrusted workspace", () => {
    const settings = serverSettings((key) => (key === "teacher.enabled" ? true : SETTINGS.find((s) => s.key === key)?.default));
    const limited = withWorkspaceTrust(settings, false);
    assert.equal(getPath(limited, "teacher.enabled"), false);
    assert.equal(getPath(limited, "training.autoTrain"), false);
    assert.equal(getPath(settings, "teacher.enabled"), true, "the trusted settings are left as they were");
    assert.equal(withWorkspaceTrust(settings, true), settings);
  });
});

describe("palette arguments", () => {
  for (const [note, args] of [
    [undefined, []],
    ["", []],
    ["   ", []],
    [" use pathlib ", ["use pathlib"]],
  ] as const) {
    it(`feedback note ${JSON.stringify(note)} gives ${JSON.stringify(args)}`, () => {
      assert.deepEqual(feedbackArguments(note), args);
    });
  }
});

describe("messages", () => {
  const trigger = { autoTrain: true, threshold: 10, trusted: true };
  for (const [name, result, expected] of [
    ["counts toward training", feedback, "Recorded critical feedback (weight 10, 7/10 until training)"],
    ["says training started", { ...feedback, trainingStarted: true }, "Recorded critical feedback (weight 10, training started)"],
    [
      "says it is pending",
      { ...feedback, pending: true },
      "Recorded critical feedback (weight 10, 7/10 until training); pending: no correction yet",
    ],
  ] as const) {
    it(`feedback ${name}`, () => {
      assert.equal(feedbackMessage(result, trigger), expected);
    });
  }

  it("feedback in an untrusted workspace says training is off", () => {
    assert.match(feedbackMessage(feedback, { ...trigger, trusted: false }), /no training in an untrusted workspace/);
  });

  it("train results", () => {
    assert.equal(trainMessage({ started: true }), "Training started");
    assert.equal(trainMessage({ started: false, reason: "no feedback yet" }), "Training not started: no feedback yet");
  });

  it("status bar shows model, adapter and training progress", () => {
    assert.equal(statusBarText(readyStatus), "$(sparkle) qwen2.5-coder-0.5b v3");
    const training: FinchStatus = {
      ...readyStatus,
      adapter: { version: null },
      training: { state: "running", progress: { percentage: 40, message: "epoch 2/3, step 5/8, loss 0.981" } },
    };
    assert.equal(statusBarText(training), "$(sparkle) qwen2.5-coder-0.5b base $(sync~spin) 40% epoch 2/3, step 5/8, loss 0.981");
  });

  it("status bar shows loading and failure", () => {
    const loading: FinchStatus = { model: { name: "tiny-qwen2", device: null, state: "loading" } };
    assert.equal(isModelReady(loading), false);
    assert.equal(statusBarText(loading), "$(loading~spin) Finch: loading tiny-qwen2");
    assert.match(statusBarText({ model: { ...loading.model, state: "failed" } }), /failed to load/);
  });

  it("status lines read as sentences", () => {
    assert.deepEqual(statusLines(readyStatus), [
      "Model: qwen2.5-coder-0.5b on cpu",
      "Adapter: v3 (12 examples, final loss 0.981)",
      "Feedback buffer: 7 examples, weighted 25, 1 pending",
      "Training: idle",
    ]);
  });

  it("progress from a number or an object", () => {
    assert.equal(progressText(62.4), "62%");
    assert.equal(progressText({ message: "epoch 1/3" }), "epoch 1/3");
    assert.equal(progressText(undefined), "");
  });

  it("adapter quick pick items", () => {
    const item = adapterItem({ version: 2, createdAt: "2025-01-02T03:04:05Z", examples: 9, finalLoss: 1.5, active: true });
    assert.deepEqual(item, {
      label: "v2",
      description: "active · 2025-01-02T03:04:05Z",
      detail: "9 examples, final loss 1.500",
    });
  });

  it("adapter evaluation in words", () => {
    const failed = { passed: false, reasons: ["it reproduces only 0 of 1 corrections"] };
    const base = { version: 1, createdAt: "", examples: 1, finalLoss: null, active: false };
    assert.equal(adapterItem({ ...base, evaluation: failed }).detail, "1 example, failed evaluation: it reproduces only 0 of 1 corrections");
    assert.equal(adapterItem({ ...base, evaluation: { passed: true } }).detail, "1 example, passed evaluation");
  });

  for (const [result, expected] of [
    [{ active: 2, adapters: 3 }, "now using adapter v2"],
    [{ active: null, adapters: 0 }, "now using the base model"],
    [{ deleted: 4 }, "deleted adapter v4"],
    [{ message: "switched" }, "switched"],
    [{ other: 1 }, '{"other":1}'],
  ] as const) {
    it(`adapter result ${JSON.stringify(result)}`, () => {
      assert.equal(adapterResultMessage(result), expected);
    });
  }
});
