import type { Logger } from '../logger';
import type { ContainerLifecycle } from './containers/lifecycle';
import type { DeliveryService } from './delivery';
import type { DestinationsFileReactor } from './destinations-file';
import type { SessionFolderReactor } from './session-folder';

export interface SessionTakeoverParts {
  folders: SessionFolderReactor;
  destinations: DestinationsFileReactor;
  containers: ContainerLifecycle;
  delivery: DeliveryService;
  logger?: Logger;
}

/**
 * What a host does once it holds a session's lease (a new session, or one whose host died):
 * its folder is written from the log into this host's data directory (folders are never
 * shared; the log is), its agent started here, and its unsettled deliveries resumed.
 */
export async function takeOverSession(parts: SessionTakeoverParts, sessionId: string): Promise<void> {
  try {
    // The folder is written before the agent starts: it must find its messages there.
    await parts.folders.rematerialize(sessionId);
    parts.destinations.writeFor(sessionId);
    parts.containers.takeOver(sessionId);
    parts.delivery.resume(sessionId);
    parts.logger?.info({ event: 'SessionTakenOver', sessionId }, 'session runs on this host now');
  } catch (error) {
    parts.logger?.error({ err: error, event: 'SessionTakeoverFailed', sessionId }, 'taking the session over failed');
  }
}
