'use strict';
// The Switchyard console: plain DOM over the /api routes of the host that serves it.
const $ = (selector) => document.querySelector(selector);
const text = (value) => (value === null || value === undefined ? '' : String(value));

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : text(child));
  return node;
}
const row = (cells, attributes) => el('tr', attributes, ...cells.map((cell) => (cell instanceof Node && cell.tagName === 'TD' ? cell : el('td', {}, cell))));
const outcomeCell = (outcome) => el('td', { class: outcome }, outcome);

async function api(path, init) {
  const response = await fetch(path, init);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

let overview;
async function loadOverview() {
  overview = await api('/api/overview');
  $('#position').textContent = `log at #${overview.position}${overview.writable ? '' : ' · read-only'}`;
  fill('select.agent-groups', overview.agentGroups.map((g) => [g.id, `${g.name} (${g.id})`]));
  fill('select.chats', overview.chats.map((c) => [c.id, `${c.name || c.platformId} (${c.channelType} · ${c.id})`]));
  fill('select.drop-reasons', overview.dropReasons.map((reason) => [reason, reason]));
}

/** Replaces the options a select was given from the overview, keeping its fixed ones ("any") and its choice. */
function fill(selector, options) {
  for (const select of document.querySelectorAll(selector)) {
    const keep = select.value;
    select.querySelectorAll('option[data-filled]').forEach((option) => option.remove());
    for (const [value, label] of options) select.append(el('option', { value, 'data-filled': '' }, label));
    if (keep) select.value = keep;
  }
}

let live;
function showLive() {
  if (live) live.close();
  const form = new FormData($('#live-filter'));
  const query = new URLSearchParams([...form].filter(([, value]) => value !== ''));
  $('#live-rows').replaceChildren();
  live = new EventSource(`/api/live?${query}`);
  live.onopen = () => ($('#live-status').textContent = 'listening: decisions appear here as they commit');
  live.onerror = () => ($('#live-status').textContent = 'disconnected; retrying…');
  live.onmessage = (message) => {
    const d = JSON.parse(message.data);
    const link = d.messageId ? el('a', { href: `#explain/${encodeURIComponent(d.messageId)}` }, d.messageId) : '';
    $('#live-rows').prepend(
      row([`#${d.position}`, d.at, d.direction, outcomeCell(d.outcome), d.reason, d.agentGroupId, d.messagingGroupId, link, d.text], { 'data-position': d.position }),
    );
  };
}

function aclTable(rows) {
  const table = el('table', {}, el('thead', {}, row(['name', 'type', 'target', 'granted'])));
  const body = el('tbody');
  for (const r of rows) body.append(row([r.local_name, r.target_type, r.target_id, `#${r.granted_at} by ${r.granted_by}`]));
  if (rows.length === 0) body.append(row(['(empty)']));
  table.append(body);
  return table;
}

async function showExplain(id) {
  const result = $('#explain-result');
  if (!id) return result.replaceChildren();
  $('#explain-form').elements.id.value = id;
  try {
    const explanations = await api(`/api/explain/${encodeURIComponent(id)}`);
    result.replaceChildren(
      ...explanations.map((x) => {
        const a = x.audit;
        const card = el('div', { class: 'card explanation' },
          el('h2', {}, `${a.direction} message ${a.message_id} `, el('span', { class: a.outcome }, a.outcome), a.reason ? ` (${a.reason})` : ''),
          el('p', { class: 'dim' }, `agent group ${text(a.agent_group_id) || '-'} · session ${text(a.session_id) || '-'} · target ${text(a.target) || '-'}`),
        );
        if (x.text !== null) card.append(el('p', {}, 'text: ', el('q', {}, x.text)));
        if (x.inReplyTo) card.append(el('p', {}, `in reply to ${x.inReplyTo.messageId} (${x.inReplyTo.outcome})${x.inReplyTo.text ? ': ' + x.inReplyTo.text : ''}`));
        const steps = el('ol', { class: 'timeline' });
        for (const step of x.steps) {
          const item = el('li', { class: 'step' }, el('strong', {}, `#${step.event.position} ${step.event.type}`), ` ${step.event.metadata.recordedAt} — ${step.summary}`);
          if (step.aclAtDecision) item.append(el('div', {}, el('p', { class: 'dim' }, `ACL as of #${step.event.position - 1}`), aclTable(step.aclAtDecision)));
          if (step.rejudged) item.append(el('p', {}, `re-run today: ${step.rejudged.today}${step.rejudged.differsToday ? ' (would differ now)' : ' (same today)'}`));
          if (step.revokedBy) item.append(el('p', { class: 'dropped' }, `revoked: "${step.revokedBy.destination.local_name}" by ${step.revokedBy.destination.revoked_by} at #${step.revokedBy.destination.revoked_at}`));
          steps.append(item);
        }
        card.append(steps);
        if (a.agent_group_id) card.append(el('p', { class: 'dim' }, `ACL of ${a.agent_group_id} today`), aclTable(x.aclToday));
        return card;
      }),
    );
  } catch (error) {
    result.replaceChildren(el('p', { class: 'error' }, error.message));
  }
}

async function showAcl() {
  const form = $('#acl-form');
  const group = form.elements.agentGroup.value;
  if (!group) return;
  const slider = form.elements.at;
  const at = slider.dataset.touched ? `?at=${slider.value}` : '';
  const acl = await api(`/api/acl/${encodeURIComponent(group)}${at}`);
  slider.max = String(acl.last);
  slider.value = String(acl.at);
  $('#acl-at').textContent = `#${acl.at} of #${acl.last}`;
  $('#acl-rows').replaceChildren(
    ...acl.rows.map((r) =>
      row(
        [r.local_name, r.target_type, r.target_id, `#${r.granted_at} by ${r.granted_by}`, r.revoked_at === null ? '' : `#${r.revoked_at} by ${r.revoked_by}`],
        { class: r.revoked_at === null ? 'granted' : 'revoked' },
      ),
    ),
  );
  if (acl.rows.length === 0) $('#acl-rows').append(row([`no destinations granted up to #${acl.at}`]));
}

async function decide(id, verdict, reason) {
  try {
    const result = await api(`/api/approvals/${encodeURIComponent(id)}/${verdict}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ reason }),
    });
    $('#approvals-status').textContent = `${result.approval.status} ${id} as ${result.approval.decided_by}`;
  } catch (error) {
    $('#approvals-status').textContent = error.message;
    $('#approvals-status').className = 'error';
  }
  await showApprovals(false);
}

async function showApprovals(clear = true) {
  if (clear) $('#approvals-status').textContent = '';
  const list = await api('/api/approvals');
  $('#approvals-list').replaceChildren(
    ...list.map((a) => {
      const card = el('div', { class: `card approval ${a.status}`, 'data-approval': a.approval_id },
        el('h2', {}, `${a.action} for ${a.agent_group_id} `, el('span', { class: a.status }, a.status)),
        el('p', {}, a.shown_text),
        el('pre', {}, JSON.stringify(a.payload, null, 2)),
        el('p', { class: 'dim' }, `${a.approval_id} · payload sha256 ${a.payload_hash} · requested ${a.requested_at} · expires ${a.expires_at}`),
      );
      if (a.decided_by) card.append(el('p', {}, `${a.status} by ${a.decided_by} at ${a.decided_at}${a.reason ? ': ' + a.reason : ''}`));
      if (a.status === 'pending') {
        const reason = el('input', { name: 'reason', placeholder: 'reason (optional)' });
        const approve = el('button', { name: 'approve' }, 'Approve');
        const reject = el('button', { name: 'reject' }, 'Reject');
        if (!overview.writable) [approve, reject].forEach((b) => { b.disabled = true; b.title = 'read-only console'; });
        approve.onclick = () => decide(a.approval_id, 'approve', reason.value);
        reject.onclick = () => decide(a.approval_id, 'reject', reason.value);
        card.append(reason, ' ', approve, ' ', reject);
      }
      return card;
    }),
  );
  if (list.length === 0) $('#approvals-list').append(el('p', { class: 'dim' }, 'no approval requests'));
}

async function showSessions(id) {
  const { sessions, quarantined } = await api('/api/sessions');
  const looping = sessions.filter((s) => s.limited.some((hit) => hit.reason === 'loop-limit')).length;
  $('#sessions-status').textContent = `${sessions.length} session(s), ${quarantined} quarantined, ${looping} looping in the last hour`;
  $('#sessions-rows').replaceChildren(
    ...sessions.map(({ session: s, container: c, limited }) =>
      row([
        el('td', {}, el('a', { href: `#sessions/${encodeURIComponent(s.id)}` }, s.id)), s.agent_group_id, s.messaging_group_id, s.status,
        c ? c.status : 'never started', c ? c.runtime_id : '',
        c && c.stop_reason ? `${c.stop_reason}${c.stop_evidence ? ' ' + c.stop_evidence : ''}` : '', c ? c.exit_code : '',
        s.quarantine_reason ? `${s.quarantine_reason} (${s.quarantine_component}): ${text(s.quarantine_detail)}` : '',
        el('td', { class: limited.length > 0 ? 'dropped' : '' }, limited.map((hit) => `${hit.reason} ×${hit.count}`).join(', ')),
      ], { 'data-session': s.id }),
    ),
  );
  await showSession(id);
}

