import type { ZodType, ZodTypeDef } from 'zod';
import { ValidationError } from '../errors.js';

/** Parses with a schema; a mismatch is a 400 whose message names each field and what is wrong. */
export function parseWith<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown, where: string): T {
  const res = schema.safeParse(value ?? {});
  if (res.success) return res.data;
  const problems = res.error.issues.map((i) => {
    const path = i.path.length ? i.path.join('.') : where;
    if (i.code === 'unrecognized_keys')
      return `${where}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${path}: ${i.message}`;
  });
  throw new ValidationError(`invalid ${where}: ${problems.join('; ')}`, {
    details: { issues: res.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  });
}
