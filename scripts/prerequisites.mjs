#!/usr/bin/env node
// The programs the integration tests run besides Node, checked once at the start of `npm test`:
// redis-server >= 6.2 (Redis, fault and CLI tests), valkey-server >= 8 (the same suites run again
// on Valkey; on Debian 12 it comes from bookworm-backports), Debian's Python 3 with Kombu, Celery,
// redis-py and msgpack (interop tests run /usr/bin/python3; python3-kombu does not pull in
// redis-py), openssl (TLS test certificates) and Chromium (the benchmark report test).
//
// What is missing is installed with apt-get when this process may do so (root, or passwordless
// sudo, on Debian or Ubuntu); otherwise it stops with one message naming the command to run. A
// missing program is never a reason for a test to skip itself.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MIN_REDIS = [6, 2];
const MIN_VALKEY = 8;
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

/**
 * On Debian 12 (bookworm) Valkey is only in bookworm-backports, which is installed from with
 * `-t`; later Debian releases and Ubuntu carry it in their main archive, if at all.
 */
function valkeyRelease(os) {
  return os.distribution === 'debian' && os.codename === 'bookworm' ? 'bookworm-backports' : undefined;
}

async function checkValkey(os) {
  const apt = 'valkey-server';
  const release = valkeyRelease(os);
  try {
    const { stdout } = await run('valkey-server', ['--version']);
    const version = /v=(\d+)\.(\d+)\.(\d+)/.exec(stdout);
    if (!version) return [{ apt, release, problem: `valkey-server printed no version: ${stdout.trim()}` }];
    const found = `valkey-server ${version.slice(1).join('.')}`;
    return [Number(version[1]) >= MIN_VALKEY ? { apt, found } : { apt, release, problem: `${found} is older than ${MIN_VALKEY}` }];
  } catch {
    return [{ apt, release, problem: 'valkey-server is not on PATH' }];
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

async function check(os) {
  const groups = await Promise.all([checkRedis(), checkValkey(os), checkPython(), checkOpenssl(), checkChromium(os.distribution)]);
  return groups.flat();
}

/**
 * `distribution` is `debian` or `ubuntu` when apt-get can install the packages here, else
 * undefined; `codename` is the release's (`bookworm`).
 */
function operatingSystem() {
  if (process.platform !== 'linux' || !existsSync('/etc/os-release')) return { distribution: undefined, codename: '' };
  const release = readFileSync('/etc/os-release', 'utf8');
  const field = (name) => new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm').exec(release)?.[1] ?? '';
  const ids = [field('ID'), ...field('ID_LIKE').split(' ')];
  const distribution = ids.includes('ubuntu') ? 'ubuntu' : ids.includes('debian') ? 'debian' : undefined;
  const usable = distribution && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  return { distribution: usable ? distribution : undefined, codename: field('VERSION_CODENAME') };
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

const SOURCES_DIR = '/etc/apt/sources.list.d';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';

/** The apt source files: the classic one-line list and the deb822 files next to it. */
function aptSourceTexts() {
  const files = ['/etc/apt/sources.list', ...(existsSync(SOURCES_DIR) ? readdirSync(SOURCES_DIR).map((f) => `${SOURCES_DIR}/${f}`) : [])];
  return files.filter((f) => /\.(list|sources)$/.test(f) && existsSync(f)).map((f) => readFileSync(f, 'utf8'));
}

/** A deb822 stanza for `suite` from the Debian mirror the machine already uses. */
function suiteSource(suite) {
  const texts = aptSourceTexts();
  if (texts.some((text) => new RegExp(`^(Suites:.*\\s|deb\\s.*\\s)${suite}(\\s|$)`, 'm').test(text))) return undefined;
  const mirror = texts.map((text) => /^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+\/debian)\/?(?:\s|$)/m.exec(text)?.[1]).find(Boolean) ?? DEBIAN_MIRROR;
  return `Types: deb\nURIs: ${mirror}\nSuites: ${suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
}

/** Adds `suite` (e.g. bookworm-backports) to the apt sources unless it is there; false on failure. */
function addAptSuite(prefix, suite) {
  const source = suiteSource(suite);
  if (source === undefined) return true;
  const file = `${SOURCES_DIR}/${suite}.sources`;
  process.stderr.write(`prerequisites: adding ${suite} to the apt sources (${file})\n`);
  if (prefix.length === 0) {
    writeFileSync(file, source);
    return true;
  }
  return spawnSync(prefix[0], [...prefix.slice(1), 'tee', file], { input: source, stdio: ['pipe', 'ignore', 'inherit'] }).status === 0;
}

/** Stops `npm test` with one message: what is wrong, and the command that fixes it if there is one. */
function fail(problems, remedy) {
  process.stderr.write(`npm test cannot run here: ${problems.map((f) => f.problem).join('; ')}.\n${remedy}\n`);
  process.exit(1);
}

/** The apt-get install arguments: plain packages first, then one `-t <release>` run per release. */
function installRuns(problems) {
  const runs = new Map();
  for (const { apt, release = '' } of problems) runs.set(release, new Set([...(runs.get(release) ?? []), apt]));
  return [...runs].sort(([a], [b]) => a.localeCompare(b)).map(([release, packages]) => [...(release ? ['-t', release] : []), ...packages]);
}

function installCommand(problems, distribution) {
  const releases = [...new Set(problems.map((f) => f.release).filter(Boolean))];
  const sources = releases.map((r) => `First add ${r} to the apt sources (${SOURCES_DIR}/${r}.sources, see https://backports.debian.org/Instructions/). `).join('');
  const command = ['sudo apt-get update', ...installRuns(problems).map((args) => `sudo apt-get install -y ${args.join(' ')}`)].join(' && ');
  return distribution ? `${sources}Run this, then npm test again:\n  ${command}` : `On Debian or Ubuntu that is \`${command}\`; elsewhere install the equivalents.`;
}

const os = operatingSystem();
const { distribution } = os;
let findings = await check(os);
let problems = findings.filter((f) => f.problem);
if (problems.length > 0) {
  const prefix = distribution ? rootPrefix() : undefined;
  if (!prefix) fail(problems, installCommand(problems, distribution));
  const packages = [...new Set(problems.map((f) => f.apt))];
  const releases = [...new Set(problems.map((f) => f.release).filter(Boolean))];
  if (!releases.every((release) => addAptSuite(prefix, release))) fail(problems, `could not add ${releases.join(', ')} to the apt sources.`);
  if (!apt(prefix, ['update']) || !installRuns(problems).every((args) => apt(prefix, ['install', '-y', ...args]))) {
    fail(problems, `apt-get failed (output above).`);
  }
  findings = await check(os);
  problems = findings.filter((f) => f.problem);
  // Still wrong after apt-get (a redis-server older than the distribution can offer) needs a person.
  if (problems.length > 0) fail(problems, `apt-get install ${packages.join(' ')} did not provide it; install it from another source.`);
}
process.stdout.write(`prerequisites: ${findings.map((f) => f.found).join(', ')}\n`);
