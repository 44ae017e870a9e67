/**
 * A parser and evaluator for Qubes' qrexec policy format version 5 (the files
 * of /etc/qubes/policy.d), written from the format's definition so that the
 * tests can check policy/30-detbuild.policy without Qubes' own code.
 *
 * Grammar, per non-empty line that is not a comment (first non-blank char '#'):
 *   SERVICE ARGUMENT SOURCE TARGET ACTION [PARAM=VALUE ...]   (whitespace-separated)
 *   !include PATH | !include-dir PATH | !include-service SERVICE ARGUMENT PATH | !compat-4.0
 * SERVICE is '*' or [A-Za-z0-9._-]+; ARGUMENT is '*' or '+' followed by
 * [A-Za-z0-9+._-]* ('+' alone = no argument); '*' service needs '*' argument.
 * There are no inline comments: a '#' after a rule is a (bad) field.
 * Which @tokens each column accepts, and which parameters each action takes,
 * are in the tables below. Evaluation: the first rule matching
 * (service, argument, source, target) decides; no match means deny.
 */

export class PolicySyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'PolicySyntaxError';
  }
}

export type Action = 'allow' | 'deny' | 'ask';

export interface Rule {
  file: string;
  line: number;
  /** null for '*' */
  service: string | null;
  /** null for '*'; otherwise starts with '+' */
  argument: string | null;
  source: string;
  target: string;
  action: Action;
  params: Record<string, string>;
}

export interface Directive {
  file: string;
  line: number;
  name: '!include' | '!include-dir' | '!include-service' | '!compat-4.0';
  args: string[];
}

export interface ParsedPolicy {
  rules: Rule[];
  directives: Directive[];
}

const SERVICE_RE = /^[A-Za-z0-9._-]+$/;
const ARGUMENT_RE = /^\+[A-Za-z0-9+._-]*$/;
/** Qubes qube names (qubes.vm.validate_name): a letter, then letters, digits, _.- ; at most 31. */
const QUBE_NAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,30}$/;
const UUID_RE = /^uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Column = 'source' | 'target' | 'redirect';

/** Exact keywords and the columns that accept them. */
const EXACT_TOKENS: Record<string, Column[]> = {
  '*': ['source', 'target'],
  '@anyvm': ['source', 'target'],
  '@adminvm': ['source', 'target', 'redirect'],
  '@default': ['target'],
  '@dispvm': ['target', 'redirect'],
};

/** Prefixed keywords (value must be non-empty and not start with '@'), longest first. */
const PREFIX_TOKENS: Array<[string, Column[]]> = [
  ['@dispvm:@tag:', ['source', 'target']],
  ['@dispvm:', ['source', 'target', 'redirect']],
  ['@tag:', ['source', 'target']],
  ['@type:', ['source', 'target']],
];

/** Parameters each action accepts; booleans take yes|no. */
const ACTION_PARAMS: Record<Action, string[]> = {
  allow: ['target', 'user', 'notify', 'autostart'],
  deny: ['notify'],
  ask: ['target', 'default_target', 'user', 'notify', 'autostart'],
};
const BOOLEAN_PARAMS = new Set(['notify', 'autostart']);

function checkToken(token: string, column: Column, file: string, line: number): void {
  const fail = (why: string): never => {
    throw new PolicySyntaxError(file, line, `invalid ${column} token ${JSON.stringify(token)}: ${why}`);
  };
  if (token in EXACT_TOKENS) {
    if (!EXACT_TOKENS[token]!.includes(column)) fail(`not allowed as ${column}`);
    return;
  }
  for (const [prefix, columns] of PREFIX_TOKENS) {
    if (!token.startsWith(prefix)) continue;
    const value = token.slice(prefix.length);
    if (value.startsWith('@')) continue; // a longer prefix, or nothing
    if (value === '') fail(`empty ${prefix} value`);
    if (!columns.includes(column)) fail(`${prefix} not allowed as ${column}`);
    return;
  }
  if (token.startsWith('@')) fail('unknown keyword');
  if (!QUBE_NAME_RE.test(token) && !UUID_RE.test(token)) fail('not a qube name');
}

