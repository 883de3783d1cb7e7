import type Database from 'better-sqlite3';
import { decisionQuestion, droppedByLimit, recordedJudgement } from '../commands/rejudge';
import type { RecordedEvent } from '../events/define';
import { InboundDropped, InboundRouted } from '../events/inbound';
import { OutboundDropped, OutboundRouted } from '../events/outbound';
import { defineProjection } from './runner';

/** Each routing decision's recorded judgement and question (see decisionQuestion): what what-if reads instead of the events. */
export const routingDecisionsProjection = defineProjection({
  name: 'routing-decisions',
  tables: ['routing_decisions'],
  bind(db, on) {
    const insert = db.prepare('INSERT INTO routing_decisions (position, routed, agent_group_id, question, limited) VALUES (?, ?, ?, ?, ?)');
    const record = (_data: unknown, event: RecordedEvent) => {
      const { routed, agentGroupId } = recordedJudgement(event)!;
      const limited = droppedByLimit(event);
      insert.run(event.position, routed ? 1 : 0, agentGroupId, limited ? null : (decisionQuestion(event) ?? null), limited ? 1 : 0);
    };
    for (const decision of [InboundRouted, InboundDropped, OutboundRouted, OutboundDropped]) on(decision, record);
  },
});

/** The decisions of a window that asked one question with one recorded judgement. */
export interface QuestionGroup {
  question: string;
  routed: boolean;
  agentGroupId: string | null;
  decisions: number;
  /** The first decision of the group: the one judged for all of them. */
  example: number;
}

/** A group's identity, comparable by value. */
export type GroupKey = string;
export const groupKey = (group: Pick<QuestionGroup, 'question' | 'routed' | 'agentGroupId'>): GroupKey => JSON.stringify([group.question, group.routed, group.agentGroupId]);

interface Window {
  after: number;
  until: number;
}

export class RoutingDecisionsView {
  private readonly groups: Database.Statement;
  private readonly unasked: Database.Statement;
  private readonly limited: Database.Statement;
  private readonly limitedFor: Database.Statement;
  private readonly members: Database.Statement;

  constructor(db: Database.Database) {
    const inWindow = 'position > @after AND position <= @until';
    // SQLite sorts the rows to group them, a few microseconds each: the rows a limit dropped
    // are only counted, with no sort.
    this.groups = db.prepare(
      `SELECT question, routed, agent_group_id AS agentGroupId, count(*) AS decisions, min(position) AS example FROM routing_decisions
       WHERE ${inWindow} AND question IS NOT NULL GROUP BY question, routed, agent_group_id`,
    );
    this.unasked = db.prepare(`SELECT position FROM routing_decisions WHERE ${inWindow} AND question IS NULL AND limited = 0 ORDER BY position`).pluck();
    this.limited = db.prepare(`SELECT count(*) FROM routing_decisions WHERE ${inWindow} AND limited = 1`).pluck();
    this.limitedFor = db.prepare(`SELECT count(*) FROM routing_decisions WHERE ${inWindow} AND limited = 1 AND agent_group_id = @agentGroupId`).pluck();
    // The groups arrive as a JSON list of [question, routed, agent group]; SQLite makes an index of them for the scan.
    this.members = db
      .prepare(
        `SELECT position, question, routed, agent_group_id AS agentGroupId FROM routing_decisions WHERE ${inWindow} AND question IS NOT NULL
         AND (question, routed, ifnull(agent_group_id, '')) IN (SELECT value ->> 0, value ->> 1, ifnull(value ->> 2, '') FROM json_each(@groups))
         ORDER BY position`,
      );
  }

  /** The decisions of a window that hold a question, grouped by it and their recorded judgement. */
  questionGroups(window: Window): QuestionGroup[] {
    return (this.groups.all(window) as Array<Omit<QuestionGroup, 'routed'> & { routed: number }>).map((group) => ({ ...group, routed: group.routed === 1 }));
  }

  /** How many decisions of a window a limit dropped: of one agent group, or of all. */
  droppedByLimits(window: Window, agentGroupId?: string): number {
    return (agentGroupId === undefined ? this.limited.get(window) : this.limitedFor.get({ ...window, agentGroupId })) as number;
  }

  /** The decisions of a window that hold no question and no limit dropped: each is judged in full. */
  judgedInFull(window: Window): number[] {
    return this.unasked.all(window) as number[];
  }

  /** Every decision in the given groups (each with a question), in order, with the group it is in. */
  membersOf(window: Window, groups: readonly QuestionGroup[]): Array<{ position: number; group: GroupKey }> {
    if (groups.length === 0) return [];
    const rows = this.members.all({ ...window, groups: JSON.stringify(groups.map((g) => [g.question, g.routed ? 1 : 0, g.agentGroupId])) }) as Array<{ position: number; question: string; routed: number; agentGroupId: string | null }>;
    return rows.map(({ position, question, routed, agentGroupId }) => ({ position, group: groupKey({ question, routed: routed === 1, agentGroupId }) }));
  }
}
