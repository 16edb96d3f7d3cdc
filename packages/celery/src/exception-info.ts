/**
 * A JavaScript error as the exception dict Celery stores (`{"exc_type", "exc_message",
 * "exc_module"}`), chosen so that Python's `AsyncResult.get()` raises a sensible class:
 * - an error with an `excType` (and optionally `excModule`) property names the Python class itself,
 *   e.g. `Object.assign(new Error('bad'), { excType: 'ValueError' })`;
 * - `TypeError`, `RangeError`... that are also Python builtins keep their name in `builtins`;
 *   a plain `Error` becomes `builtins.Exception`;
 * - any other name is stored without a module, and Celery creates an exception class of that name.
 */
import type { ExceptionInfo } from './errors.js';

const PYTHON_BUILTINS = new Set([
  'Exception', 'ArithmeticError', 'AssertionError', 'AttributeError', 'EOFError', 'IndexError', 'KeyError', 'LookupError',
  'MemoryError', 'NameError', 'NotImplementedError', 'OSError', 'OverflowError', 'RecursionError', 'ReferenceError',
  'RuntimeError', 'SyntaxError', 'TimeoutError', 'TypeError', 'ValueError', 'ZeroDivisionError', 'PermissionError',
  'FileNotFoundError', 'ConnectionError', 'UnicodeError', 'UnicodeDecodeError', 'UnicodeEncodeError',
]);

/** Celery's own exceptions, which Python finds in `celery.exceptions`. */
const CELERY_EXCEPTIONS = new Set(['NotRegistered', 'TaskRevokedError', 'Retry', 'MaxRetriesExceededError', 'Reject', 'Ignore']);
/** billiard's (time limits), which Python finds in `billiard.exceptions`. */
const BILLIARD_EXCEPTIONS = new Set(['SoftTimeLimitExceeded', 'TimeLimitExceeded', 'WorkerLostError']);

export function exceptionInfo(error: unknown): ExceptionInfo {
  if (!(error instanceof Error)) return { exc_type: 'Exception', exc_message: [String(error)], exc_module: 'builtins' };
  const own = error as Error & { excType?: unknown; excModule?: unknown; excMessage?: unknown };
  const type = typeof own.excType === 'string' ? own.excType : error.name === 'Error' ? 'Exception' : error.name;
  const message = own.excMessage !== undefined ? own.excMessage : [error.message];
  return { exc_type: type, exc_message: message, exc_module: typeof own.excModule === 'string' ? own.excModule : moduleOf(type) };
}

function moduleOf(type: string): string | null {
  if (PYTHON_BUILTINS.has(type)) return 'builtins';
  if (CELERY_EXCEPTIONS.has(type)) return 'celery.exceptions';
  if (BILLIARD_EXCEPTIONS.has(type)) return 'billiard.exceptions';
  return null;
}

/** The traceback text stored with a failure: the JavaScript stack. */
export function tracebackOf(error: unknown): string | null {
  return error instanceof Error && typeof error.stack === 'string' ? `${error.stack}\n` : null;
}

/** An error that carries the Python exception type it stands for. */
export function pythonError(excType: string, message: string, excMessage?: unknown): Error {
  return Object.assign(new Error(message), { name: excType, excType, excMessage: excMessage ?? [message] });
}
