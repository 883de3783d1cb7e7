import { Subject, takeUntil } from 'rxjs';
import type { Core } from '../core';
import type { RecordedEvent } from '../events/define';

/**
 * Hands each event after `after` to `onEvent` as it commits (the log's own subscription:
 * catch-up first, then new ones), until Ctrl-C, SIGTERM, or `onEvent` answers 'stop'.
 */
export function followLog(core: Core, after: number, onEvent: (event: RecordedEvent) => 'stop' | void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = new Subject<void>();
    const finish = () => {
      done.next();
      process.off('SIGINT', finish);
      process.off('SIGTERM', finish);
      resolve();
    };
    process.once('SIGINT', finish);
    process.once('SIGTERM', finish);
    // takeUntil, not unsubscribe(): a stop can come during the synchronous catch-up.
    core.store
      .subscribe({ after })
      .pipe(takeUntil(done))
      .subscribe({
        next: (event) => {
          if (onEvent(event) === 'stop') finish();
        },
        error: reject,
      });
  });
}
