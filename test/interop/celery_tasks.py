"""Celery 5.2.6 app for kelp's interop test: a worker runs these tasks from kelp-published messages."""
import os

from celery import Celery

app = Celery('celery_tasks', broker=os.environ['KELP_BROKER'], backend=os.environ['KELP_BACKEND'])
app.conf.worker_hijack_root_logger = False


@app.task(name='tasks.add')
def add(x, y):
    return x + y
