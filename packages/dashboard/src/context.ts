/** What every route module is given: the admin, the scrubber, the sampler and the run's settings. */
import type { TransportAdmin } from 'kelp';
import type { Asset } from './assets.js';
import type { Sampler } from './sampler.js';
import type { Scrubber } from './secrets.js';

export interface AppContext {
  admin: TransportAdmin;
  scrubber: Scrubber;
  sampler: Sampler;
  assets: ReadonlyMap<string, Asset>;
  readOnly: boolean;
  token: string;
  password: string | undefined;
  transportName: string;
  searchLimit: number;
  /** The Host header values accepted; undefined accepts any (a password guards such binds). */
  allowedHosts: () => ReadonlySet<string> | undefined;
}
