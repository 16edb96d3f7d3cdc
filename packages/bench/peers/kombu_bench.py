#!/usr/bin/python3
"""The Kombu side of `npm run bench:compare`: the same workloads as kelp's, through Python Kombu
(Debian's python3-kombu 5.2.4) on the same Redis.

usage: kombu_bench.py URL publish|consume N PREFIX

Prints one JSON object: messages, seconds, rate (msgs/s), cpu_us_per_msg (this process's user+sys
time), commands_per_msg and round_trips_per_msg (INFO commandstats / total_reads_processed diff,
with this script's own INFO calls taken out) and peak_rss_mib.

Bodies are the same ~200-byte JSON as kelp's bench (`{"seq", "kind", "text"}`), published with
an `x-bench-ts` header, through a non-durable direct exchange to one queue.
"""
import json
import resource
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


def main():
    url, mode, n, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
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
        received = [0]

        def on_message(message):
            message.ack()
            received[0] += 1

        before = counters(probe)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        if mode == 'publish':
            for i in range(n):
                producer.publish(body(i), headers={'x-bench-ts': time.time() * 1000})
            count = n
        elif mode == 'consume':
            consumer = Consumer(channel, [bound], on_message=on_message, prefetch_count=100)
            consumer.consume()
            deadline = time.monotonic() + 300
            while received[0] < n and time.monotonic() < deadline:
                conn.drain_events(timeout=5)
            consumer.cancel()
            count = received[0]
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


if __name__ == '__main__':
    main()
