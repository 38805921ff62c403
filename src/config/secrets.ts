import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/**
 * Resolves `env:NAME` and `file:/path` references. A missing secret fails at start with the
 * setting's name and the fix; the value itself never appears in a message.
 */
export function resolveSecret(value: string, setting: string, env: NodeJS.ProcessEnv, baseDir: string): string {
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    const resolved = Object.hasOwn(env, name) ? env[name] : undefined;
    if (resolved === undefined || resolved.trim() === '') {
      throw new ConfigError(
        `${setting}: environment variable ${name} is not set; set ${name} (in the environment or .env) or change ${setting}`,
        {
          code: 'TL_ERR_CONFIG_SECRET_MISSING',
          details: { setting, variable: name },
        },
      );
    }
    return resolved.trim();
  }
  if (value.startsWith('file:')) {
    const raw = value.slice(5);
    const path = raw.startsWith('/') ? raw : `${baseDir}/${raw}`;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `${setting}: cannot read secret file ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'}); create it or change ${setting}`,
        {
          code: 'TL_ERR_CONFIG_SECRET_MISSING',
          details: { setting, file: path },
        },
      );
    }
    const secret = text.trim();
    if (secret === '') {
      throw new ConfigError(`${setting}: secret file ${path} is empty; write the key into it or change ${setting}`, {
        code: 'TL_ERR_CONFIG_SECRET_MISSING',
        details: { setting, file: path },
      });
    }
    return secret;
  }
  return value;
}

/** Replaces every known secret in a text with `[redacted]`. Secrets shorter than 4 chars are ignored. */
export function makeScrubber(secrets: Iterable<string>): (text: string) => string {
  const list = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const secret of list) if (out.includes(secret)) out = out.split(secret).join('[redacted]');
    return out;
  };
}