export function parsePolicy(text: string, file = '<string>'): ParsedPolicy {
  const rules: Rule[] = [];
  const directives: Directive[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, index) => {
    const line = index + 1;
    const stripped = raw.trim();
    if (stripped === '' || stripped.startsWith('#')) return;
    const fields = stripped.split(/\s+/);
    if (stripped.startsWith('!')) {
      const [name, ...args] = fields as [string, ...string[]];
      const arity: Record<string, number> = {
        '!include': 1,
        '!include-dir': 1,
        '!include-service': 3,
        '!compat-4.0': 0,
      };
      if (!(name in arity)) throw new PolicySyntaxError(file, line, `invalid directive ${name}`);
      if (args.length !== arity[name]) throw new PolicySyntaxError(file, line, 'invalid number of params');
      directives.push({ file, line, name: name as Directive['name'], args });
      return;
    }
    if (fields.length < 5) throw new PolicySyntaxError(file, line, 'wrong number of fields');
    const [service, argument, source, target, action, ...params] = fields as [
      string, string, string, string, string, ...string[],
    ];
    if (service !== '*' && !SERVICE_RE.test(service)) {
      throw new PolicySyntaxError(file, line, `service ${JSON.stringify(service)} contains invalid characters`);
    }
    if (argument !== '*') {
      if (!argument.startsWith('+')) {
        throw new PolicySyntaxError(file, line, `argument ${JSON.stringify(argument)} does not start with +`);
      }
      if (!ARGUMENT_RE.test(argument)) {
        throw new PolicySyntaxError(file, line, `argument ${JSON.stringify(argument)} contains invalid characters`);
      }
      if (service === '*') throw new PolicySyntaxError(file, line, 'only * argument allowed for * service');
    }
    checkToken(source, 'source', file, line);
    checkToken(target, 'target', file, line);
    if (action !== 'allow' && action !== 'deny' && action !== 'ask') {
      throw new PolicySyntaxError(file, line, `invalid action: ${action}`);
    }
    const parsedParams: Record<string, string> = {};
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq <= 0) throw new PolicySyntaxError(file, line, `invalid action parameter syntax: ${JSON.stringify(param)}`);
      const key = param.slice(0, eq);
      const value = param.slice(eq + 1);
      if (key in parsedParams) throw new PolicySyntaxError(file, line, `parameter given twice: ${key}`);
      if (!ACTION_PARAMS[action].includes(key)) {
        throw new PolicySyntaxError(file, line, `invalid parameter ${key} for action ${action}`);
      }
      if (BOOLEAN_PARAMS.has(key) && value !== 'yes' && value !== 'no') {
        throw new PolicySyntaxError(file, line, `${key} is ${JSON.stringify(value)}, but can be only 'yes' or 'no'`);
      }
      if (key === 'target' || key === 'default_target') checkToken(value, 'redirect', file, line);
      parsedParams[key] = value;
    }
    if (target === '@default' && action === 'allow' && !('target' in parsedParams)) {
      throw new PolicySyntaxError(file, line, 'allow action for @default rule must specify target= option');
    }
    rules.push({
      file,
      line,
      service: service === '*' ? null : service,
      argument: argument === '*' ? null : argument,
      source,
      target,
      action,
      params: parsedParams,
    });
  });
  return { rules, directives };
}

/* ------------------------------------------------------------------ evaluation */

export interface Qube {
  type: 'AdminVM' | 'AppVM' | 'TemplateVM' | 'StandaloneVM' | 'DispVM';
  tags: string[];
  templateForDispvms?: boolean;
  /** the qube's default_dispvm property (null: none) */
  defaultDispvm?: string | null;
}

export type System = Record<string, Qube>;

export interface Request {
  service: string;
  /** '+' when the call has no argument */
  argument: string;
  source: string;
  /** as the caller asked: a name, '@default', '@dispvm', '@dispvm:NAME', '@adminvm', 'dom0' */
  target: string;
}

