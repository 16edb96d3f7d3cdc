"""Celery 5.2.6 app for kelp's Celery interop tests (test/interop/celery-*.test.ts).

A Python worker runs these tasks for a kelp client; `celery_client.py` sends tasks for kelp workers.
"""
import os
import time

from celery import Celery

app = Celery('celery_app', broker=os.environ['KELP_BROKER'], backend=os.environ['KELP_BACKEND'])
app.conf.worker_hijack_root_logger = False
app.conf.accept_content = ['json', 'msgpack']
app.conf.result_accept_content = ['json', 'msgpack']
app.conf.broker_transport_options = {'visibility_timeout': int(os.environ.get('KELP_VISIBILITY', '3600'))}


@app.task(name='tasks.add')
def add(x, y):
    return x + y


@app.task(name='tasks.fail')
def fail(message):
    raise ValueError(message)


@app.task(name='tasks.flaky', bind=True, max_retries=3)
def flaky(self, succeed_after):
    if self.request.retries < succeed_after:
        raise self.retry(countdown=1, exc=RuntimeError('not yet'))
    return self.request.retries


@app.task(name='tasks.echo', bind=True)
def echo(self, *args, **kwargs):
    return {
        'args': list(args),
        'kwargs': kwargs,
        'eta': self.request.eta,
        'expires': self.request.expires,
        'retries': self.request.retries,
        'priority': self.request.delivery_info.get('priority'),
        'routing_key': self.request.delivery_info.get('routing_key'),
        'time_limit': list(self.request.timelimit or []),
        'ran_at': time.time(),
    }


@app.task(name='tasks.sum')
def total(values):
    return sum(values)


@app.task(name='tasks.sleep')
def sleep(seconds):
    time.sleep(seconds)
    return seconds
