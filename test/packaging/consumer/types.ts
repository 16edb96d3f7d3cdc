// Type-checked twice in the consumer project: as types.ts, an ES module that resolves `kelp`
// through the `import` condition's types, and copied to types.cts, CommonJS that resolves it
// through the `require` condition's types.
import { Connection, KelpError, Producer, Queue } from 'kelp';

export async function publishOne(url: string): Promise<string> {
  const conn = new Connection(url);
  const result = await new Producer(conn).publish({ id: 1 }, { routingKey: 'q', declare: [new Queue('q')] });
  // @ts-expect-error an unknown field is an error only when the declarations were found
  void result.noSuchField;
  await conn.close();
  return result.status;
}

export const isKelpError = (error: unknown): error is KelpError => error instanceof KelpError;
