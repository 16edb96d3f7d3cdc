/**
 * Bad input for a Redis queue, each item as the exact bytes LPUSHed, with the reason it is bad.
 * Built from the wire spec (sections 1 and 7), never from kelp's own codec.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { deflateSync } from 'node:zlib';

export interface BadItem {
  kind: string;
  bytes: Buffer;
}

const b64 = (text: string | Buffer) => Buffer.from(text).toString('base64');

/** A valid envelope as a plain object, to be broken one field at a time. */
export function envelopeObject(queue: string, body: unknown = { id: 'bad' }): Record<string, any> {
  return {
    body: b64(JSON.stringify(body)),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: {},
    properties: {
      delivery_mode: 2,
      delivery_info: { exchange: '', routing_key: queue },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  };
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const text = (value: string) => Buffer.from(value, 'utf8');

/** Over this many body bytes a consumer configured with the corpus limit refuses a message. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export function malformedCorpus(queue: string): BadItem[] {
  const env = () => envelopeObject(queue);
  const items: BadItem[] = [];
  const add = (kind: string, bytes: Buffer) => items.push({ kind, bytes });

  add('not JSON', text('hello, this is not JSON'));
  add('empty string', Buffer.alloc(0));
  add('JSON array', json([1, 2, 3]));
  add('JSON string', json('just a string'));
  add('JSON number', text('42'));
  add('JSON null', text('null'));
  add('truncated JSON', json(env()).subarray(0, 60));
  add('NaN in envelope (Python accepts, JSON does not)', text(JSON.stringify(env()).replace('"priority":0', '"priority":NaN')));
  {
    const e = env();
    delete e['properties'];
    add('properties missing', json(e));
  }
  {
    const e = env();
    e['properties'] = 'not an object';
    add('properties not an object', json(e));
  }
  {
    const e = env();
    delete e['properties']['delivery_tag'];
    add('delivery_tag missing', json(e));
  }
  {
    const e = env();
    e['properties']['delivery_tag'] = 12345;
    add('delivery_tag a number', json(e));
  }
  {
    const e = env();
    delete e['properties']['delivery_info'];
    add('delivery_info missing', json(e));
  }
  {
    const e = env();
    e['properties']['delivery_info'] = { exchange: 7, routing_key: queue };
    add('delivery_info.exchange a number', json(e));
  }
  {
    const e = env();
    e['body'] = { nested: true };
    add('body an object', json(e));
  }
  {
    const e = env();
    e['headers'] = [1, 2];
    add('headers an array', json(e));
  }
  {
    const e = env();
    e['properties']['body_encoding'] = 'rot13';
    add('unknown body_encoding', json(e));
  }
  {
    const e = env();
    e['body'] = '!!!% not base64 at all ###';
    add('bad base64', json(e));
  }
  {
    const e = env();
    e['headers'] = { compression: 'application/x-gzip' };
    e['body'] = b64(randomBytes(64));
    add('broken zlib stream', json(e));
  }
  {
    const e = env();
    e['headers'] = { compression: 'application/x-zstd-unknown' };
    e['body'] = b64(deflateSync(Buffer.from('{"id":"z"}')));
    add('unknown compression', json(e));
  }
  {
    const e = env();
    // Python pickle protocol 2 of {} : a consumer must never unpickle.
    e['content-type'] = 'application/x-python-serialize';
    e['content-encoding'] = 'binary';
    e['body'] = b64(Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]));
    add('pickle content type (not accepted)', json(e));
  }
  {
    const e = env();
    e['content-type'] = 'application/x-yaml';
    e['body'] = b64('id: yaml');
    add('yaml content type (not accepted)', json(e));
  }
  {
    const e = env();
    e['body'] = b64('{"id": "broken json body"');
    add('JSON body that does not parse', json(e));
  }
  {
    const e = envelopeObject(queue, { id: 'huge', pad: 'x'.repeat(BODY_LIMIT_BYTES * 2) });
    add('body over the size limit', json(e));
  }
  {
    const e = env();
    const depth = 5000;
    const nested = '['.repeat(depth) + ']'.repeat(depth);
    add('huge nesting in the envelope', Buffer.from(JSON.stringify(e).replace('"headers":{}', `"headers":{"deep":${nested}}`)));
  }
  {
    const e = env();
    e['headers'] = { note: 'MARK' };
    const raw = json(e);
    const at = raw.indexOf('MARK');
    // Kombu reads this with errors='replace'; kelp cannot keep such bytes through a JS string, so
    // the only way to keep the original is to move it aside untouched.
    add('invalid UTF-8 in the envelope', Buffer.concat([raw.subarray(0, at), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), raw.subarray(at + 4)]));
  }
  {
    const e = env();
    // Declared utf-8 JSON, but not UTF-8: Python's strict decode raises; a lenient decoder would
    // silently turn the bytes into U+FFFD and hand the consumer altered data.
    e['body'] = b64(Buffer.concat([Buffer.from('{"id": "bad-utf8-'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]));
    add('invalid UTF-8 in a utf-8 JSON body', json(e));
  }
  return items;
}
