import type { WakeSettings } from '../commands/containers';

/**
 * Not a read model of the log: the host's configuration that deciders need, set once
 * the host knows its runtime. Unset in cores that run no agents (what-if's scratch, an
 * import, the CLI), where a routed message leaves its wake to the containers reactor.
 */
export class HostSettings {
  /** With it, a routed inbound message starts its session's agent in its own command. */
  wake: WakeSettings | undefined;
}
