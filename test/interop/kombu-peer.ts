/** Runs test/interop/kombu_peer.py (Python Kombu 5.2.4) and parses its JSON answer. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./kombu_peer.py', import.meta.url));

export function kombu<T = Record<string, unknown>>(command: string, args: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', [script, command, JSON.stringify(args)], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`kombu_peer.py ${command} failed: ${error.message}\n${stderr}`));
        return;
      }
      const lines = stdout.trim().split('\n');
      resolve(JSON.parse(lines[lines.length - 1] as string) as T);
    });
  });
}

export interface PyMessage {
  body: unknown;
  routing_key: string;
  exchange: string;
  priority: number;
  headers: Record<string, unknown>;
  delivery_tag: string;
  redelivered: boolean;
  content_type: string;
  /** properties.expiration as Kombu reads it (milliseconds as a string), null when absent. */
  expiration: string | null;
}
