#!/usr/bin/python3
"""The Kombu baseline of `kelp bench polling --baseline kombu`: Debian's python3-kombu 5.2.4
consuming the lab's queues on the same Redis, with Kombu's own Redis transport (its BRPOP over
every queue in round_robin order, one message per BRPOP, prefetch 100).

usage: kombu_polling.py URL PREFIX QUEUES

Declares the direct exchange PREFIX.x and the queues PREFIX.q0000.. (as kelp's bench does),
prints {"event": "ready", "kombu": version, "cpu_us": n}, waits for one line on stdin ("go"),
then consumes and acks until stdin closes, printing one line per message:
  [queue_index, served_at_ms, published_at_ms, cpu_us]
(wall-clock ms; the publish time is the message's x-bench-ts header; cpu_us is this process's
user+sys time so far, so the parent can take the CPU of any stretch of deliveries).
"""
import json
import os
import select
import socket
import sys
import time

import kombu
from kombu import Connection, Consumer, Exchange, Queue


def cpu_us():
    return int(time.process_time() * 1e6)


def emit(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()


def main():
    url, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    exchange = Exchange(prefix + '.x', type='direct', durable=False)
    names = ['%s.q%04d' % (prefix, i) for i in range(count)]
    index = {name: i for i, name in enumerate(names)}
    queues = [Queue(name, exchange=exchange, routing_key=name, durable=False) for name in names]
    with Connection(url) as conn:
        channel = conn.channel()
        for queue in queues:
            queue(channel).declare()
        emit({'event': 'ready', 'kombu': kombu.__version__, 'cpu_us': cpu_us()})
        if not sys.stdin.readline():
            return

        def on_message(message):
            now = time.time() * 1000
            stamp = message.headers.get('x-bench-ts')
            message.ack()
            queue = index.get(message.delivery_info.get('routing_key'), -1)
            emit([queue, now, stamp if isinstance(stamp, (int, float)) else now, cpu_us()])

        consumer = Consumer(channel, queues, on_message=on_message, prefetch_count=100)
        consumer.consume()
        stdin = sys.stdin.fileno()
        checked = time.monotonic()
        while True:
            # The parent closes stdin when the run is over; looked at every 100 ms, not per
            # message, so the check does not show in the CPU per message.
            if time.monotonic() - checked > 0.1:
                checked = time.monotonic()
                if select.select([stdin], [], [], 0)[0] and not os.read(stdin, 4096):
                    break
            try:
                conn.drain_events(timeout=0.2)
            except socket.timeout:
                pass
        consumer.cancel()


if __name__ == '__main__':
    main()
