/**
 * `kelp inspect`, `kelp restore` and `kelp dead-letters` read transport state that the generic
 * Channel API cannot reach (Redis keys), through the transport's optional `admin` object
 * (`TransportAdmin` in core). A transport without one gets a clear "not supported" error.
 */
import type { Connection, TransportAdmin } from 'kelp';
import { NotSupportedError } from './errors.js';

/** The transport's admin object, or a "not supported" error naming the transport. */
export function requireAdmin(connection: Connection, what: string): TransportAdmin {
  const transport = connection.transport;
  if (transport.admin) return transport.admin;
  throw new NotSupportedError(`kelp ${what} is not supported for the ${transport.driverName} transport yet`);
}
