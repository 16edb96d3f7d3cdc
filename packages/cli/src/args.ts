/**
 * Command-line parsing on node:util parseArgs, with one-line error messages that name the flag
 * and what it accepts, and help text generated from the same specs so the two never drift.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `N` for `--count N`. */
  value?: string;
  description: string;
}

export interface PositionalSpec {
  name: string;
  required: boolean;
  description: string;
}

export interface CommandSpec {
  name: string;
  /** One line for `kelp --help`. */
  brief: string;
  summary: string;
  usage: string;
  positionals: readonly PositionalSpec[];
  options: Readonly<Record<string, OptionSpec>>;
  examples?: readonly string[];
}

type ArgValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

/** Every command takes these. */
export const commonOptions: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', description: 'Print machine-readable JSON instead of text' },
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
};

/** Parsed flags with validating accessors; every failure is a {@link UsageError}. */
export class ParsedArgs {
  constructor(
    readonly command: string,
    private readonly values: ArgValues,
    readonly positionals: readonly string[],
  ) {}

  get json(): boolean {
    return this.flag('json');
  }

  get help(): boolean {
    return this.flag('help');
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    if (Array.isArray(value)) return value.length > 0 ? String(value[value.length - 1]) : undefined;
    return typeof value === 'string' ? value : undefined;
  }

  requireString(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`missing --${name} (see kelp ${this.command} --help)`);
    return value;
  }

  /** A non-empty value, for names that cannot be empty (queues). */
  requireName(name: string): string {
    const value = this.requireString(name);
    if (value.trim() === '') throw new UsageError(`--${name} must not be empty`);
    return value;
  }

  strings(name: string): string[] {
    const value = this.values[name];
    if (value === undefined) return [];
    return (Array.isArray(value) ? value : [value]).map(String);
  }

  /** An integer flag within [min, max], or `fallback` when absent. */
  int(name: string, range: { min: number; max?: number }, fallback: number): number;
  int(name: string, range: { min: number; max?: number }): number | undefined;
  int(name: string, range: { min: number; max?: number }, fallback?: number): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    return parseInteger(`--${name}`, raw, range);
  }

  /** A duration in seconds (fractions allowed), as everywhere in kelp's messaging API. */
  seconds(name: string): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(value) || value < 0) {
      throw new UsageError(`--${name} must be a number of seconds >= 0, got '${raw}'`);
    }
    return value;
  }

  /** One of a fixed set of words. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.string(name);
    if (raw === undefined) return fallback;
    if (!(choices as readonly string[]).includes(raw)) {
      throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${raw}'`);
    }
    return raw as T;
  }

  /** Flags that must not be combined. */
  exclusive(...names: string[]): void {
    const given = names.filter((name) => this.has(name) && this.values[name] !== false);
    if (given.length > 1) {
      throw new UsageError(`${given.map((n) => `--${n}`).join(' and ')} cannot be used together`);
    }
  }
}

export function parseInteger(label: string, raw: string, range: { min: number; max?: number }): number {
  const bounds = range.max === undefined ? `>= ${range.min}` : `from ${range.min} to ${range.max}`;
  if (!/^[+-]?\d+$/.test(raw.trim())) throw new UsageError(`${label} must be an integer ${bounds}, got '${raw}'`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < range.min || (range.max !== undefined && value > range.max)) {
    throw new UsageError(`${label} must be an integer ${bounds}, got ${raw}`);
  }
  return value;
}

/** Parses `argv` (the words after the command name) against `spec`. */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options = { ...spec.options, ...commonOptions };
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, option] of Object.entries(options)) {
    config[name] = {
      type: option.type,
      ...(option.short ? { short: option.short } : {}),
      ...(option.multiple ? { multiple: true } : {}),
    };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(`${describeParseError(error, spec.name)} (see kelp ${spec.name} --help)`);
  }
  const args = new ParsedArgs(spec.name, parsed.values as ArgValues, parsed.positionals);
  if (args.help) return args;
  const max = spec.positionals.length;
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals[max] ?? '';
    throw new UsageError(
      `unexpected argument '${extra}' for kelp ${spec.name} (quote a BODY with spaces; see kelp ${spec.name} --help)`,
    );
  }
  spec.positionals.forEach((positional, i) => {
    if (positional.required && parsed.positionals[i] === undefined) {
      throw new UsageError(`missing ${positional.name} (usage: ${spec.usage})`);
    }
  });
  return args;
}

/** parseArgs' messages are long and multi-line; say the same in a few words. */
function describeParseError(error: unknown, command: string): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const flag = /'(-[^' ]*)/.exec(message)?.[1] ?? '';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${flag} for kelp ${command}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('ambiguous')) return `option ${flag} needs a value (write ${flag}=-VALUE for one starting with -)`;
      if (message.includes('does not take')) return `option ${flag} does not take a value`;
      return `option ${flag} needs a value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument for kelp ${command}`;
    default:
      return message.split('\n', 1)[0] ?? message;
  }
}

/** `kelp <command> --help`. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage}`, '', spec.summary, ''];
  if (spec.positionals.length > 0) {
    lines.push('Arguments:');
    for (const p of spec.positionals) lines.push(`  ${p.name.padEnd(24)}${p.description}`);
    lines.push('');
  }
  lines.push('Options:');
  for (const [name, option] of Object.entries({ ...spec.options, ...commonOptions })) {
    const short = option.short ? `-${option.short}, ` : '';
    const value = option.type === 'string' ? ` ${option.value ?? 'VALUE'}` : '';
    lines.push(`  ${`${short}--${name}${value}`.padEnd(24)}${option.description}${option.multiple ? ' (repeatable)' : ''}`);
  }
  if (spec.examples && spec.examples.length > 0) {
    lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  }
  return `${lines.join('\n')}\n`;
}
