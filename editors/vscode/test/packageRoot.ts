/** editors/vscode, from out/test where the bundled tests run. */

import { resolve } from "node:path";

export const PACKAGE_ROOT = resolve(__dirname, "..", "..");
