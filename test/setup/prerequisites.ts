/**
 * Tools the integration tests drive (Debian's Python Kombu, openssl). A missing one fails the
 * test that needs it with the command that installs it: no test skips part of itself.
 */
import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Debian packages of the Python modules the interop and fault tests import. */
const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  kombu: 'python3-kombu',
  redis: 'python3-redis',
  celery: 'python3-celery',
  msgpack: 'python3-msgpack',
};

export class MissingPrerequisiteError extends Error {
  override name = 'MissingPrerequisiteError';
}

const checked = new Map<string, string | undefined>();

/** Runs `file args` once per process; the error text when it fails, undefined when it works. */
function probe(file: string, args: readonly string[]): string | undefined {
  const key = [file, ...args].join(' ');
  if (!checked.has(key)) {
    try {
      execFileSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
      checked.set(key, undefined);
    } catch (error) {
      checked.set(key, error instanceof Error ? error.message : String(error));
    }
  }
  return checked.get(key);
}

/** Throws unless Debian's python3 imports every module; returns the interpreter's path. */
export function requirePython(modules: readonly string[]): string {
  const failure = probe(PYTHON, ['-c', `import ${modules.join(', ')}`]);
  if (failure !== undefined) {
    const packages = ['python3', ...modules.map((m) => DEBIAN_PACKAGES[m] ?? `python3-${m}`)];
    throw new MissingPrerequisiteError(
      `${PYTHON} cannot import ${modules.join(', ')}; install with: apt-get install -y ${packages.join(' ')}\n${failure}`,
    );
  }
  return PYTHON;
}

/** Throws unless `command versionArgs` runs; `debianPackage` names what to install. */
export function requireCommand(command: string, versionArgs: readonly string[], debianPackage: string): string {
  const failure = probe(command, versionArgs);
  if (failure !== undefined) {
    throw new MissingPrerequisiteError(`${command} is not available; install with: apt-get install -y ${debianPackage}\n${failure}`);
  }
  return command;
}
