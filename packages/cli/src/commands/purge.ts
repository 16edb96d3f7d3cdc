/** `kelp purge URL --queue Q`: removes every waiting message from a queue. */
import { Queue } from 'kelp';
import { jsonLine } from '../output.js';
import type { Command, CommandContext } from '../command.js';
import { withConnection } from '../command.js';

export const purgeCommand: Command = {
  spec: {
    name: 'purge',
    brief: 'remove the waiting messages of a queue',
    summary: 'Removes every waiting message from a queue (unacked messages are not touched).',
    usage: 'kelp purge URL --queue Q',
    positionals: [{ name: 'URL', required: true, description: 'Broker URL, e.g. memory:// or redis://localhost:6379/0' }],
    options: {
      queue: { type: 'string', value: 'Q', multiple: true, description: 'Queue to purge' },
    },
    examples: ['kelp purge redis://localhost/0 --queue email'],
  },
  run,
};

async function run({ io, args, signal }: CommandContext): Promise<number> {
  const [url = ''] = args.positionals;
  args.requireName('queue');
  const names = args.strings('queue');
  const results: { queue: string; purged: number }[] = [];
  await withConnection(url, signal, async (connection) => {
    const channel = await connection.defaultChannel();
    for (const name of names) {
      results.push({ queue: name, purged: await new Queue(name).bind(channel).purge() });
    }
  });
  if (args.json) {
    const [only] = results;
    io.stdout.write(jsonLine(results.length === 1 && only ? only : { queues: results }));
  } else {
    for (const { queue, purged } of results) {
      io.stdout.write(`purged ${purged} message${purged === 1 ? '' : 's'} from ${queue}\n`);
    }
  }
  return 0;
}
