/**
 * diffoscope on two builds' artifact trees: what the daemon's verify mode sends back
 * and what `detbuild verify` shows when two builds differ.
 */
import { execa } from 'execa';

export interface DiffoscopeOptions {
  command: string;
  timeoutMs: number;
  maxReportBytes: number;
}

export const DIFFOSCOPE_DEFAULTS: DiffoscopeOptions = {
  command: 'diffoscope',
  timeoutMs: 10 * 60_000,
  maxReportBytes: 1024 * 1024,
};

/**
 * diffoscope's text report on two artifact trees, truncated to maxReportBytes; null when
 * diffoscope is not installed (the verify report still lists which artifacts differ).
 */
export async function diffoscopeReport(a: string, b: string, opts: DiffoscopeOptions): Promise<string | null> {
  const r = await execa(opts.command, ['--text', '-', '--no-progress', '--exclude-directory-metadata=yes', '--max-report-size', String(opts.maxReportBytes), a, b], {
    reject: false,
    timeout: opts.timeoutMs,
    stdin: 'ignore',
    maxBuffer: opts.maxReportBytes * 4,
    env: { LC_ALL: 'C.UTF-8' },
  });
  if ((r as { code?: string }).code === 'ENOENT' || (r.failed && r.exitCode === undefined && /ENOENT/.test(String(r.message)))) {
    return null;
  }
  let text = String(r.stdout ?? '');
  if (r.timedOut) text += `\n[diffoscope: stopped after ${opts.timeoutMs} ms]`;
  else if (r.exitCode !== 0 && r.exitCode !== 1) {
    // its last words (a traceback's exception), not its warnings
    const why = String(r.stderr ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^\d{4}-\d\d-\d\d [\d:]+ W: /.test(l)).pop() ?? '';
    text += `\n[diffoscope exited with status ${r.exitCode}${why ? `: ${why}` : ''}]`;
  }
  if (Buffer.byteLength(text) > opts.maxReportBytes) {
    text = `${Buffer.from(text).subarray(0, opts.maxReportBytes).toString('utf8')}\n[report truncated at ${opts.maxReportBytes} bytes]`;
  }
  return text;
}
