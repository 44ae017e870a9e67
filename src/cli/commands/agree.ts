/**
 * `detbuild agree STATEMENT... --keys KEYRING --threshold M [--provenance PROVENANCE]`:
 * do at least M independent rebuilders attest the same artifacts?
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { agree, recipeKey, type Reference } from '../../attest/agree.js';
import { describeError } from '../../errors.js';
import { jsonText } from '../../record/files.js';
import { RebuildError } from '../../rebuild/errors.js';
import { loadPublished } from '../../rebuild/published.js';
import { EXIT, UsageError } from '../exit-codes.js';
import { HELP_OPTION, helpText, commandLine, required } from '../options.js';

export const AGREE_USAGE = 'usage: detbuild agree STATEMENT... --keys KEYRING --threshold M [--provenance PROVENANCE] [--json]';

const AGREE_OPTIONS = {
  keys: { type: 'string', short: 'k', arg: 'KEYRING', help: 'the OpenPGP keyring of the rebuilders you trust (binary or armored)' },
  threshold: { type: 'string', short: 'm', arg: 'M', help: 'how many distinct keys must attest the same artifacts' },
  provenance: { type: 'string', arg: 'PROVENANCE', help: "the published build the attestations must be about (default: the first statement's sources and recipe)" },
  json: { type: 'boolean', help: 'print the result as JSON on stdout' },
  ...HELP_OPTION,
} as const;

export const AGREE_HELP = helpText(
  AGREE_USAGE,
  `Checks signed rebuild attestations (DSSE envelopes from detbuild rebuild --sign) with gpgv against
KEYRING alone, and says whether at least M independent rebuilders (distinct keys) attest the same
artifacts for the same sources and recipe; rejected statements are one line each, dissent is listed.
exit status: 0 agreement, 17 no agreement, 2 usage, 3 unreadable keyring or provenance (docs/REBUILD.md)`,
  AGREE_OPTIONS,
);

export async function runAgreeCommand(argv: string[]): Promise<number> {
  const parsed = commandLine(argv, AGREE_OPTIONS, AGREE_HELP);
  if (!parsed) return EXIT.ok;
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError(`expected at least one STATEMENT\n${AGREE_USAGE}`);
  const keys = required(values.keys, '--keys KEYRING', AGREE_USAGE);
  if (!values.threshold || !/^[1-9][0-9]*$/.test(values.threshold)) throw new UsageError(`--threshold: expected a positive integer\n${AGREE_USAGE}`);
  const threshold = Number(values.threshold);
  const keyring = path.resolve(keys);
  if (!(await fs.stat(keyring).then((s) => s.isFile(), () => false))) {
    process.stderr.write(`detbuild agree: cannot read the keyring ${keyring}\n`);
    return EXIT.badInput;
  }
  let reference: Reference | null = null;
  if (values.provenance) {
    try {
      const p = await loadPublished(path.resolve(values.provenance));
      reference = { sourceHash: p.build.sourceHash, recipe: recipeKey(p.build), subjects: p.subjects, from: values.provenance };
    } catch (err) {
      process.stderr.write(`detbuild agree: ${err instanceof RebuildError ? err.message : describeError(err)}\n`);
      return EXIT.badInput;
    }
  }

  const r = await agree(positionals.map((f) => path.resolve(f)), keyring, threshold, reference);
  for (const x of r.rejected) process.stderr.write(`detbuild agree: rejected: ${x.reason}\n`);
  if (values.json) {
    process.stdout.write(jsonText(r));
  } else {
    process.stdout.write(`${r.message}\n`);
    for (const k of r.supporters) process.stdout.write(`  attested by ${k}\n`);
    for (const d of r.dissent) process.stdout.write(`dissent: ${d.keys.join(', ')} (${d.file}): ${d.differences.join('; ')}\n`);
  }
  return r.agreed ? EXIT.ok : EXIT.noAgreement;
}
