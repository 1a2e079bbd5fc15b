/**
 * code-server (VS Code 1.100.3 in a browser) for the real-VS-Code test: installed once into a
 * cache folder by installCodeServer.sh, started on 127.0.0.1 with fresh user-data and
 * extension folders, and stopped by killing its whole process group.
 */

import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { PACKAGE_ROOT } from "../packageRoot";

/** installCodeServer.sh says so on exit 3: the registry cannot be reached from here. */
const SKIP_EXIT = 3;

/** The code-server program, or why the test cannot run here. */
export function installCodeServer(): { program: string } | { skip: string } {
  const script = join(PACKAGE_ROOT, "test", "realVscode", "installCodeServer.sh");
  const started = Date.now();
  const run = spawnSync("sh", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (run.status === SKIP_EXIT) {
    return { skip: run.stderr.trim().split("\n").at(-1) ?? "code-server cannot be installed here" };
  }
  if (run.status !== 0) {
    throw new Error(`installCodeServer.sh failed (exit ${run.status}):\n${run.stderr.slice(-4000)}`);
  }
  const program = run.stdout.trim().split("\n").at(-1)!;
  console.log(`code-server ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${program}`);
  return { program };
}

/** Folders of one code-server session, all below `root`. */
export interface Session {
  root: string;
  userData: string;
  extensions: string;
  workspace: string;
}

export function sessionFolders(root: string): Session {
  const session = {
    root,
    userData: join(root, "user-data"),
    extensions: join(root, "extensions"),
    workspace: join(root, "workspace"),
  };
  for (const dir of [session.userData, join(session.userData, "User"), session.extensions, session.workspace]) {
    mkdirSync(dir, { recursive: true });
  }
  return session;
}

/** Writes the user settings.json (VS Code watches it: rewriting it changes settings live). */
export function writeUserSettings(session: Session, settings: Record<string, unknown>): void {
  writeFileSync(join(session.userData, "User", "settings.json"), `${JSON.stringify(settings, null, 2)}\n`);
}

/** `code-server --install-extension` of the packaged extension. */
export function installExtension(program: string, session: Session, vsix: string): void {
  execFileSync(program, ["--user-data-dir", session.userData, "--extensions-dir", session.extensions, "--install-extension", vsix], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
  });
}

export class CodeServer {
  private output = "";

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  /** Starts code-server on a free loopback port; resolves once it listens. */
  static async start(program: string, session: Session): Promise<CodeServer> {
    const port = await freePort();
    const args = [
      "--auth", "none",
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--bind-addr", `127.0.0.1:${port}`,
      "--user-data-dir", session.userData,
      "--extensions-dir", session.extensions,
      "--config", join(session.root, "code-server.yaml"),
      session.workspace,
    ];
    // detached: its own process group, so stop() ends the extension host and the language server too.
    const child = spawn(program, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const server = new CodeServer(child, `http://127.0.0.1:${port}/?folder=${encodeURIComponent(session.workspace)}`);
    process.once("exit", () => server.stop()); // a test run that ends early leaves no code-server behind
    const collect = (chunk: Buffer) => (server.output = (server.output + chunk.toString()).slice(-8000));
    child.stdout!.on("data", collect);
    child.stderr!.on("data", collect);
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`code-server did not listen within 120 s:\n${server.output}`)), 120_000);
      const check = () => {
        if (server.output.includes("HTTP server listening")) {
          clearTimeout(timer);
          ready();
        }
      };
      child.stdout!.on("data", check);
      child.stderr!.on("data", check);
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`code-server exited (code ${code}):\n${server.output}`));
      });
    });
    return server;
  }

  /** Kills code-server's process group: the server, its extension hosts and the language servers. */
  stop(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) {
      try {
        process.kill(-this.child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  }

  /** The end of code-server's own output, for failure messages. */
  log(): string {
    return this.output;
  }
}

/** The text of the extension's output channel ("Finch") in every extension host so far. */
export function finchOutput(session: Session): string {
  return findFiles(join(session.userData, "logs"), "Finch.log")
    .map((file) => readFileSync(file, "utf8"))
    .join("\n");
}

function findFiles(dir: string, name: string): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? findFiles(path, name) : entry.name === name ? [path] : [];
  });
}

/** Process ids whose command line contains `marker` (the language servers of this session). */
export function processesWith(marker: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
