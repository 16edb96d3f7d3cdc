#!/usr/bin/env node
// The programs the integration tests run besides Node, checked once at the start of `npm test`:
// redis-server >= 6.2 (Redis, fault and CLI tests), Debian's Python 3 with Kombu, Celery, redis-py
// and msgpack (interop tests run /usr/bin/python3; python3-kombu does not pull in redis-py),
// openssl (TLS test certificates) and Chromium (the benchmark report test).
//
// What is missing is installed with apt-get when this process may do so (root, or passwordless
// sudo, on Debian or Ubuntu); otherwise it stops with one message naming the command to run. A
// missing program is never a reason for a test to skip itself.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MIN_REDIS = [6, 2];
const PYTHON = '/usr/bin/python3';
const PYTHON_MODULES = { kombu: 'python3-kombu', celery: 'python3-celery', redis: 'python3-redis', msgpack: 'python3-msgpack' };
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/** One finding per apt package: `found` describes what is there, `problem` what is wrong with it. */
async function checkRedis() {
  try {
    const { stdout } = await run('redis-server', ['--version']);
    const version = /v=(\d+)\.(\d+)\.(\d+)/.exec(stdout);
    if (!version) return [{ apt: 'redis-server', problem: `redis-server printed no version: ${stdout.trim()}` }];
    const [major, minor] = [Number(version[1]), Number(version[2])];
    const recent = major > MIN_REDIS[0] || (major === MIN_REDIS[0] && minor >= MIN_REDIS[1]);
    const found = `redis-server ${version.slice(1).join('.')}`;
    return [recent ? { apt: 'redis-server', found } : { apt: 'redis-server', problem: `${found} is older than ${MIN_REDIS.join('.')}` }];
  } catch {
    return [{ apt: 'redis-server', problem: 'redis-server is not on PATH' }];
  }
}

async function checkPython() {
  const modules = Object.keys(PYTHON_MODULES);
  let missing = modules;
  if (existsSync(PYTHON)) {
    // -I keeps the current directory and PYTHON* variables out of the module search.
    const script = 'import importlib.util, sys; print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))';
    const { stdout } = await run(PYTHON, ['-I', '-c', script, ...modules]);
    missing = stdout.split(/\s+/).filter(Boolean);
  }
  return modules.map((module) =>
    missing.includes(module)
      ? { apt: PYTHON_MODULES[module], problem: `${PYTHON} cannot import ${module}` }
      : { apt: PYTHON_MODULES[module], found: `python3 ${module}` },
  );
}

async function checkOpenssl() {
  try {
    const { stdout } = await run('openssl', ['version']);
    return [{ apt: 'openssl', found: stdout.split(' ').slice(0, 2).join(' ') }];
  } catch {
    return [{ apt: 'openssl', problem: 'openssl is not on PATH' }];
  }
}

async function checkChromium(distribution) {
  // Ubuntu's Chromium is the chromium-browser package; Debian's is chromium.
  const apt = distribution === 'ubuntu' ? 'chromium-browser' : 'chromium';
  const path = CHROMIUM_PATHS.find((p) => existsSync(p));
  return [path ? { apt, found: path } : { apt, problem: `none of ${CHROMIUM_PATHS.join(', ')} exists` }];
}

async function check(distribution) {
  const groups = await Promise.all([checkRedis(), checkPython(), checkOpenssl(), checkChromium(distribution)]);
  return groups.flat();
}

/** `debian` or `ubuntu` when apt-get can install the packages here, else undefined. */
function aptDistribution() {
  if (process.platform !== 'linux' || !existsSync('/etc/os-release')) return undefined;
  const release = readFileSync('/etc/os-release', 'utf8');
  const field = (name) => new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm').exec(release)?.[1] ?? '';
  const ids = [field('ID'), ...field('ID_LIKE').split(' ')];
  const distribution = ids.includes('ubuntu') ? 'ubuntu' : ids.includes('debian') ? 'debian' : undefined;
  return distribution && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0 ? distribution : undefined;
}

/** The command prefix that runs apt-get as root without asking for anything, or undefined. */
function rootPrefix() {
  if (process.getuid?.() === 0) return [];
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0 ? ['sudo', '-n'] : undefined;
}

function apt(prefix, args) {
  const command = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  process.stderr.write(`prerequisites: ${command.join(' ')}\n`);
  const result = spawnSync(command[0], command.slice(1), { stdio: ['ignore', 'inherit', 'inherit'] });
  return result.status === 0;
}

/** Stops `npm test` with one message: what is wrong, and the command that fixes it if there is one. */
function fail(problems, remedy) {
  process.stderr.write(`npm test cannot run here: ${problems.map((f) => f.problem).join('; ')}.\n${remedy}\n`);
  process.exit(1);
}

function installCommand(problems, distribution) {
  const packages = [...new Set(problems.map((f) => f.apt))];
  const command = `sudo apt-get update && sudo apt-get install -y ${packages.join(' ')}`;
  return distribution ? `Run this, then npm test again:\n  ${command}` : `On Debian or Ubuntu that is \`${command}\`; elsewhere install the equivalents.`;
}

const distribution = aptDistribution();
let findings = await check(distribution);
let problems = findings.filter((f) => f.problem);
if (problems.length > 0) {
  const prefix = distribution ? rootPrefix() : undefined;
  if (!prefix) fail(problems, installCommand(problems, distribution));
  const packages = [...new Set(problems.map((f) => f.apt))];
  if (!apt(prefix, ['update']) || !apt(prefix, ['install', '-y', ...packages])) fail(problems, `apt-get failed (output above).`);
  findings = await check(distribution);
  problems = findings.filter((f) => f.problem);
  // Still wrong after apt-get (a redis-server older than the distribution can offer) needs a person.
  if (problems.length > 0) fail(problems, `apt-get install ${packages.join(' ')} did not provide it; install it from another source.`);
}
process.stdout.write(`prerequisites: ${findings.map((f) => f.found).join(', ')}\n`);