/** Shows the fields the chosen kind of change needs: a name for a destination, a target for a grant, a chat for a wiring. */
function whatIfFields() {
  const form = $('#what-if-form');
  const kind = form.elements.kind.value;
  form.querySelector('.destination').hidden = !['add', 'remove'].includes(kind);
  form.querySelector('.grant').hidden = kind !== 'add';
  form.querySelector('.wiring').hidden = !['wire', 'unwire'].includes(kind);
}

async function showWhatIf() {
  const form = $('#what-if-form');
  const f = Object.fromEntries(new FormData(form));
  const entry = { add: `${f.agentGroup}:${f.name}=${f.targetType}:${f.targetId}`, remove: `${f.agentGroup}:${f.name}`, wire: `${f.chat}:${f.agentGroup}`, unwire: `${f.chat}:${f.agentGroup}` }[f.kind];
  const query = new URLSearchParams({ [f.kind]: entry });
  if (f.since) query.set('since', f.since);
  const result = $('#what-if-result');
  result.replaceChildren(el('p', { class: 'dim' }, 're-judging…'));
  try {
    const report = await api(`/api/what-if?${query}`);
    const fromChange = report.flips.filter((flip) => flip.cause === 'change');
    const since = report.flips.length - fromChange.length;
    const headline = el('p', { class: `headline ${fromChange.length === 0 ? 'routed' : 'dropped'}` },
      `Re-judged ${report.decisions} decisions in #${report.window.after + 1}..#${report.window.until}: `,
      fromChange.length === 0 ? 'none would flip because of the change' : `${fromChange.length} would flip because of the change`);
    const children = [headline];
    if (since > 0) children.push(el('p', { class: 'dim' }, `${since} more already differ today without it (the ACL or wiring changed since they were decided)`));
    if (report.flips.length > 0) {
      const body = el('tbody');
      for (const flip of report.flips) {
        const link = el('a', { href: `#explain/${encodeURIComponent(flip.messageId)}` }, flip.messageId);
        body.append(row([`#${flip.position}`, flip.recordedAt, flip.type, link, text(flip.agentGroupId), flip.recorded.verdict, flip.proposed.verdict, flip.cause], { class: flip.cause }));
      }
      children.push(el('table', {}, el('thead', {}, row(['#', 'time', 'decision', 'message', 'agent group', 'recorded', 'with the change', 'cause'])), body));
    }
    result.replaceChildren(...children);
  } catch (error) {
    result.replaceChildren(el('p', { class: 'error' }, error.message));
  }
}

