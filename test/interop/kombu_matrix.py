#!/usr/bin/python3
"""Python Kombu 5.2.4 side of wire-matrix.test.ts and shared-consumers.test.ts.

Usage: kombu_matrix.py <command> <json-args>
Prints one JSON document on stdout (the last line). Commands:
  mx-consume {url, exchange, type, queue, binding_key, count, timeout, accept, declare_only}
      consume `count` messages (ack each), report body, headers, properties, content type and
      encoding; with declare_only, declare and bind the queue and return at once.
  mx-publish {url, exchange, type, routing_key, queue, binding_key, declare_queue, wait_subscribers,
              messages: [{body, serializer, compression, headers, priority, correlation_id, reply_to}]}
  share-consume {url, queue, done_key, timeout, idle}
      print 'ready' once consuming, then consume from `queue` (prefetch 10, ack each) until `done_key`
      is set (all published) and the queue and `unacked` stayed empty for `idle` seconds, or until
      `timeout`; report the ids of the {"id": n} bodies it processed.
"""
import json
import socket
import sys
import time

import redis

from kombu import Connection, Consumer, Exchange, Producer, Queue


def _queue(args):
    ex = Exchange(args.get('exchange', ''), type=args.get('type', 'direct'))
    return Queue(args['queue'], ex, routing_key=args.get('binding_key', args['queue']))


def _describe(body, message):
    props = message.properties
    return {
        'body': body,
        'headers': message.headers,
        'priority': props.get('priority'),
        'correlation_id': props.get('correlation_id'),
        'reply_to': props.get('reply_to'),
        'content_type': message.content_type,
        'content_encoding': message.content_encoding,
        'routing_key': message.delivery_info.get('routing_key'),
        'exchange': message.delivery_info.get('exchange'),
        'delivery_tag': message.delivery_tag,
    }


def mx_consume(args):
    out = []
    with Connection(args['url'], transport_options=args.get('transport_options', {})) as conn:
        q = _queue(args)
        if args.get('declare_only'):
            q(conn.default_channel).declare()
            return {'declared': args['queue']}

        def on_message(body, message):
            out.append(_describe(body, message))
            message.ack()

        with Consumer(conn, [q], callbacks=[on_message], accept=args.get('accept', ['json', 'msgpack'])):
            deadline = time.time() + args.get('timeout', 15)
            while len(out) < args['count'] and time.time() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except socket.timeout:
                    pass
    return {'messages': out}


def mx_publish(args):
    with Connection(args['url'], transport_options=args.get('transport_options', {})) as conn:
        ex = Exchange(args['exchange'], type=args.get('type', 'direct'))
        channel = conn.default_channel
        ex(channel).declare()
        producer = Producer(channel, exchange=ex)
        if args.get('declare_queue'):
            _queue(args)(channel).declare()
        wait = args.get('wait_subscribers', 0)
        if wait:
            deadline = time.time() + 15
            while time.time() < deadline and channel.client.execute_command('PUBSUB', 'NUMPAT') < wait:
                time.sleep(0.05)
        for m in args['messages']:
            extra = {}
            for key in ('correlation_id', 'reply_to'):
                if m.get(key) is not None:
                    extra[key] = m[key]
            producer.publish(m['body'], routing_key=args['routing_key'], serializer=m.get('serializer', 'json'),
                             compression=m.get('compression'), headers=m.get('headers', {}),
                             priority=m.get('priority', 0), **extra)
        return {'published': len(args['messages'])}


def share_consume(args):
    ids = []
    with Connection(args['url']) as conn:
        channel = conn.default_channel
        # A client of its own: the channel's connections are busy with Kombu's blocking pops.
        client = redis.Redis.from_url(args['url'])
        q = Queue(args['queue'], Exchange(''), routing_key=args['queue'])

        def on_message(body, message):
            ids.append(body['id'])
            message.ack()

        consumer = Consumer(channel, [q], callbacks=[on_message], accept=['json'])
        consumer.qos(prefetch_count=10)
        with consumer:
            sys.stdout.write('ready\n')
            sys.stdout.flush()
            deadline = time.time() + args.get('timeout', 40)
            idle_since = None
            while time.time() < deadline:
                try:
                    conn.drain_events(timeout=0.2)
                    idle_since = None
                except socket.timeout:
                    # Stop once nothing is left anywhere for `idle` seconds: the other side is done too.
                    empty = client.llen(args['queue']) == 0 and client.hlen('unacked') == 0
                    if empty and ids_total_reached(client, args):
                        if idle_since is None:
                            idle_since = time.time()
                        elif time.time() - idle_since >= args.get('idle', 0.5):
                            break
                    else:
                        idle_since = None
    return {'ids': ids}


def ids_total_reached(client, args):
    # The test sets this key once every message was published, so an empty queue before then is no end.
    return client.get(args['done_key']) is not None if args.get('done_key') else True


COMMANDS = {'mx-consume': mx_consume, 'mx-publish': mx_publish, 'share-consume': share_consume}

if __name__ == '__main__':
    result = COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
    sys.stdout.write(json.dumps(result) + '\n')