export interface Decision {
  action: Action;
  /** the rule that decided, or null (no rule matched, or the request itself was refused) */
  rule: Rule | null;
  /** for allow: where the call goes */
  target?: string;
  reason?: string;
}

const isDom0 = (name: string): boolean => name === 'dom0' || name === '@adminvm';

/** The target after qrexec's own checks (IntendedTarget.verify), or a refusal. */
function normalizeTarget(request: Request, system: System): string | { refused: string } {
  const t = request.target === '' ? '@default' : request.target;
  if (isDom0(t) || t === '@default' || t === '@dispvm') return t;
  if (t.startsWith('@dispvm:')) {
    const base = system[t.slice('@dispvm:'.length)];
    if (!base?.templateForDispvms) return { refused: `not a template for dispvm: ${t}` };
    return t;
  }
  if (t.startsWith('@') || t === '*') return { refused: `invalid target ${t}` };
  return t in system ? t : '@default';
}

/** @dispvm resolved through the caller's default_dispvm, as qrexec does. */
function dispvmOf(source: string, system: System): string | null {
  const dd = system[source]?.defaultDispvm;
  return dd ? `@dispvm:${dd}` : null;
}

function matchSource(token: string, source: string, system: System): boolean {
  const qube = system[source];
  if (token === '*') return true;
  if (token === '@adminvm') return isDom0(source);
  if (token === '@anyvm') return !isDom0(source);
  if (token.startsWith('@type:')) return qube?.type === token.slice(6);
  if (token.startsWith('@tag:')) return qube?.tags.includes(token.slice(5)) ?? false;
  // @dispvm:NAME and @dispvm:@tag:T never match a running caller's name.
  if (token.startsWith('@dispvm:')) return false;
  if (isDom0(token)) return isDom0(source);
  return token === source;
}

function matchTarget(token: string, target: string, source: string, system: System): boolean {
  const qube = system[target];
  if (token === '*') return true;
  if (token === '@adminvm') return isDom0(target);
  if (token === '@anyvm') return !isDom0(target);
  if (token === '@default') return target === '@default';
  if (token === '@dispvm') return target === '@dispvm';
  if (token.startsWith('@type:')) return qube?.type === token.slice(6);
  if (token.startsWith('@tag:')) return qube?.tags.includes(token.slice(5)) ?? false;
  const asDispvm = target === '@dispvm' ? dispvmOf(source, system) : target;
  if (token.startsWith('@dispvm:@tag:')) {
    if (!asDispvm?.startsWith('@dispvm:')) return false;
    const base = system[asDispvm.slice(8)];
    return Boolean(base?.templateForDispvms && base.tags.includes(token.slice(13)));
  }
  if (token.startsWith('@dispvm:')) return asDispvm === token;
  if (isDom0(token)) return isDom0(target);
  return token === target;
}

export function evaluate(rules: readonly Rule[], system: System, request: Request): Decision {
  const target = normalizeTarget(request, system);
  if (typeof target !== 'string') return { action: 'deny', rule: null, reason: target.refused };
  for (const rule of rules) {
    if (rule.service !== null && rule.service !== request.service) continue;
    if (rule.argument !== null && rule.argument !== request.argument) continue;
    if (!matchSource(rule.source, request.source, system)) continue;
    if (!matchTarget(rule.target, target, request.source, system)) continue;
    if (rule.action !== 'allow') return { action: rule.action, rule };
    let actual = rule.params['target'] ?? target;
    if (actual === '@default') return { action: 'deny', rule, reason: 'allow without a target' };
    if (actual === '@dispvm') {
      const resolved = dispvmOf(request.source, system);
      if (!resolved) return { action: 'deny', rule, reason: 'no default_dispvm' };
      actual = resolved;
    }
    if (actual === '@adminvm') actual = 'dom0';
    return { action: 'allow', rule, target: actual };
  }
  return { action: 'deny', rule: null, reason: 'no matching rule' };
}
