"""Drives Python Celery 5.2.6 for kelp's interop tests: one JSON command on argv, JSON on stdout.

  send  {"name", "args", "kwargs", "options"}            -> {"id"} (the task is only sent)
  call  {"name", "args", "kwargs", "options", "timeout"} -> {"ok": value} or {"error": {...}}
  get   {"id", "timeout"}                                -> {"ok": value} or {"error": {...}}
"""
import json
import sys

from celery_app import app


def outcome(result, timeout):
    try:
        return {'ok': result.get(timeout=timeout), 'state': result.state}
    except Exception as exc:  # the test compares what Celery raised
        return {'error': {'type': type(exc).__name__, 'module': type(exc).__module__, 'args': [str(a) for a in exc.args]},
                'state': result.state, 'traceback': result.traceback}


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
    else:
        raise SystemExit(f'unknown command {command}')


if __name__ == '__main__':
    main()
