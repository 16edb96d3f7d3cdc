import { ConfigurationError } from '@kelp/core';
import { describe, expect, it } from 'vitest';
import { Celery } from '../src/app.js';

describe('option names with a did-you-mean', () => {
  const app = new Celery({ broker: 'memory://' });

  it('refuses a misspelt revoke option on Celery.revoke and AsyncResult.revoke before anything is sent', async () => {
    await expect(app.revoke('id-1', { terminated: true } as never)).rejects.toThrow(/did you mean `terminate`/);
    await expect(app.AsyncResult('id-1').revoke({ terminated: true } as never)).rejects.toThrow(ConfigurationError);
    await expect(app.revoke('id-1', { terminate: 'yes' } as never)).rejects.toThrow(ConfigurationError);
    await expect(app.revoke('id-1', { signal: 'sigterm' })).rejects.toThrow(/signal name/);
  });

  it('refuses a misspelt or invalid worker.stop option', async () => {
    const worker = app.worker({ tasks: {} });
    await expect(worker.stop({ timout: 1 } as never)).rejects.toThrow(/did you mean `timeout`/);
    await expect(worker.stop({ timeout: -1 })).rejects.toThrow(ConfigurationError);
    await worker.stop({ timeout: 1 });
    expect(worker.state).toBe('stopped');
  });
});
