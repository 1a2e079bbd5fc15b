/**
 * The parts of package.json generated from the extension's tables, so that settings and
 * commands are written once (settings.ts, commands.ts). No `vscode` import.
 */

import { contributedCommands } from "./commands";
import { contributedConfiguration, restrictedConfigurations } from "./settings";

const UNTRUSTED_DESCRIPTION =
  "In untrusted workspaces Finch completes code but calls no teacher and trains nothing; " +
  "the server program, its arguments, the model and the data directory come from user settings only.";

/** `manifest` with its generated parts replaced; everything else is kept as it is. */
export function generatedManifest(manifest: Record<string, any>): Record<string, any> {
  return {
    ...manifest,
    capabilities: {
      ...manifest.capabilities,
      untrustedWorkspaces: {
        supported: "limited",
        description: UNTRUSTED_DESCRIPTION,
        restrictedConfigurations: restrictedConfigurations(),
      },
    },
    contributes: {
      ...manifest.contributes,
      commands: contributedCommands(),
      configuration: contributedConfiguration(),
    },
  };
}
