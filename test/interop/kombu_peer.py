#!/usr/bin/python3
"""Python Kombu 5.2.4 side of kelp's interop tests.

Usage: kombu_peer.py <command> <json-args>
Prints one JSON document on stdout. Commands:
  publish   {url, exchange, type, routing_key, queue, binding_key, declare_queue,
             messages: [{body, priority, headers, expiration (s), timestamp_now (bool)}]}
  consume   {url, exchange, type, queue, binding_key, count, timeout, ack, transport_options}
  crash     {url, queue, count, transport_options}   consume `count` without acking, then os._exit (no restore)
  restore   {url, transport_options, exchange, type, queue, binding_key}  run restore_visible once
  fanout-publish {url, exchange, routing_key, body, wait_subscribers, transport_options}
"""
import json
import os
import sys
import time

from kombu import Connection, Consumer, Exchange, Producer, Queue


def _queue(args):
    ex = Exchange(args.get('exchange', ''), type=args.get('type', 'direct'))
    return Queue(args['queue'], ex, routing_key=args.get('binding_key', args['queue']))


def publish(args):
    with Connection(args['url'], transport_options=args.get('transport_options', {})) as conn:
        ex = Exchange(args['exchange'], type=args.get('type', 'direct'))
        producer = Producer(conn.default_channel, exchange=ex)
        declare = [_queue(args)] if args.get('declare_queue') else []
        tags = []
        for m in args['messages']:
            # The AMQP timestamp property (epoch seconds) is an extra publish keyword in Kombu.
            extra = {'timestamp': time.time()} if m.get('timestamp_now') else {}
            producer.publish(m['body'], routing_key=args['routing_key'], priority=m.get('priority', 0),
                             declare=declare, headers=m.get('headers', {}), expiration=m.get('expiration'), **extra)
        return {'published': len(args['messages'])}


def consume(args):
    out = []
    with Connection(args['url'], transport_options=args.get('transport_options', {})) as conn:
        q = _queue(args)

        def on_message(body, message):
            out.append({
                'body': body,
                'routing_key': message.delivery_info.get('routing_key'),
                'exchange': message.delivery_info.get('exchange'),
                'priority': message.properties.get('priority'),
                'headers': message.headers,
                'delivery_tag': message.delivery_tag,
                'redelivered': bool(message.headers.get('redelivered')),
                'content_type': message.content_type,
                'expiration': message.properties.get('expiration'),
            })
            if args.get('ack', True):
                message.ack()

        with Consumer(conn, [q], callbacks=[on_message], accept=['json', 'text/plain', 'application/data']):
            deadline = time.time() + args.get('timeout', 10)
            while len(out) < args['count'] and time.time() < deadline:
                try:
                    conn.drain_events(timeout=0.5)
                except Exception:  # socket.timeout
                    pass
    return {'messages': out}


def crash(args):
    conn = Connection(args['url'], transport_options=args.get('transport_options', {}))
    q = Queue(args['queue'], Exchange(''), routing_key=args['queue'])
    got = []
    def on_message(body, message):
        got.append(message.delivery_tag)
    consumer = Consumer(conn, [q], callbacks=[on_message])
    consumer.consume()
    deadline = time.time() + 10
    while len(got) < args['count'] and time.time() < deadline:
        try:
            conn.drain_events(timeout=0.5)
        except Exception:
            pass
    sys.stdout.write(json.dumps({'tags': got}) + '\n')
    sys.stdout.flush()
    os._exit(0)  # no close, no restore: the messages stay in unacked


def restore(args):
    with Connection(args['url'], transport_options=args.get('transport_options', {})) as conn:
        ch = conn.default_channel
        if args.get('exchange'):
            Exchange(args['exchange'], type=args.get('type', 'direct'))(ch).declare()
        ch.qos.restore_visible(num=None)
        return {'ok': True}


def fanout_publish(args):
    with Connection(args['url'], transport_options=args.get('transport_options', {})) as conn:
        ex = Exchange(args['exchange'], type='fanout')
        ex(conn.default_channel).declare()
        producer = Producer(conn.default_channel, exchange=ex)
        client = conn.default_channel.client
        deadline = time.time() + 10
        while time.time() < deadline:
            if client.execute_command('PUBSUB', 'NUMPAT') >= args.get('wait_subscribers', 1):
                break
            time.sleep(0.05)
        producer.publish(args['body'], routing_key=args.get('routing_key', ''))
        return {'published': 1}


COMMANDS = {'publish': publish, 'consume': consume, 'crash': crash, 'restore': restore, 'fanout-publish': fanout_publish}

if __name__ == '__main__':
    result = COMMANDS[sys.argv[1]](json.loads(sys.argv[2]))
    sys.stdout.write(json.dumps(result) + '\n')
