import { describe, expect, it } from 'vitest';
import { ConfigurationError, type ConnectionParams } from '../src/index.js';
import { TransportRegistry } from '../src/transport-registry.js';
import { parseUrl, redactUrl, splitUrls } from '../src/url.js';

type Expected = Partial<Omit<ConnectionParams, 'transportOptions'>> & { transportOptions?: Record<string, unknown> };

// Measured Kombu 5.2.4 results (docs/kombu-compatibility.md#urls, docs/wire-format.md#databases)
// and kelp's additions.
const cases: [url: string, expected: Expected][] = [
  ['redis://', { transport: 'redis', hostname: '127.0.0.1', port: 6379, virtualHost: '0', password: undefined, tls: undefined }],
  ['redis://127.0.0.1:6391/3', { hostname: '127.0.0.1', port: 6391, virtualHost: '3' }],
  ['redis://:s3cret@host:6380/2', { hostname: 'host', port: 6380, username: undefined, password: 's3cret', virtualHost: '2' }],
  ['redis://user:p%40ss@host/5', { username: 'user', password: 'p@ss', virtualHost: '5', port: 6379 }],
  ['redis://host/', { hostname: 'host', virtualHost: '0' }],
  ['redis://host//', { hostname: 'host', virtualHost: '0' }],
  ['redis://host', { hostname: 'host', virtualHost: '0' }],
  ['redis://host/15', { virtualHost: '15' }],
  ['redis://[::1]:6400/1', { hostname: '::1', port: 6400, virtualHost: '1' }],
  ['valkey://vk:6390/4', { transport: 'redis', hostname: 'vk', port: 6390, virtualHost: '4', tls: undefined }],
  ['rediss://host:6380/0', { transport: 'rediss', port: 6380, tls: { rejectUnauthorized: true } }],
  ['valkeys://host/0', { transport: 'rediss', tls: { rejectUnauthorized: true } }],
  [
    'rediss://host:6380/0?ssl_cert_reqs=required&ssl_ca_certs=/ca.pem',
    { tls: { rejectUnauthorized: true, ca: '/ca.pem' }, transportOptions: {} },
  ],
  ['rediss://host/0?ssl_cert_reqs=none', { tls: { rejectUnauthorized: false } }],
  ['rediss://host/0?ssl_cert_reqs=CERT_OPTIONAL', { tls: { rejectUnauthorized: true } }],
  [
    'rediss://host/0?ssl_certfile=/c.pem&ssl_keyfile=/k.pem&ssl_servername=redis.example&ssl_check_hostname=false',
    { tls: { cert: '/c.pem', key: '/k.pem', servername: 'redis.example', checkHostname: false, rejectUnauthorized: true } },
  ],
  ['redis://host/0?ssl_cert_reqs=required', { transport: 'redis', tls: { rejectUnauthorized: true } }],
  ['redis+socket:///tmp/redis.sock', { transport: 'redis', socketPath: '/tmp/redis.sock', virtualHost: '0', port: undefined }],
  ['redis+socket:///tmp/redis.sock?virtual_host=4', { socketPath: '/tmp/redis.sock', virtualHost: '4', transportOptions: {} }],
  ['redis+socket://:pw@/tmp/redis.sock', { socketPath: '/tmp/redis.sock', password: 'pw' }],
  ['unix:///var/run/redis.sock', { transport: 'redis', socketPath: '/var/run/redis.sock' }],
  ['sentinel://s1:26379;sentinel://s2:26380', { transport: 'sentinel', hostname: 's1', port: 26379, alternates: ['sentinel://s2:26380'] }],
  ['sentinel://s1/2;sentinel://s2/5', { port: 26379, virtualHost: '2', alternates: ['sentinel://s2/5'] }],
  ['memory://', { transport: 'memory', virtualHost: 'default', port: undefined }],
  ['memory://tests', { transport: 'memory', virtualHost: 'tests' }],
  ['memory', { transport: 'memory', virtualHost: 'default' }],
  ['redis://h1/0;redis://h2/0', { hostname: 'h1', alternates: ['redis://h2/0'] }],
  [
    'redis://host/0?visibility_timeout=30&ack_emulation=no&priority_steps=0,5,9&global_keyprefix=123&queue_order_strategy=priority&fanout_prefix=true',
    {
      transportOptions: {
        visibilityTimeout: 30,
        ackEmulation: false,
        prioritySteps: [0, 5, 9],
        globalKeyprefix: '123',
        queueOrderStrategy: 'priority',
        fanoutPrefix: true,
      },
    },
  ],
  ['redis://host/0?health_check_interval=2.5&retry_on_timeout=1&polling_interval=0', {
    transportOptions: { healthCheckInterval: 2.5, retryOnTimeout: true, pollingInterval: 0 },
  }],
];

