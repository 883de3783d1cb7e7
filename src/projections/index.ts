import type Database from 'better-sqlite3';
import { agentGroupsProjection, AgentGroupsView } from './agent-groups';
import { agentMessagesProjection, AgentMessagesView } from './agent-messages';
import { approvalsProjection, ApprovalsView } from './approvals';
import { auditProjection, AuditView } from './audit';
import { imagesProjection, ImagesView } from './images';
import { containersProjection, ContainersView } from './containers';
import { destinationsProjection, DestinationsView } from './destinations';
import { messagingGroupsProjection, MessagingGroupsView } from './messaging-groups';
import { retriesProjection, RetriesView } from './retries';
import { routingDecisionsProjection, RoutingDecisionsView } from './routing-decisions';
import { questionsProjection, QuestionsView } from './questions';
import type { Projection } from './runner';
import { sessionsProjection, SessionsView } from './sessions';
import { tasksProjection, TasksView } from './tasks';
import { wiringsProjection, WiringsView } from './wirings';
import { HostSettings } from './host-settings';

/** Every inline projection, in the order they are applied. */
export const projections: readonly Projection[] = [
  agentGroupsProjection,
  messagingGroupsProjection,
  wiringsProjection,
  destinationsProjection,
  sessionsProjection,
  auditProjection,
  agentMessagesProjection,
  containersProjection,
  approvalsProjection,
  tasksProjection,
  retriesProjection,
  questionsProjection,
  imagesProjection,
  routingDecisionsProjection,
];

/**
 * The read-only views deciders decide against; with `asOf`, the ACL is answered as it
 * stood at that position (the other read models are today's).
 */
export function createViews(db: Database.Database, options: { asOf?: number } = {}) {
  return {
    agentGroups: new AgentGroupsView(db),
    messagingGroups: new MessagingGroupsView(db),
    wirings: new WiringsView(db),
    destinations: new DestinationsView(db, options.asOf),
    sessions: new SessionsView(db),
    audit: new AuditView(db),
    agentMessages: new AgentMessagesView(db),
    containers: new ContainersView(db),
    approvals: new ApprovalsView(db),
    tasks: new TasksView(db),
    retries: new RetriesView(db),
    questions: new QuestionsView(db),
    images: new ImagesView(db),
    routingDecisions: new RoutingDecisionsView(db),
    host: new HostSettings(),
  };
}
export type Views = ReturnType<typeof createViews>;
