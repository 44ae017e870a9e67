/**
 * The CLI's one signal handler: SIGINT and SIGTERM cancel what runs (through an
 * AbortSignal) until `release()`. Listeners stay for repeated signals (on, not once):
 * with no listener left, a second Ctrl-C while the build is being cancelled would end
 * the process at once, and execa re-raises a signal that has no other listener.
 */
export interface Interrupt {
  readonly signal: AbortSignal;
  release(): void;
}

export function onInterrupt(): Interrupt {
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Runs `work` with Ctrl-C (and SIGTERM) cancelling it through its signal. */
export async function cancellable<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const interrupt = onInterrupt();
  try {
    return await work(interrupt.signal);
  } finally {
    interrupt.release();
  }
}
