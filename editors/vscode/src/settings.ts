/**
 * The `finch.*` settings: the one list the extension, its package.json and its tests share.
 *
 * Each entry mirrors a field of the server's `finch` settings section (PROTOCOL.md "Settings"),
 * except the `server.*` entries, which only say how to start the server.
 * `npm run contributes` writes package.json's `contributes.configuration` from this list and
 * `test/package.test.ts` fails when the two differ.
 */

export type SettingValue = string | number | boolean | string[] | null;

export interface SettingSpec {
  /** Key below `finch.`, dotted: `training.weights.critical`. */
  readonly key: string;
  readonly type: "string" | "integer" | "number" | "boolean" | "array";
  readonly default: SettingValue;
  readonly description: string;
  readonly enum?: readonly string[];
  /** Values offered in settings.json while other values stay allowed (JSON schema `examples`). */
  readonly examples?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  /** False for settings that only the extension reads. */
  readonly sentToServer: boolean;
  /** Ignored when set by an untrusted workspace: it names a program or a path to load. */
  readonly restricted?: boolean;
}

export const SECTION = "finch";

/** The model names the server knows (finch_lsp.models.registry.MODEL_NAMES, checked by a test). */
export const KNOWN_MODELS = [
  "auto",
  "qwen2.5-coder-0.5b",
  "qwen2.5-coder-1.5b",
  "qwen2.5-coder-3b",
  "smollm2-135m",
  "tiny-qwen2",
] as const;

export const SETTINGS: readonly SettingSpec[] = [
  {
    key: "model",
    type: "string",
    default: "auto",
    examples: KNOWN_MODELS,
    description:
      "Model that completes code: auto, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, qwen2.5-coder-3b, smollm2-135m, tiny-qwen2, a Hugging Face id or a local directory. Finch: Download a model… fetches one.",
    sentToServer: true,
    restricted: true,
  },
  {
    key: "device",
    type: "string",
    default: "auto",
    enum: ["auto", "cpu", "cuda", "mps"],
    description: "Device the model runs on.",
    sentToServer: true,
  },
  {
    key: "dataDir",
    type: "string",
    default: "",
    description:
      "Directory for feedback and adapters. Empty: FINCH_DATA_DIR, else the platform's user data directory.",
    sentToServer: true,
    restricted: true,
  },
  {
    key: "completion.maxNewTokens",
    type: "integer",
    default: 64,
    minimum: 1,
    maximum: 512,
    description: "Most tokens generated for one suggestion.",
    sentToServer: true,
  },
  {
    key: "completion.multiline",
    type: "string",
    default: "auto",
    enum: ["auto", "always", "never"],
    description: "Whether suggestions may span several lines: auto decides from the cursor's context.",
    sentToServer: true,
  },
  {
    key: "training.autoTrain",
    type: "boolean",
    default: true,
    description: "Train an adapter in the background once enough feedback has been collected.",
    sentToServer: true,
  },
  {
    key: "training.threshold",
    type: "integer",
    default: 10,
    minimum: 1,
    description: "Feedback needed before automatic training starts.",
    sentToServer: true,
  },
  {
    key: "training.bufferSize",
    type: "integer",
    default: 100,
    minimum: 1,
    description: "Most feedback examples kept in the replay buffer that training samples from.",
    sentToServer: true,
  },
  {
    key: "training.epochs",
    type: "integer",
    default: 6,
    minimum: 1,
    maximum: 100,
    description: "Passes over the replay buffer in one training run.",
    sentToServer: true,
  },
  {
    key: "training.batchSize",
    type: "integer",
    default: 4,
    minimum: 1,
    maximum: 256,
    description: "Examples per training step.",
    sentToServer: true,
  },
  {
    key: "training.learningRate",
    type: "number",
    default: 1e-3,
    minimum: 0,
    maximum: 1,
    description: "Learning rate of the LoRA adapter.",
    sentToServer: true,
  },
  {
    key: "training.rank",
    type: "integer",
    default: 16,
    minimum: 1,
    maximum: 256,
    description: "LoRA rank.",
    sentToServer: true,
  },
  {
    key: "training.alpha",
    type: "integer",
    default: 32,
    minimum: 1,
    maximum: 1024,
    description: "LoRA alpha (scaling).",
    sentToServer: true,
  },
  {
    key: "training.implicit",
    type: "boolean",
    default: true,
    description: "Learn from what you do with suggestions (kept, edited, typed over), not only from ratings.",
    sentToServer: true,
  },
  {
    key: "training.settleSeconds",
    type: "number",
    default: 20,
    minimum: 0,
    maximum: 3600,
    description: "Seconds after a suggestion is accepted or shown before what you did with it counts as implicit feedback.",
    sentToServer: true,
  },
  {
    key: "training.weights.critical",
    type: "number",
    default: 10,
    minimum: 0,
    description: "Training weight of critical feedback.",
    sentToServer: true,
  },
  {
    key: "training.weights.medium",
    type: "number",
    default: 3,
    minimum: 0,
    description: "Training weight of medium feedback.",
    sentToServer: true,
  },
  {
    key: "training.weights.good",
    type: "number",
    default: 1,
    minimum: 0,
    description: "Training weight of good feedback.",
    sentToServer: true,
  },
  {
    key: "training.weights.implicit",
    type: "number",
    default: 0.25,
    minimum: 0,
    maximum: 1,
    description: "Training weight of implicit feedback (a suggestion kept, edited or typed over).",
    sentToServer: true,
  },
  {
    key: "teacher.enabled",
    type: "boolean",
    default: false,
    description:
      "Ask an Anthropic model for better completions to learn from. Sends code context to Anthropic; needs an API key (Finch: Set Anthropic API key).",
    sentToServer: true,
  },
  {
    key: "teacher.model",
    type: "string",
    default: "claude-sonnet-4-5",
    description: "Anthropic model used as the teacher.",
    sentToServer: true,
  },
  {
    key: "teacher.sampleRate",
    type: "number",
    default: 0.05,
    minimum: 0,
    maximum: 1,
    description: "Share of suggestions sent to the teacher.",
    sentToServer: true,
  },
  {
    key: "server.command",
    type: "string",
    default: "finch-lsp",
    description: "Program that runs the finch language server (a name on PATH or an absolute path).",
    sentToServer: false,
    restricted: true,
  },
  {
    key: "server.args",
    type: "array",
    default: [],
    description: "Extra arguments for the server program, such as --log-file /tmp/finch.log.",
    sentToServer: false,
    restricted: true,
  },
];

