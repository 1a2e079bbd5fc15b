/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The VS Code workbench in headless Chromium, driven as a user drives it: keys, the command
 * palette, the status bar, ghost text and the code action menu. Every wait is on something the
 * page shows, with a limit generous enough for a busy machine.
 */

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Browser, Page, chromium } from "playwright-core";

export const CHROMIUM = process.env.FINCH_E2E_CHROMIUM || "/usr/bin/chromium";

const SHORT_MS = 30_000;

export class Workbench {
  private constructor(
    private readonly browser: Browser,
    readonly page: Page,
  ) {}

  /** Opens `url` (code-server with a folder) and waits for the workbench. */
  static async open(url: string): Promise<Workbench> {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.waitForSelector(".monaco-workbench .part.statusbar", { timeout: 180_000 });
    return new Workbench(browser, page);
  }

  async close(): Promise<void> {
    await this.browser.close();
  }

  /** Saves a screenshot under `dir`; returns its path. */
  async screenshot(dir: string, name: string): Promise<string> {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${name.replace(/[^\w.-]+/g, "-")}.png`);
    await this.page.screenshot({ path, fullPage: true });
    return path;
  }

  /** Quick Open (Ctrl+P) of a workspace file; resolves when its editor has focus. */
  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press("Control+P");
    await this.page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: SHORT_MS });
    await this.page.keyboard.type(name);
    await this.page.waitForSelector(`.quick-input-list .monaco-list-row[aria-label*="${name}"]`, { timeout: SHORT_MS });
    await this.page.keyboard.press("Enter");
    await this.page.waitForSelector(`.tab.active[aria-label*="${name}"]`, { timeout: SHORT_MS });
    await this.page.waitForSelector(".editor-instance .monaco-editor.focused", { timeout: SHORT_MS });
  }

  /** Runs a command from the palette (F1) by its exact title. */
  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press("F1");
    await this.page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: SHORT_MS });
    await this.page.keyboard.type(title);
    const row = this.page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first();
    await row.waitFor({ timeout: SHORT_MS });
    await this.page.keyboard.press("Enter");
  }

  /** Answers an open input box (the palette's feedback note) with `text` and Enter. */
  async answerInputBox(text: string): Promise<void> {
    await this.page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: SHORT_MS });
    if (text) {
      await this.page.keyboard.type(text);
    }
    await this.page.keyboard.press("Enter");
  }

  /** The Finch status bar item's text ("sparkle smollm2-135m base"), or "" when it is not shown. */
  async statusBarText(): Promise<string> {
    return this.page.evaluate(() => {
      const items = [...document.querySelectorAll(".statusbar-item")];
      const finch = items.find((item) => item.id.includes("finch") || (item.getAttribute("aria-label") ?? "").includes("Finch"));
      return finch?.textContent?.trim() ?? "";
    });
  }

  /** Waits until the Finch status bar item's text matches `pattern`. */
  async waitForStatusBar(pattern: RegExp, timeoutMs: number): Promise<string> {
    await this.page.waitForFunction(
      ({ source, flags }) => {
        const items = [...document.querySelectorAll(".statusbar-item")];
        const finch = items.find((item) => item.id.includes("finch") || (item.getAttribute("aria-label") ?? "").includes("Finch"));
        return new RegExp(source, flags).test(finch?.textContent ?? "");
      },
      { source: pattern.source, flags: pattern.flags },
      { timeout: timeoutMs, polling: 100 },
    );
    return this.statusBarText();
  }

  /** Waits until the status bar shows training: Finch's item or the server's progress. */
  async waitForTraining(timeoutMs: number): Promise<void> {
    await this.page.waitForFunction(
      () =>
        [...document.querySelectorAll(".statusbar-item")].some((item) =>
          /sync~spin|epoch|Training: running|finch: training/i.test(`${item.textContent} ${item.getAttribute("aria-label") ?? ""}`),
        ),
      undefined,
      { timeout: timeoutMs, polling: 50 },
    );
  }

  /**
   * "Finch: Show status" until its dialog shows the status; returns the dialog's text. While a
   * restart is under way the command says the server is not running: then it is asked again.
   */
  async showStatus(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.runCommand("Notifications: Clear All Notifications");
      await this.runCommand("Finch: Show status");
      const dialog = this.page.locator(".monaco-dialog-box", { hasText: "Model:" });
      const refused = this.page.locator(".notification-list-item-message", { hasText: /not running/ });
      const wait = Math.max(1000, deadline - Date.now());
      const shown = await Promise.race([
        dialog.waitFor({ timeout: wait }).then(() => "dialog", () => "none"),
        refused.waitFor({ timeout: wait }).then(() => "refused", () => "none"),
      ]);
      if (shown === "dialog") {
        const text = (await dialog.textContent()) ?? "";
        await this.page.keyboard.press("Escape");
        return text;
      }
      if (Date.now() > deadline) {
        throw new Error(`'Finch: Show status' showed no status within ${timeoutMs / 1000} s`);
      }
    }
  }

  /** Texts of the notifications shown now (toasts and the notification center). */
  async notifications(): Promise<string[]> {
    return this.page.$$eval(".notification-list-item-message", (items) => items.map((item) => item.textContent ?? ""));
  }

  /** Waits for a notification whose text matches `pattern`; returns its text. */
  async waitForNotification(pattern: RegExp, timeoutMs: number): Promise<string> {
    const item = this.page.locator(".notification-list-item-message", { hasText: pattern }).first();
    await item.waitFor({ timeout: timeoutMs });
    return (await item.textContent()) ?? "";
  }

  /** The ghost text shown at the cursor ("" when none). */
  async ghostText(): Promise<string> {
    return this.page.evaluate(() =>
      [...document.querySelectorAll(".editor-instance .ghost-text-decoration, .editor-instance .ghost-text")]
        .map((part) => part.textContent ?? "")
        .join("\n"),
    );
  }

  /**
   * Waits for ghost text, asking for a suggestion (Alt+\\, "Trigger Inline Suggestion") whenever
   * none has come for `askEveryMs`: the automatic request is dropped when typing outruns the model.
   */
  async waitForGhostText(timeoutMs: number, askEveryMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const shown = await this.page
        .waitForSelector(".editor-instance .ghost-text-decoration, .editor-instance .ghost-text", {
          timeout: Math.min(askEveryMs, deadline - Date.now()),
        })
        .then(() => true, () => false);
      const text = shown ? await this.ghostText() : "";
      if (text.trim()) {
        return text;
      }
      await this.page.keyboard.press("Alt+Backslash");
    }
    throw new Error(`no ghost text within ${timeoutMs / 1000} s`);
  }

  /** The editor's lines as shown (non-breaking spaces as spaces). */
  async editorLines(): Promise<string[]> {
    return this.page.$$eval(".editor-instance .view-lines .view-line", (lines) =>
      [...lines]
        .sort((a, b) => parseFloat((a as HTMLElement).style.top) - parseFloat((b as HTMLElement).style.top))
        .map((line) => {
          const copy = line.cloneNode(true) as HTMLElement;
          copy.querySelectorAll("[class*=ghost-text]").forEach((ghost) => ghost.remove());
          return (copy.textContent ?? "").replace(/\u00a0/g, " ");
        }),
    );
  }

  /** Waits until the editor's text satisfies `holds`. */
  async waitForEditor(holds: (text: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = (await this.editorLines()).join("\n");
      if (holds(text)) {
        return text;
      }
      if (Date.now() > deadline) {
        throw new Error(`${what}: not within ${timeoutMs / 1000} s; the editor shows:\n${text}`);
      }
      await this.page.waitForTimeout(250);
    }
  }

  /** Picks the code action titled `title` from the Ctrl+. menu at the cursor, with the keyboard. */
  async applyCodeAction(title: string): Promise<void> {
    await this.page.keyboard.press("Control+.");
    const row = this.page.locator(".action-widget .monaco-list-row", { hasText: title }).first();
    await row.waitFor({ timeout: 60_000 });
    const rows = await this.page.locator(".action-widget .monaco-list-row").count();
    for (let press = 0; press <= rows; press++) {
      const focused = await this.page.locator(".action-widget .monaco-list-row.focused").getAttribute("aria-label").catch(() => null);
      if (focused === title) {
        await this.page.keyboard.press("Enter");
        return;
      }
      await this.page.keyboard.press("ArrowDown");
    }
    throw new Error(`the code action menu never focused ${JSON.stringify(title)}`);
  }

  /** Closes menus, the palette and dialogs a failed step may have left open. */
  async closeOverlays(): Promise<void> {
    for (let press = 0; press < 3; press++) {
      await this.page.keyboard.press("Escape");
    }
  }
}
