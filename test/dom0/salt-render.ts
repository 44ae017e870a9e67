/** Renders files of salt/ through test/dom0/render_salt.py (Debian's python3-jinja2 and -yaml). */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SALT_ROOT = fileURLToPath(new URL('../../salt', import.meta.url));
const RENDERER = fileURLToPath(new URL('./render_salt.py', import.meta.url));
/** Debian's interpreter, where python3-jinja2 and python3-yaml are installed (not a pyenv one). */
export const PYTHON = '/usr/bin/python3';

export interface Rendered {
  text: string;
  data: unknown;
}

export function render(
  file: string,
  opts: { pillar?: object; grains?: object; yaml?: boolean } = {},
): Rendered {
  const out = execFileSync(PYTHON, [RENDERER], {
    input: JSON.stringify({
      root: SALT_ROOT,
      file,
      pillar: opts.pillar ?? {},
      grains: opts.grains ?? {},
      yaml: opts.yaml ?? true,
    }),
    encoding: 'utf8',
  });
  return JSON.parse(out) as Rendered;
}

/** A state as Salt's high data has it: `id: {module.function: [ {arg: value}, ... ]}`. */
export interface State {
  id: string;
  fn: string;
  args: Array<[string, unknown]>;
}

export function states(data: unknown): State[] {
  if (data === null) return [];
  const result: State[] = [];
  for (const [id, body] of Object.entries(data as Record<string, unknown>)) {
    const entries = Object.entries(body as Record<string, unknown>);
    if (entries.length !== 1) throw new Error(`state ${id}: expected one function, got ${entries.length}`);
    const [fn, list] = entries[0]!;
    if (!Array.isArray(list)) throw new Error(`state ${id}: arguments are not a list`);
    const args = list.map((item): [string, unknown] => {
      const kv = Object.entries(item as Record<string, unknown>);
      if (kv.length !== 1) throw new Error(`state ${id}: argument ${JSON.stringify(item)} is not one key`);
      return kv[0]!;
    });
    result.push({ id, fn, args });
  }
  return result;
}

export function arg(state: State, name: string): unknown {
  return state.args.find(([k]) => k === name)?.[1];
}

/** `[{a: 1}, {b: 2}]` (an argument list inside qvm.vm) as an object. */
export function listToObject(list: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const item of list as Array<Record<string, unknown>>) Object.assign(result, item);
  return result;
}
