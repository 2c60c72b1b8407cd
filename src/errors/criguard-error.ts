import { isErrorCode, type ErrorCode } from './catalog.js';

/**
 * The base of every error criguard raises on purpose: a stable `code` from the catalog (typed by each
 * module's own union, e.g. `CriguardError<RegistryErrorCode>`) and a message for humans. Callers decide on
 * the code, never on the message; messages never carry secrets.
 */
export class CriguardError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CriguardError';
    this.code = code;
  }
}

/**
 * The stable code of `err`, or `CG_ERR_INTERNAL` for anything that carries no catalogued code. Duck-typed
 * (a `code` property), so it also reads errors from another copy of a module.
 */
export function errorCodeOf(err: unknown): ErrorCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isErrorCode(code) ? code : 'CG_ERR_INTERNAL';
}

/**
 * A union of codes checked against the catalog, for codes carried by something other than an error
 * (policy issues, breakglass problems): `type FooCode = Codes<'CG_ERR_FOO' | 'CG_ERR_BAR'>`.
 */
export type Codes<C extends ErrorCode> = C;
