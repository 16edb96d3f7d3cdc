"""Drives Python Celery 5.2.6 for kelp's interop tests: one JSON command on argv, JSON on stdout.

  send  {"name", "args", "kwargs", "options"}            -> {"id"} (the task is only sent)
  call  {"name", "args", "kwargs", "options", "timeout"} -> {"ok": value} or {"error": {...}}
  get   {"id", "timeout"}                                -> {"ok": value} or {"error": {...}}
  ping  {"destination"}                                  -> app.control.ping's replies
  inspect {"destination", "method"}                      -> app.control.inspect().<method>()
  revoke {"id", "terminate"}                             -> {} (app.control.revoke)
  canvas {"kind": "chain"|"group"|"chord", "tasks": [sig], "body": sig, "timeout"} -> {"ok": value} or {"error": {...}}
         (sig: {"name", "args", "queue", "immutable"})
  events {"seconds"}                                     -> every event received meanwhile (celery events' Receiver)
"""
import json
import sys
import time

from celery import chain, chord, group, states
from redis.exceptions import ResponseError

from celery_app import app


def describe(exc):
    return {'type': type(exc).__name__, 'module': type(exc).__module__, 'args': [str(a) for a in exc.args]}


def outcome(result, timeout):
    try:
        return {'ok': result.get(timeout=timeout), 'state': getattr(result, 'state', None)}
    except ResponseError as exc:
        if 'NOSUB' not in str(exc):
            raise
        # Celery 5.2's result consumer sends UNSUBSCRIBE for channels it is not subscribed to;
        # Redis ignores that, Valkey 8 answers NOSUB. Read the stored result instead.
        return stored_outcome(result.id, timeout)
    except Exception as exc:  # the test compares what Celery raised
        return {'error': describe(exc), 'state': getattr(result, 'state', None), 'traceback': getattr(result, 'traceback', None)}


def stored_outcome(task_id, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        meta = app.backend.get_task_meta(task_id, cache=False)
        if meta['status'] in states.READY_STATES:
            if meta['status'] == states.SUCCESS:
                return {'ok': meta['result'], 'state': meta['status']}
            return {'error': describe(app.backend.exception_to_python(meta['result'])), 'state': meta['status'], 'traceback': meta.get('traceback')}
        time.sleep(0.1)
    return {'error': {'type': 'TimeoutError', 'module': 'builtins', 'args': []}, 'state': 'PENDING'}


def to_signature(sig):
    make = app.signature(sig['name'], args=tuple(sig.get('args', [])), immutable=sig.get('immutable', False))
    return make.set(queue=sig['queue']) if 'queue' in sig else make


def build_canvas(spec):
    tasks = [to_signature(sig) for sig in spec['tasks']]
    if spec['kind'] == 'chain':
        return chain(*tasks)
    if spec['kind'] == 'group':
        return group(tasks)
    return chord(tasks, to_signature(spec['body']))


def main():
    command, spec = sys.argv[1], json.loads(sys.argv[2])
    if command == 'send':
        result = app.send_task(spec['name'], args=tuple(spec.get('args', [])), kwargs=spec.get('kwargs', {}), **spec.get('options', {}))
        print(json.dumps({'id': result.id}))
    elif command == 'call':
        result = app.send_task(spec['name'], args=tuple(spec.get('args', [])), kwargs=spec.get('kwargs', {}), **spec.get('options', {}))
        print(json.dumps({'id': result.id, **outcome(result, spec.get('timeout', 30))}))
    elif command == 'get':
        print(json.dumps(outcome(app.AsyncResult(spec['id']), spec.get('timeout', 30))))
    elif command == 'canvas':
        result = build_canvas(spec).apply_async()
        print(json.dumps({'id': result.id, **outcome(result, spec.get('timeout', 30))}))
    elif command == 'ping':
        print(json.dumps(app.control.ping(destination=spec['destination'], timeout=spec.get('timeout', 3))))
    elif command == 'inspect':
        inspect = app.control.inspect(destination=spec['destination'], timeout=spec.get('timeout', 3))
        print(json.dumps(getattr(inspect, spec['method'])()))
    elif command == 'revoke':
        app.control.revoke(spec['id'], terminate=spec.get('terminate', False))
        print(json.dumps({}))
    elif command == 'events':
        events = []
        deadline = time.time() + spec['seconds']

        def on_event(event):
            events.append(event)
            if time.time() > deadline:
                receiver.should_stop = True

        with app.connection_for_read() as connection:
            receiver = app.events.Receiver(connection, handlers={'*': on_event})
            try:
                receiver.capture(limit=None, timeout=spec['seconds'], wakeup=False)
            except Exception:  # socket.timeout: no event for `seconds`
                pass
        print(json.dumps(events))
    else:
        raise SystemExit(f'unknown command {command}')


if __name__ == '__main__':
    main()
