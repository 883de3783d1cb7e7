/**
 * Runs actions one after another per key (a session's container actions, a group's image
 * builds) and any number of keys side by side. A failed action is reported and does not
 * stop the ones queued after it.
 */
export class SerialQueues {
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly onError: (error: unknown, key: string) => void) {}

  enqueue(key: string, action: () => Promise<void>): void {
    const next = (this.queues.get(key) ?? Promise.resolve())
      .then(action)
      .catch((error: unknown) => this.onError(error, key))
      .finally(() => {
        if (this.queues.get(key) === next) this.queues.delete(key);
      });
    this.queues.set(key, next);
  }

  /** Resolves once every action queued so far, and any they queued, has finished. */
  async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.all(this.queues.values());
  }
}
