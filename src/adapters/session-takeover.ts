import type { Logger } from '../logger';
import type { ContainerLifecycle } from './containers/lifecycle';
import type { DeliveryService } from './delivery';
import type { DestinationsFileReactor } from './destinations-file';
import type { SessionFolderReactor } from './session-folder';
import type { SessionOwnership } from './session-ownership';

export interface SessionTakeoverParts {
  folders: SessionFolderReactor;
  destinations: DestinationsFileReactor;
  containers: ContainerLifecycle;
  delivery: DeliveryService;
  ownership: SessionOwnership;
  logger?: Logger;
}

/**
 * What a host does once it holds a session's lease (a new session, or one whose host died):
 * its folder is written from the log into this host's data directory (folders are never
 * shared; the log is), its agent started here, and its unsettled deliveries resumed.
 */
export async function takeOverSession(parts: SessionTakeoverParts, sessionId: string): Promise<void> {
  try {
    // The folder is written before anything else touches it: the agent must find its messages there.
    try {
      await parts.folders.rematerialize(sessionId);
      parts.destinations.writeFor(sessionId);
    } finally {
      // Even when writing it failed: the components judge the folder as they find it, as in any session.
      parts.ownership.materializedHere(sessionId);
    }
    parts.containers.takeOver(sessionId);
    parts.delivery.resume(sessionId);
    parts.logger?.info({ event: 'SessionTakenOver', sessionId }, 'session runs on this host now');
  } catch (error) {
    parts.logger?.error({ err: error, event: 'SessionTakeoverFailed', sessionId }, 'taking the session over failed');
  }
}
