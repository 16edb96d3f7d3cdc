#!/usr/bin/python3
"""The Kombu side of `npm run bench:compare`: the same workloads as kelp's, through Python Kombu
(Debian's python3-kombu 5.2.4) on the same Redis.

usage: kombu_bench.py URL MODE N PREFIX [RATE]

MODE:
  publish        publish N, each one completed before the next (warm: measured after imports);
  consume        prefill N through Kombu (not measured), then consume+ack them at prefetch 100;
  drain          consume+ack N that someone else put in queue PREFIX.q, as a plain consumer
                 program would (the parent times the whole process);
  paced-publish  publish N at RATE msgs/s, stamping each with the wall-clock time;
  paced-consume  print {"event": "ready"}, then consume+ack N and report their latency.

Prints one JSON object: messages, seconds, rate (msgs/s), cpu_us_per_msg (this process's user+sys
time), commands_per_msg and round_trips_per_msg (INFO commandstats / total_reads_processed diff,
with this script's own INFO calls taken out), peak_rss_mib, and for paced-consume latency_ms
(p50, p99, count).

Bodies are the same ~200-byte JSON as kelp's bench (`{"seq", "kind", "text"}`), published with
an `x-bench-ts` header, through a non-durable direct exchange to one queue.
"""
import json
import resource
import socket
import sys
import time

import redis
from kombu import Connection, Consumer, Exchange, Producer, Queue


def counters(client):
    stats = client.info('stats')
    commands = client.info('commandstats')
    calls = {name[len('cmdstat_'):] if name.startswith('cmdstat_') else name: value['calls'] for name, value in commands.items()}
    return stats['total_commands_processed'], stats['total_reads_processed'], calls


def diff(before, after):
    # Each counters() call is two INFO commands over two reads; the "after" pair lands in the diff.
    commands = after[0] - before[0] - 2
    reads = after[1] - before[1] - 2
    calls = {k: v - before[2].get(k, 0) for k, v in after[2].items() if v - before[2].get(k, 0) > 0}
    calls['info'] = calls.get('info', 0) - 2
    if calls['info'] <= 0:
        del calls['info']
    return commands, reads, calls


def body(seq):
    return {'seq': seq, 'kind': 'bench', 'text': 'x' * 160}


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    rank = max(int(-(-p * len(sorted_values) // 100)) - 1, 0)
    return sorted_values[min(rank, len(sorted_values) - 1)]


def paced_publish(producer, n, rate):
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.publish(body(i), headers={'x-bench-ts': time.time() * 1000})


def consume(conn, channel, bound, n, on_body=None):
    """Consumes and acks n messages at prefetch 100; returns how many came."""
    received = [0]

    def on_message(message):
        if on_body is not None:
            on_body(message)
        message.ack()
        received[0] += 1

    consumer = Consumer(channel, [bound], on_message=on_message, prefetch_count=100)
    consumer.consume()
    deadline = time.monotonic() + 300
    while received[0] < n and time.monotonic() < deadline:
        try:
            conn.drain_events(timeout=5)
        except socket.timeout:
            pass
    consumer.cancel()
    return received[0]


def main():
    url, mode, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    if mode in ('drain', 'paced-publish', 'paced-consume'):
        return plain_program(url, mode, n, prefix, float(sys.argv[5]) if len(sys.argv) > 5 else 1000.0)
    exchange = Exchange(prefix + '.x', type='direct', durable=False)
    queue = Queue(prefix + '.q', exchange=exchange, routing_key=prefix + '.q', durable=False)
    probe = redis.Redis.from_url(url)
    with Connection(url) as conn:
        channel = conn.channel()
        bound = queue(channel)
        bound.declare()
        producer = Producer(channel, exchange=exchange, routing_key=queue.routing_key)
        if mode == 'consume':
            # Prefill (not measured) through Kombu itself so the consumer reads Kombu's own envelopes.
            for i in range(n):
                producer.publish(body(i), headers={'x-bench-ts': time.time() * 1000})
        before = counters(probe)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        if mode == 'publish':
            for i in range(n):
                producer.publish(body(i), headers={'x-bench-ts': time.time() * 1000})
            count = n
        elif mode == 'consume':
            count = consume(conn, channel, bound, n)
        else:
            raise SystemExit('mode must be publish or consume')
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        commands, reads, calls = diff(before, counters(probe))
        bound.delete()
    print(json.dumps({
        'mode': mode,
        'messages': count,
        'seconds': seconds,
        'rate': count / seconds if seconds > 0 else 0,
        'cpu_us_per_msg': cpu * 1e6 / count if count else None,
        'commands_per_msg': commands / count if count else None,
        'round_trips_per_msg': reads / count if count else None,
        'commands': calls,
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'kombu': __import__('kombu').__version__,
    }))


def plain_program(url, mode, n, prefix, rate):
    """The modes that run as a user's program would: no INFO counters, only this process's own."""
    exchange = Exchange(prefix + '.x', type='direct', durable=False)
    queue = Queue(prefix + '.q', exchange=exchange, routing_key=prefix + '.q', durable=False)
    latencies = []
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    with Connection(url) as conn:
        bound = queue(conn.default_channel)
        bound.declare()
        if mode == 'paced-publish':
            producer = Producer(conn.default_channel, exchange=exchange, routing_key=queue.routing_key)
            paced_publish(producer, n, rate)
            count = n
        else:
            def stamp(message):
                sent = message.headers.get('x-bench-ts')
                if sent is not None:
                    latencies.append(time.time() * 1000 - sent)

            if mode == 'paced-consume':
                print(json.dumps({'event': 'ready'}), flush=True)
            count = consume(conn, conn.default_channel, bound, n, stamp if mode == 'paced-consume' else None)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    latencies.sort()
    print(json.dumps({
        'event': 'result',
        'mode': mode,
        'messages': count,
        'seconds': seconds,
        'rate': count / seconds if seconds > 0 else 0,
        'cpu_us_per_msg': cpu * 1e6 / count if count else None,
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'latency_ms': {'p50': percentile(latencies, 50), 'p99': percentile(latencies, 99), 'count': len(latencies)},
        'kombu': __import__('kombu').__version__,
    }), flush=True)


if __name__ == '__main__':
    main()