/** A nested settings object, as the server receives it: `{training: {weights: {critical: 10}}}`. */
export interface SettingsTree {
  [name: string]: SettingValue | SettingsTree;
}

/** Reads the current value of one setting, by its key below `finch.`. */
export type SettingReader = (key: string) => unknown;

/** The `finch` section for the server, from the values `read` returns; empty strings are left out. */
export function serverSettings(read: SettingReader): SettingsTree {
  const tree: SettingsTree = {};
  for (const spec of SETTINGS.filter((s) => s.sentToServer)) {
    const value = read(spec.key) as SettingValue | undefined;
    if (value === undefined || value === null || value === "") {
      continue;
    }
    setPath(tree, spec.key, value);
  }
  return tree;
}

/** The settings an untrusted workspace may use: no teacher calls and no automatic training. */
export function withWorkspaceTrust(settings: SettingsTree, trusted: boolean): SettingsTree {
  if (trusted) {
    return settings;
  }
  const limited = structuredClone(settings);
  setPath(limited, "teacher.enabled", false);
  setPath(limited, "training.autoTrain", false);
  return limited;
}

/** Value of a dotted key in a settings tree, or undefined. */
export function getPath(tree: SettingsTree, key: string): SettingValue | SettingsTree | undefined {
  let node: SettingValue | SettingsTree | undefined = tree;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) {
      return undefined;
    }
    node = node[part];
  }
  return node;
}

function setPath(tree: SettingsTree, key: string, value: SettingValue): void {
  const parts = key.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    const child = node[part];
    if (child === null || typeof child !== "object" || Array.isArray(child)) {
      node[part] = {};
    }
    node = node[part] as SettingsTree;
  }
  node[parts[parts.length - 1]] = value;
}

/** package.json `contributes.configuration`, generated from SETTINGS. */
export function contributedConfiguration(): { title: string; properties: Record<string, object> } {
  const properties: Record<string, object> = {};
  for (const spec of SETTINGS) {
    properties[`${SECTION}.${spec.key}`] = contributedProperty(spec);
  }
  return { title: "Finch", properties };
}

function contributedProperty(spec: SettingSpec): object {
  return {
    type: spec.type,
    default: spec.default,
    ...(spec.type === "array" ? { items: { type: "string" } } : {}),
    ...(spec.enum ? { enum: [...spec.enum] } : {}),
    ...(spec.examples ? { examples: [...spec.examples] } : {}),
    ...(spec.minimum !== undefined ? { minimum: spec.minimum } : {}),
    ...(spec.maximum !== undefined ? { maximum: spec.maximum } : {}),
    description: spec.description,
  };
}

/** Settings that VS Code ignores in untrusted workspaces (package.json `restrictedConfigurations`). */
export function restrictedConfigurations(): string[] {
  return SETTINGS.filter((s) => s.restricted).map((s) => `${SECTION}.${s.key}`);
}
