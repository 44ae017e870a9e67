/**
 * Who is at fault, as an error declares it; src/outcome.ts turns a kind into a status
 * and an exit code, the same for the CLI, the service, the daemon and the client.
 * - bad-input: the request or the caller's input is wrong (status 'rejected')
 * - failure: the builder or the machinery failed, or lacks something (status 'error')
 * - integrity: what arrived does not match its manifest (status 'integrity-error')
 */
export type ErrorKind = 'bad-input' | 'failure' | 'integrity';

export interface DetbuildErrorOptions {
  cause?: unknown;
  /** the thrower's verdict when it differs from its class's (kindOfClass) */
  kind?: ErrorKind;
}

/** Root of every typed error the project throws; each area derives its own class. */
export class DetbuildError extends Error {
  /** what an error of this class is unless its thrower says otherwise */
  static readonly kindOfClass: ErrorKind = 'failure';
  /** stable machine-readable code, e.g. 'ENGINE_NO_BWRAP' */
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(code: string, message: string, options?: DetbuildErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.kind = options?.kind ?? (new.target as typeof DetbuildError).kindOfClass;
  }
}

/** The kind of anything thrown: a typed error's own, 'failure' for the rest (a bug, a system error). */
export function errorKind(err: unknown): ErrorKind {
  return err instanceof DetbuildError ? err.kind : 'failure';
}

/** Returns the message of an error and of its causes, joined: for one-line reports. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) {
      parts.push(cur.message);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.filter((p, i) => i === 0 || !parts[0]!.includes(p)).join(': ');
}
