/** How a stored message is shown: Celery tasks decoded, binary as hex, long bodies truncated. */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { viewMessage } from '../src/message-view.js';
import { resolveOptions } from '../src/options.js';

const envelope = (body: unknown, headers: Record<string, unknown> = {}, contentType = 'application/json') =>
  JSON.stringify({
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)).toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': contentType,
    headers,
    properties: { body_encoding: 'base64', delivery_tag: 't-1', priority: 3, delivery_info: { exchange: 'celery', routing_key: 'celery' } },
  });

describe('viewMessage', () => {
  it('shows a Celery protocol 2 task: name, id, args, kwargs, ETA and retries', () => {
    const view = viewMessage(envelope([[2, 3], { x: 1 }, {}], { task: 'tasks.add', id: 'abc', eta: '2026-01-01T00:00:00', retries: 2 }), 'utf8', 200);
    expect(view.task).toEqual({ name: 'tasks.add', id: 'abc', args: [2, 3], kwargs: { x: 1 }, eta: '2026-01-01T00:00:00', retries: 2 });
    expect([view.deliveryTag, view.priority, view.routingKey]).toEqual(['t-1', 3, 'celery']);
  });

  it('shows a Celery protocol 1 task from its body', () => {
    const view = viewMessage(envelope({ task: 'tasks.mul', id: 'v1', args: [1], kwargs: {}, retries: 0, eta: null }), 'utf8', 200);
    expect(view.task).toMatchObject({ name: 'tasks.mul', id: 'v1', args: [1], retries: 0 });
  });

  it('shows a body that is not UTF-8 as hex, and a compressed one too', () => {
    const binary = JSON.stringify({ body: Buffer.from([1, 2, 0xff]).toString('base64'), headers: {}, properties: { body_encoding: 'base64' } });
    expect(viewMessage(binary, 'utf8', 200).body).toEqual({ kind: 'hex', text: '01 02 ff', bytes: 3, truncated: false });
    expect(viewMessage(envelope('plain', { compression: 'application/x-gzip' }), 'utf8', 200).body.kind).toBe('hex');
  });

  it('truncates a long body at the limit and says so', () => {
    const view = viewMessage(envelope('z'.repeat(1000), {}, 'text/plain'), 'utf8', 200);
    expect([view.body.text.length, view.body.truncated, view.body.bytes]).toEqual([200, true, 1000]);
  });

  it('shows what is not an envelope as stored, with the problem named', () => {
    const view = viewMessage(Buffer.from([0xfe, 0x41]).toString('base64'), 'base64', 200);
    expect([view.problem, view.body.kind, view.body.text]).toEqual(['not a Kombu envelope: shown as stored', 'hex', 'fe 41']);
  });
});

describe('dashboard options', () => {
  it('suggests the option meant', () => {
    expect(() => resolveOptions({ url: 'memory://', readonly: true } as never)).toThrow(/did you mean `readOnly`/);
  });

  it('requires a password for any bind but loopback', () => {
    expect(() => resolveOptions({ url: 'memory://', host: '192.168.1.5' })).toThrow(/password/);
    expect(resolveOptions({ url: 'memory://', host: '::1' }).host).toBe('::1');
    expect(resolveOptions({ url: 'memory://', host: '10.0.0.1', password: 'long-enough' }).password).toBe('long-enough');
  });
});
