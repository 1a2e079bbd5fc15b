/** The models the stand-in server (fakeServer.ts) lists, and the percentages its download reports. */

import { ModelInfo } from "../src/protocol";

const GB = 1_000_000_000;

export const FAKE_MODELS: ModelInfo[] = [
  { name: "smollm2-135m", repo: "HuggingFaceTB/SmolLM2-135M-Instruct", sizeBytes: 270_000_000, cpuMemoryBytes: 600_000_000, gpuMemoryBytes: 400_000_000, present: true, active: true, autoPick: false },
  { name: "qwen2.5-coder-1.5b", repo: "Qwen/Qwen2.5-Coder-1.5B", sizeBytes: 3.1 * GB, cpuMemoryBytes: 7 * GB, gpuMemoryBytes: 4 * GB, present: false, active: false, autoPick: true, why: "8-16 GB of RAM" },
];

/** The percentages the fake download reports, in order. */
export const DOWNLOAD_PERCENTAGES = [0, 40, 100];

