/** The admin's repair operations, or a clear refusal when the transport does not offer them. */
import { OperationalError, type TransportAdmin, type TransportAdminRepair } from 'kelp';

export function repairOf(admin: TransportAdmin, transport: string): TransportAdmin & TransportAdminRepair {
  const { messages, unacked, deleteMessage, moveMessages, purge, restoreMessage, requeueDeadLetter, deleteDeadLetter } = admin;
  if (!messages || !unacked || !deleteMessage || !moveMessages || !purge || !restoreMessage || !requeueDeadLetter || !deleteDeadLetter) {
    throw new OperationalError(`the ${transport} transport cannot page or repair messages (its admin has no such operations)`);
  }
  return admin as TransportAdmin & TransportAdminRepair;
}
