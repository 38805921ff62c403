/**
 * A small flag parser: `--name value`, `--name=value`, boolean `--flag`, positionals.
 * Unknown flags are an error naming the flag and the command's help.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  [name: string]: 'string' | 'boolean';
}

export function parseArgs(
  argv: string[],
  spec: FlagSpec,
  command: string,
): { flags: Record<string, string | boolean>; positionals: string[] } {
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(arg)!;
    const name = m[1]!;
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!kind) throw new UsageError(`unknown option ${arg} for "${command}"; see tasklane ${command} --help`);
    if (kind === 'boolean') {
      if (m[2] !== undefined) throw new UsageError(`option --${name} takes no value`);
      flags[name] = true;
    } else {
      const value = m[2] ?? argv[++i];
      if (value === undefined || (m[2] === undefined && value.startsWith('--')))
        throw new UsageError(`option --${name} needs a value; see tasklane ${command} --help`);
      flags[name] = value;
    }
  }
  return { flags, positionals };
}
