/**
 * Drives Debian's headless Chromium over the DevTools protocol on a pipe
 * (`--remote-debugging-pipe`: commands on fd 3, replies on fd 4, each message ending in NUL), so
 * a test can click, type, answer dialogs and take screenshots without a WebSocket client or a
 * browser-automation package. Same offline flags as test/bench/chromium.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CHROMIUM } from '../bench/chromium.js';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--remote-debugging-pipe',
];

interface Reply {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
}

export class BrowserPage {
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  #session = '';
  /** What the next prompt() is answered with; confirm() and alert() are accepted. */
  promptAnswer = '';
  readonly dialogs: string[] = [];
  readonly consoleErrors: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    let buffered = '';
    (child.stdio[4] as Readable).setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\0')) >= 0) {
        this.#receive(JSON.parse(buffered.slice(0, end)) as Reply);
        buffered = buffered.slice(end + 1);
      }
    });
  }

  static async open(url: string, size = { width: 1280, height: 900 }): Promise<BrowserPage> {
    if (!CHROMIUM) throw new Error('Chromium is not installed: apt-get install -y chromium');
    const profile = mkdtempSync(join(tmpdir(), 'kelp-cdp-'));
    const child = spawn(CHROMIUM, [...FLAGS, `--user-data-dir=${profile}`, 'about:blank'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
    const page = new BrowserPage(child, profile);
    const { targetId } = await page.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await page.send('Target.attachToTarget', { targetId, flatten: true });
    page.#session = String(sessionId);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Emulation.setDeviceMetricsOverride', { width: size.width, height: size.height, deviceScaleFactor: 1, mobile: false });
    await page.send('Page.navigate', { url });
    return page;
  }

  #receive(message: Reply): void {
    if (message.id !== undefined) {
      const waiter = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result ?? {});
      return;
    }
    if (message.method === 'Page.javascriptDialogOpening') {
      this.dialogs.push(String(message.params?.['message']));
      void this.send('Page.handleJavaScriptDialog', { accept: true, promptText: this.promptAnswer });
    } else if (message.method === 'Runtime.exceptionThrown') {
      this.consoleErrors.push(JSON.stringify(message.params?.['exceptionDetails']));
    }
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const message = { id, method, params, ...(this.#session && !method.startsWith('Target.') && !method.startsWith('Browser.') ? { sessionId: this.#session } : {}) };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      (this.child.stdio[3] as Writable).write(`${JSON.stringify(message)}\0`);
    });
  }

  /** Evaluates `expression` in the page (promises awaited) and returns its JSON value. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const reply = await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (reply['exceptionDetails']) throw new Error(`page threw: ${JSON.stringify(reply['exceptionDetails'])}`);
    return (reply['result'] as { value: T }).value;
  }

  /** Waits until `expression` is truthy in the page. */
  async waitFor(expression: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await this.evaluate<boolean>(`Boolean(${expression})`).catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async screenshot(): Promise<Buffer> {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
    return Buffer.from(String(data), 'base64');
  }

  async close(): Promise<void> {
    await this.send('Browser.close').catch(() => undefined);
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else {
        const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
        this.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      }
    });
    rmSync(this.profile, { recursive: true, force: true });
  }
}
