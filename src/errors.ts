/** Root of every typed error the project throws; each area derives its own class. */
export class DetbuildError extends Error {
  /** stable machine-readable code, e.g. 'ENGINE_NO_BWRAP' */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
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
