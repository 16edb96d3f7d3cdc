/**
 * Everything the CLI prints goes through here: flushed writes, JSON, tables and the progress
 * display. Commands never touch process.stdout directly, so tests can run them in-process.
 */

/** The subset of a Node writable stream the CLI uses. */
export interface OutputStream {
  write(chunk: string, callback?: (error?: Error | null) => void): boolean;
  /** True for a terminal: progress bars and colours only there. */
  isTTY?: boolean;
  columns?: number;
}

/** Where a command reads and writes. `main.ts` passes the process streams; tests pass buffers. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  /** Read by `kelp publish ... -` (one body per line). */
  stdin?: AsyncIterable<string | Uint8Array>;
  /** Aborted on SIGINT/SIGTERM: long-running commands stop cleanly and exit 0. */
  signal?: AbortSignal;
}

/**
 * Writes lines to a stream in batches, one write in flight at a time: lines added while a write
 * is in flight go out together in the next one, so a fast producer of lines costs one write per
 * batch rather than one per line. Once a batch's write is flushed (the stream's write callback),
 * its items go to `flushed`: `kelp consume` acks there, so no message is acked before its line was
 * written, and the acks of one batch travel together while the next batch is being written.
 */
export class BatchedWriter<T> {
  readonly #stream: OutputStream;
  readonly #flushed: (items: T[]) => Promise<void> | void;
  readonly #failed: (error: unknown) => void;
  #items: T[] = [];
  #text = '';
  /** The write in flight; it resolves once its batch was handed to `flushed`. */
  #writing: Promise<void> | undefined;
  readonly #settling = new Set<Promise<void>>();
  #failure: { error: unknown; firstItem: T | undefined } | undefined;

  /** `failed` hears of the first failure (see {@link failure}); nothing is written after it. */
  constructor(stream: OutputStream, flushed: (items: T[]) => Promise<void> | void, failed: (error: unknown) => void = () => undefined) {
    this.#stream = stream;
    this.#flushed = flushed;
    this.#failed = failed;
  }

  /** Items added and not yet written. */
  get pending(): number {
    return this.#items.length;
  }

  /** The first failure: a write error (with the first item of the batch it lost) or a `flushed` error. */
  get failure(): { error: unknown; firstItem: T | undefined } | undefined {
    return this.#failure;
  }

  /** Queues `text` (the line of `item`); it is written with the next batch. */
  add(item: T, text: string): void {
    this.#items.push(item);
    this.#text += text;
    this.#writeNext();
  }

  /** Forgets the items not written yet and returns them; the write in flight goes on. */
  discardPending(): T[] {
    const items = this.#items;
    this.#items = [];
    this.#text = '';
    return items;
  }

  /** Resolves once everything added was written (or failed) and every `flushed` call settled. */
  async drain(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    while (this.#settling.size > 0) await Promise.all(this.#settling);
  }

  #writeNext(): void {
    if (this.#writing !== undefined || this.#items.length === 0 || this.#failure !== undefined) return;
    const items = this.#items;
    const text = this.#text;
    this.#items = [];
    this.#text = '';
    let done: () => void = () => undefined;
    const writing = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.#writing = writing;
    // The callback may run inside write() (a file, a test stream) or much later (a full pipe).
    this.#stream.write(text, (error) => {
      if (this.#writing === writing) this.#writing = undefined;
      if (error) this.#fail(error, items[0]);
      else this.#settle(items);
      done();
      this.#writeNext();
    });
  }

  #settle(items: T[]): void {
    let result: Promise<void> | void;
    try {
      result = this.#flushed(items);
    } catch (error) {
      this.#fail(error, undefined);
      return;
    }
    if (result === undefined) return;
    const settling: Promise<void> = result.then(
      () => {
        this.#settling.delete(settling);
      },
      (error: unknown) => {
        this.#fail(error, undefined);
        this.#settling.delete(settling);
      },
    );
    this.#settling.add(settling);
  }

  #fail(error: unknown, firstItem: T | undefined): void {
    if (this.#failure !== undefined) return;
    this.#failure = { error, firstItem };
    this.#failed(error);
  }
}

/** JSON on one line: `--json` output is one object per line, for `jq` and line-based tools. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, jsonReplacer)}\n`;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/** Right-aligns numbers, left-aligns text; the first row is the header. */
export function table(rows: readonly (readonly (string | number)[])[]): string {
  const widths: number[] = [];
  // A header cell lines up with its column: right-aligned over numbers.
  const numeric = (i: number): boolean => rows.slice(1).some((row) => typeof row[i] === 'number');
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cellText(cell).length);
    });
  }
  return rows
    .map((row, r) =>
      row
        .map((cell, i) => {
          const text = cellText(cell);
          const width = widths[i] ?? 0;
          const right = typeof cell === 'number' || (r === 0 && numeric(i));
          return right ? text.padStart(width) : text.padEnd(width);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

function cellText(cell: string | number): string {
  return typeof cell === 'number' ? formatNumber(cell) : cell;
}

/** 12345 -> "12,345"; fractions keep at most 2 decimals. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { maximumFractionDigits: Number.isInteger(value) ? 0 : 2 });
}

/** Milliseconds with a precision that suits the size. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${Math.round(ms)} ms`;
}

export type ProgressMode = 'bar' | 'lines' | 'off';

/** A bar on a terminal, a plain line every 10% elsewhere (CI logs), nothing under `--json`. */
export function progressMode(stream: OutputStream, json: boolean): ProgressMode {
  if (json) return 'off';
  return stream.isTTY ? 'bar' : 'lines';
}

export interface ProgressCounter {
  label: string;
  done: number;
  total: number;
}

/**
 * Progress over one or more counters (e.g. published and acked). The bar is redrawn at most
 * every 100 ms, because writing to a terminal on every message would cost more than the work.
 */
export class Progress {
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastStep = -1;
  private drawn = false;
  private last: readonly ProgressCounter[] | undefined;

  constructor(
    private readonly stream: OutputStream,
    private readonly mode: ProgressMode,
    private readonly prefix: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  update(counters: readonly ProgressCounter[], force = false): void {
    if (this.mode === 'off') return;
    this.last = counters;
    const done = counters.reduce((sum, c) => sum + c.done, 0);
    const total = counters.reduce((sum, c) => sum + c.total, 0);
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const summary = counters.map((c) => `${c.label} ${c.done}/${c.total}`).join(', ');
    if (this.mode === 'lines') {
      const step = Math.floor(fraction * 10);
      if (step === this.lastStep && !force) return;
      this.lastStep = step;
      this.stream.write(`${this.prefix}: ${Math.round(fraction * 100)}% (${summary})\n`);
      return;
    }
    const now = this.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 30;
    const filled = Math.round(fraction * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    const line = `${this.prefix} [${bar}] ${String(Math.round(fraction * 100)).padStart(3)}% ${summary}`;
    const columns = this.stream.columns || 120; // 0 when the terminal size is unknown
    // \r and clear-to-end-of-line redraw in place; cut to the terminal width so it never wraps.
    this.stream.write(`\r${line.slice(0, Math.max(10, columns - 1))}\x1b[K`);
    this.drawn = true;
  }

  /** Ends the bar's line so that what follows starts on a fresh line. */
  finish(): void {
    // The last state may have been throttled away; show it, so a finished bar reads 100%.
    if (this.mode === 'bar' && this.drawn && this.last) this.update(this.last, true);
    if (this.mode === 'bar' && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Every password of a URL (each URL of a `;` list, `*password=` query values) as `**`, for the CLI's own messages. */
export { redactUrl } from 'kelp';
