/**
 * What rpm 4.18 writes into a package that could differ between two builds,
 * and the macros the rpm recipe defines so that it does not.  The command
 * lines (rpm.ts, rpm-spec.ts) and docs/RPM.md's table come from here.
 */
import { HOSTNAME } from '../engine/hostview.js';
import { shellQuote } from './shell.js';

/** Macros every rpmbuild of the recipe gets with --define. */
export const RPM_MACROS: ReadonlyArray<readonly [name: string, value: string]> = [
  // BUILDTIME (and the COOKIE made of host and time) from SOURCE_DATE_EPOCH, which the recipe exports
  ['use_source_date_epoch_as_buildtime', '1'],
  // file times in the payload clamped to SOURCE_DATE_EPOCH
  ['clamp_mtime_to_source_date_epoch', '1'],
  // SOURCE_DATE_EPOCH is the recipe's epoch (by default the newest %changelog date: the same value)
  ['source_date_epoch_from_changelog', '0'],
  // BUILDHOST: not the builder's name
  ['_buildhost', HOSTNAME],
  // %{_smp_mflags}, %{_smp_build_ncpus}: -j1, whatever the CPU count
  ['_smp_build_ncpus', '1'],
];

/**
 * sh: appends `--define` arguments for each macro to "$@", and for the payload
 * compressors, the builder's own setting with any thread count (`T`, `T0`,
 * `T8`) removed, so that compression is single-threaded everywhere.
 */
export function rpmDefinesScript(extra: ReadonlyArray<readonly [string, string]> = []): string {
  const lines = [...RPM_MACROS, ...extra].map(([n, v]) => `set -- "$@" --define ${shellQuote(`${n} ${v}`)}`);
  lines.push(
    'for m in _binary_payload _source_payload; do',
    '  v=$(rpm --eval "%{?$m}")',
    '  case "$v" in *T*) set -- "$@" --define "$m $(printf %s "$v" | sed \'s/T[0-9]*\\././\')";; esac',
    'done',
  );
  return lines.join('\n');
}
