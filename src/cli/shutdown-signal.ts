/** A pending shutdown request of a foreground command. */
export interface ShutdownSignal {
  /** Resolves with the first SIGINT/SIGTERM. */
  readonly received: Promise<NodeJS.Signals>;
  /** Whether a signal has arrived. */
  readonly requested: () => boolean;
  /** Removes the handlers. */
  dispose(): void;
}

/**
 * Turns the first SIGINT/SIGTERM into a graceful shutdown request (the caller closes what it runs);
 * a second one exits at once with code 130, for a close that hangs.
 */
export function onShutdownSignal(onForce: (signal: NodeJS.Signals) => void = () => undefined): ShutdownSignal {
  let count = 0;
  let resolveReceived: (signal: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => (resolveReceived = resolve));
  const handler = (signal: NodeJS.Signals): void => {
    count += 1;
    if (count > 1) {
      onForce(signal);
      process.exit(130);
    }
    resolveReceived(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    received,
    requested: () => count > 0,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
