/**
 * Resolves at the first SIGINT or SIGTERM, for commands that serve until they are stopped (`dan serve`,
 * `dan mock-llm`); the handlers are removed then, so a second signal gets Node's default.
 */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
