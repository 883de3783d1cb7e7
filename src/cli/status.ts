import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { readHostFacts, type HostFacts } from '../adapters/host-file';
import { leaseHolder } from '../adapters/lease';
import { redactUrl } from '../adapters/pg-replica';
import { configFor, databasePath, openExisting } from './context';
import { bad, dim, formatTable, ok } from './format';

const HOUR_MS = 3_600_000;

/** ", up 2h 05m" from the facts the host wrote, when it wrote them. */
function upFor(host: HostFacts): string {
  const minutes = Math.floor((Date.now() - Date.parse(host.startedAt)) / 60_000);
  const shown = minutes < 60 ? `${minutes}m` : minutes < 1440 ? `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m` : `${Math.floor(minutes / 1440)}d ${Math.floor((minutes % 1440) / 60)}h`;
  return `, up ${shown} since ${host.startedAt}, agents on the ${host.runtime} runtime`;
}

/** What an operator checks first, read from the log and projections alone: it works with the host down. */
export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('sessions, undelivered and failed messages, recent drops, the log, and whether a host is running')
    .option('--json', 'print as JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const path = databasePath(command);
      const core = openExisting(command);
      try {
        const holder = leaseHolder(dirname(path));
        const since = new Date(Date.now() - HOUR_MS).toISOString();
        const facts = holder === undefined ? undefined : readHostFacts(dirname(path), holder);
        const configured = configFor(command).store;
        const status = {
          host: holder === undefined ? { running: false } : { running: true, pid: holder, ...facts },
          /** Where the log's truth is: this file, or the PostgreSQL database it replicates (no password shown). */
          store: facts?.store ?? (configured === undefined ? 'sqlite' : redactUrl(configured)),
          leases: facts?.leases ?? [],
          log: { path, lastPosition: core.store.lastPosition(), bytes: statSync(path).size },
          sessions: core.views.sessions.countByStatus(),
          quarantined: core.views.sessions.quarantined().map((s) => ({ sessionId: s.id, agentGroupId: s.agent_group_id, reason: s.quarantine_reason, component: s.quarantine_component, detail: s.quarantine_detail, at: s.quarantined_at })),
          containers: core.views.containers.byStatus(),
          pendingApprovals: core.views.approvals.list('pending').length,
          messages: core.views.audit.pendingAndFailed(),
          dropsLastHour: core.views.audit.dropsSince(since),
          /** Sessions cut off by the hop limit (agents answering each other) or the rate limit in the last hour. */
          limited: core.views.audit.limitedSince(since),
        };
        if (options.json) {
          console.log(JSON.stringify(status, null, 2));
          return;
        }
        console.log(`host      ${status.host.running ? ok(`running (pid ${holder})`) + (facts ? upFor(facts) : '') : dim('not running')}`);
        for (const channel of facts?.channels ?? []) {
          console.log(`  ${channel.channelType} ${channel.connected ? ok('connected') : bad('not connected')}${channel.url ? `  ${channel.url}` : ''}  ${dim(`checked ${facts!.checkedAt}`)}`);
        }
        if (status.store !== 'sqlite') {
          console.log(`store     PostgreSQL ${status.store}  ${dim('(this data directory holds its replica)')}`);
          console.log(`leases    ${status.leases.length ? status.leases.join(', ') : dim('none held')}`);
        }
        console.log(`log       ${status.log.lastPosition} events, ${(status.log.bytes / 2 ** 20).toFixed(1)} MiB  ${dim(path)}`);
        console.log(`sessions  ${status.sessions.map((s) => `${s.count} ${s.status}`).join(', ') || dim('none')}`);
        for (const q of status.quarantined) {
          console.log(`  ${bad('quarantined')} ${q.sessionId} (${q.agentGroupId}): ${q.reason} by ${q.component}: ${q.detail}  ${dim(`switchyard sessions release ${q.sessionId}`)}`);
        }
        console.log(`agents    ${status.containers.map((c) => `${c.count} ${c.status}`).join(', ') || dim('none started')}`);
        console.log(`approvals ${status.pendingApprovals ? bad(`${status.pendingApprovals} pending`) : '0 pending'}${status.pendingApprovals ? dim('  (switchyard approvals list)') : ''}`);
        const { undelivered, failed, inboundFailed } = status.messages;
        console.log(`outbound  ${undelivered} awaiting delivery, ${failed ? bad(`${failed} failed`) : '0 failed'}`);
        if (inboundFailed) console.log(`inbound   ${bad(`${inboundFailed} failed`)} (its agent died holding it, or no agent claimed it)  ${dim('switchyard audit --direction inbound --outcome failed')}`);
        for (const l of status.limited) {
          console.log(`  ${bad(l.reason)} ${l.sessionId} (${l.agentGroupId}): ${l.count} row(s) dropped, last at ${l.lastAt}  ${dim(`switchyard audit --agent-group ${l.agentGroupId} --outcome dropped`)}`);
        }
        console.log(`drops in the last hour${status.dropsLastHour.length ? ':' : ': none'}`);
        if (status.dropsLastHour.length) {
          console.log(formatTable(['  REASON', 'DIRECTION', 'COUNT'], status.dropsLastHour.map((d) => [`  ${d.reason}`, d.direction, d.count])));
        }
      } finally {
        core.close();
      }
    });
}
