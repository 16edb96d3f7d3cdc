"""The Python Celery 5.2 worker of `npm run bench:celery`: tasks.add on the queue it is given."""
import os

from celery import Celery

app = Celery('celery_bench', broker=os.environ['KELP_BROKER'], backend=os.environ['KELP_BACKEND'])
app.conf.worker_hijack_root_logger = False


@app.task(name='tasks.add')
def add(x, y):
    return x + y
