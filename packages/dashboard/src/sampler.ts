/**
 * The history behind the overview charts. Redis keeps no counters of publishes or acks (Kombu
 * writes none), so the only rates an observer of the keys can know are changes between two
 * looks: every `interval` seconds the sampler reads `admin.inspect()` and keeps the last
 * `size` samples in memory (they are gone when the dashboard stops).
 */
import type { InspectReport, TransportAdmin } from 'kelp';

export interface QueueSample {
  ready: number;
  unacked: number;
  deadLetters: number;
}

export interface Sample {
  /** Epoch seconds of the read. */
  at: number;
  queues: Record<string, QueueSample>;
}

export class Sampler {
  readonly #samples: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastError: string | undefined;

  constructor(
    private readonly admin: TransportAdmin,
    private readonly interval: number,
    private readonly size: number,
    private readonly scrub: (text: string) => string,
  ) {}

  start(): void {
    void this.sampleNow();
    this.#timer = setInterval(() => void this.sampleNow(), this.interval * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** Takes one sample now (one at a time: a slow read is not overtaken by the next tick). */
  sampleNow(): Promise<void> {
    this.#running ??= this.admin
      .inspect()
      .then((report) => this.record(report), (error: unknown) => {
        this.#lastError = this.scrub(error instanceof Error ? error.message : String(error));
      })
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  record(report: InspectReport, at = Date.now() / 1000): void {
    const queues: Record<string, QueueSample> = {};
    for (const queue of report.queues) queues[queue.name] = { ready: queue.length, unacked: queue.unacked, deadLetters: queue.deadLetters ?? 0 };
    this.#samples.push({ at, queues });
    if (this.#samples.length > this.size) this.#samples.splice(0, this.#samples.length - this.size);
    this.#lastError = undefined;
  }

  history(): { interval: number; samples: readonly Sample[]; error?: string } {
    return { interval: this.interval, samples: this.#samples, ...(this.#lastError === undefined ? {} : { error: this.#lastError }) };
  }
}