async function showSession(id) {
  const detail = $('#session-detail');
  if (!id) return detail.replaceChildren();
  const { session, incarnations, limited } = await api(`/api/sessions/${encodeURIComponent(id)}`);
  const body = el('tbody');
  for (const i of incarnations) {
    const ended = i.startFailed ? `failed to start: ${i.startFailed}` : i.stoppedAt ? `${i.stopReason} at ${i.stoppedAt}` : 'running';
    const exit = [i.exitCode !== null ? `exit ${i.exitCode}` : '', i.signal || ''].filter(Boolean).join(', ');
    const evidence = i.stopRequested ? JSON.stringify(i.stopRequested.evidence) : '';
    body.append(row([i.incarnationId, i.runtime, i.image, i.wokenBy, i.startingAt, ended, exit, evidence, el('td', {}, el('pre', {}, text(i.stderrTail)))]));
  }
  if (incarnations.length === 0) body.append(row(['never started']));
  detail.replaceChildren(
    el('div', { class: 'card session' },
      el('h2', {}, `Session ${session.id} (${session.agent_group_id})`),
      ...limited.map((hit) => el('p', { class: 'dropped warning' }, `${hit.reason === 'loop-limit' ? 'looping: agents answering each other, cut off by the hop limit' : 'rate limited'} ×${hit.count}, last at ${hit.lastAt}`)),
      el('h3', {}, `${incarnations.length} incarnation(s)`),
      el('table', {}, el('thead', {}, row(['incarnation', 'runtime', 'image', 'woken by', 'started', 'ended', 'exit', 'stop evidence', 'stderr tail'])), body),
    ),
  );
}

async function route() {
  const [page, ...rest] = (location.hash.slice(1) || 'live').split('/');
  for (const section of document.querySelectorAll('main > section')) section.hidden = section.id !== `page-${page}`;
  if (page !== 'live' && live) {
    live.close();
    live = undefined;
  }
  await loadOverview();
  if (page === 'live') showLive();
  if (page === 'explain') await showExplain(decodeURIComponent(rest.join('/')));
  if (page === 'acl') await showAcl();
  if (page === 'approvals') await showApprovals();
  if (page === 'what-if') whatIfFields();
  if (page === 'sessions') await showSessions(decodeURIComponent(rest.join('/')));
  document.body.dataset.page = page;
}

$('#live-filter').addEventListener('change', showLive);
$('#explain-form').addEventListener('submit', (event) => {
  event.preventDefault();
  location.hash = `explain/${encodeURIComponent($('#explain-form').elements.id.value)}`;
});
$('#acl-form').addEventListener('change', (event) => {
  if (event.target.name === 'agentGroup') delete $('#acl-form').elements.at.dataset.touched;
  showAcl();
});
$('#acl-form').elements.at.addEventListener('input', (event) => {
  event.target.dataset.touched = 'yes';
  $('#acl-at').textContent = `#${event.target.value}`;
});
$('#what-if-form').elements.kind.addEventListener('change', whatIfFields);
$('#what-if-form').addEventListener('submit', (event) => {
  event.preventDefault();
  showWhatIf();
});
window.addEventListener('hashchange', route);
route();