describe('parseUrl', () => {
  it.each(cases)('parses %s', (url, expected) => {
    const params = parseUrl(url);
    expect(params).toMatchObject(expected);
    if (expected.tls) expect(params.tls).toEqual(expected.tls);
    if (expected.transportOptions) expect(params.transportOptions).toEqual(expected.transportOptions);
  });

  const errors: [url: string, message: RegExp][] = [
    ['redis:///foo', /db must be an integer between 0 and 15 \(or the server's databases setting\), got "foo"/],
    ['redis://:topsecret@host/x1', /URL redis:\/\/:\*\*@host\/x1: db must be an integer/],
    ['redis://host:99999/0', /port must be an integer between 1 and 65535/],
    ['redis://host:abc/0', /port must be an integer/],
    ['redis+socket://', /needs the socket path/],
    ['rediss://host/0?ssl_cert_reqs=maybe', /ssl_cert_reqs must be one of required, optional, none/],
    ['redis://host/0?priority_steps=0,a', /priority_steps|prioritySteps/],
    ['amqp://guest:guest@host//', /unknown transport scheme "amqp".*memory.*redis.*rediss.*sentinel/],
    ['', /broker URL is empty/],
    ['not a url', /is not a broker URL/],
  ];

  it.each(errors)('rejects %j with a ConfigurationError', (url, message) => {
    expect(() => parseUrl(url)).toThrow(ConfigurationError);
    expect(() => parseUrl(url)).toThrow(message);
  });

  it('never puts the password in an error message', () => {
    let caught: unknown;
    try {
      parseUrl('redis://user:hunter2@host/notadb');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigurationError);
    expect((caught as Error).message).not.toContain('hunter2');
    expect((caught as ConfigurationError).option).toBe('virtualHost');
  });

  it('lets the options object override URL query transport options', () => {
    const params = parseUrl('redis://host/0?visibility_timeout=30&sep=:', {
      transportOptions: { visibility_timeout: 10, globalKeyprefix: 'app:' },
    });
    expect(params.transportOptions).toEqual({ visibilityTimeout: 10, sep: ':', globalKeyprefix: 'app:' });
  });

  it('turns TLS on for redis:// when the tls option is true, verifying certificates', () => {
    expect(parseUrl('redis://host/0', { tls: true }).tls).toEqual({ rejectUnauthorized: true });
  });

  it('lets the tls option object override ssl_* query keys', () => {
    const params = parseUrl('rediss://host/0?ssl_cert_reqs=none&ssl_ca_certs=/a.pem', { tls: { ca: '/b.pem' } });
    expect(params.tls).toEqual({ rejectUnauthorized: false, ca: '/b.pem' });
  });

  it('takes the virtual host from the options when the URL path has none', () => {
    expect(parseUrl('redis://host', { virtualHost: 7 }).virtualHost).toBe('7');
    expect(parseUrl('redis://host', { virtualHost: '/3' }).virtualHost).toBe('3');
  });

  it('parses a scheme registered by a third-party transport generically', () => {
    const registry = new TransportRegistry();
    registry.register({ aliases: ['sqs'], defaultPort: 443, create: () => { throw new Error('unused'); } });
    const params = parseUrl('sqs://key:secret@region/vhost?wait_time_seconds=5', { registry });
    expect(params).toMatchObject({
      transport: 'sqs',
      hostname: 'region',
      port: 443,
      username: 'key',
      password: 'secret',
      virtualHost: 'vhost',
      transportOptions: { waitTimeSeconds: 5 },
      redactedUrl: 'sqs://key:**@region/vhost?wait_time_seconds=5',
    });
  });

  it('keeps the redacted failover list in redactedUrl', () => {
    expect(parseUrl('redis://:a@h1/0;redis://:b@h2/0').redactedUrl).toBe('redis://:**@h1/0;redis://:**@h2/0');
  });

  it('accepts an array of URLs as a failover list', () => {
    const params = parseUrl(['redis://h1/1', 'redis://h2/1;redis://h3/1']);
    expect(params.hostname).toBe('h1');
    expect(params.alternates).toEqual(['redis://h2/1', 'redis://h3/1']);
  });
});

describe('redactUrl', () => {
  const table: [string, string][] = [
    ['redis://:s3cret@host:6380/2', 'redis://:**@host:6380/2'],
    ['redis://user:p%40ss@host/5', 'redis://user:**@host/5'],
    ['redis://user:p@ss@host/5', 'redis://user:**@host/5'],
    ['redis://user@host/5', 'redis://user@host/5'],
    ['redis://host/5', 'redis://host/5'],
    ['redis+socket://:pw@/tmp/redis.sock', 'redis+socket://:**@/tmp/redis.sock'],
    ['sentinel://:a@s1;sentinel://:b@s2', 'sentinel://:**@s1;sentinel://:**@s2'],
    ['sentinel://s1/0?sentinel_password=xyz&master_name=m', 'sentinel://s1/0?sentinel_password=**&master_name=m'],
  ];
  it.each(table)('redacts %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

describe('splitUrls', () => {
  it('splits on semicolons, trims and drops empty parts', () => {
    expect(splitUrls(' redis://a ; redis://b ;')).toEqual(['redis://a', 'redis://b']);
  });
});
