/**
 * `kelp dashboard URL`: serves the web dashboard (@kelp/dashboard) until interrupted. It prints
 * where the page is and the per-run token (reads and actions need it); the broker password never appears.
 */
import { startDashboard } from '@kelp/dashboard';
import { jsonLine } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../errors.js';

/** Where the password of a non-loopback bind may come from instead of the command line. */
export const PASSWORD_ENV = 'KELP_DASHBOARD_PASSWORD';

export const dashboardCommand: Command = {
  spec: {
    name: 'dashboard',
    brief: 'see and repair queues, unacked messages and dead letters in a browser',
    summary:
      'Serves a web page for the broker: exchanges and bindings, queues with ready (per priority step), unacked\n' +
      'and dead-letter counts and rate charts; waiting, unacked and dead-letter messages paged and searched without\n' +
      'consuming them; restore, requeue, delete, move and purge. Listens on 127.0.0.1 unless --host says otherwise\n' +
      `(then a password is required: --password or ${PASSWORD_ENV}). The API (reads and actions) needs the token printed at start.`,
    usage: 'kelp dashboard URL [--host 127.0.0.1] [--port N] [--read-only] [--password P]',
    positionals: [{ name: 'URL', required: true, description: 'Broker URL, e.g. redis://localhost:6379/0 or memory://' }],
    options: {
      host: { type: 'string', value: 'HOST', description: 'Interface to listen on (default 127.0.0.1)' },
      port: { type: 'string', value: 'N', description: 'Port to listen on (default: a free port)' },
      'read-only': { type: 'boolean', description: 'Hide and refuse every action' },
      password: { type: 'string', value: 'P', description: `HTTP basic-auth password, required off loopback (or ${PASSWORD_ENV})` },
    },
    examples: ['kelp dashboard redis://localhost:6379/0', 'kelp dashboard redis://localhost:6379/0 --port 8080 --read-only'],
  },
  run,
};

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = ''] = args.positionals;
  const host = args.string('host');
  if (host !== undefined && host.trim() === '') throw new UsageError('--host must not be empty');
  const port = args.int('port', { min: 0, max: 65535 });
  const password = args.string('password') ?? (process.env[PASSWORD_ENV] || undefined);
  const dashboard = await startDashboard(
    {
      url,
      readOnly: args.flag('read-only'),
      ...(host === undefined ? {} : { host }),
      ...(port === undefined ? {} : { port }),
      ...(password === undefined ? {} : { password }),
    },
    signal,
  );
  try {
    if (args.json) {
      io.stdout.write(jsonLine({ url: dashboard.url, pageUrl: dashboard.pageUrl, token: dashboard.token, broker: dashboard.broker, readOnly: dashboard.readOnly }));
    } else {
      io.stdout.write(
        `kelp dashboard for ${dashboard.broker} at ${dashboard.url}${dashboard.readOnly ? ' (read-only)' : ''}\n` +
          `open ${dashboard.pageUrl}\n` +
          `token (X-Kelp-Token, for reads and actions): ${dashboard.token}\n` +
          'stop with Ctrl-C\n',
      );
    }
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await dashboard.close();
  }
  return 0;
}
