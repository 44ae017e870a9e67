/**
 * What one build of the corpus harness (bench/lib/corpus.mjs `buildOnce`, bench/lib/rpm-corpus.mjs
 * `rpmBuildOnce`: plain JavaScript shared with the corpus benchmark) returns, for the tests that
 * call it. Artifacts are listed as name -> sha256.
 */
interface CorpusRun {
  ok: boolean;
  message: string;
  /** the end of the build log, when the build failed */
  logTail?: string;
  others: Record<string, string>;
}

/** A Debian source package built once (`detbuild deb`). */
export interface DebRun extends CorpusRun {
  ms: number;
  outDir: string;
  debs: Record<string, string>;
}

/** A source RPM or a spec built once (`detbuild rpm`). */
export interface RpmRun extends CorpusRun {
  artifacts: string;
  rpms: Record<string, string>;
}
