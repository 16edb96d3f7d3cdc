"""A Python Kombu 5.2.4 visibility sweeper for fault tests.

Runs Kombu's own QoS.restore_visible (interval=1: no throttle) every 0.2 s for a while against
the same Redis db as kelp, so a test can show that kelp's unacked bookkeeping keeps Kombu from
redelivering a message early. Prints the number of sweeps it made.

usage: kombu-sweeper.py URL SECONDS VISIBILITY_TIMEOUT
"""
import sys
import time

from kombu import Connection

url, seconds, visibility = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
conn = Connection(url, transport_options={'visibility_timeout': visibility})
channel = conn.default_channel
deadline = time.time() + seconds
sweeps = 0
while time.time() < deadline:
    channel.qos.restore_visible(num=1000, interval=1)
    sweeps += 1
    time.sleep(0.2)
print(sweeps, flush=True)
conn.release()
