// vitest's worker gives the runner 60 s to answer each progress message, and reads the answer only when
// the test yields to the event loop; on a loaded 2-core machine one long synchronous check can pass that
// ("Timeout calling onTaskUpdate" with every test green). Long checks await this between their parts.
export const yieldToRunner = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
