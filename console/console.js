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
  for (const select of document.querySelectorAll('select.agent-groups')) {
    const keep = select.value;
    select.querySelectorAll('option[data-group]').forEach((option) => option.remove());
    for (const group of overview.agentGroups) select.append(el('option', { value: group.id, 'data-group': '' }, `${group.name} (${group.id})`));
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

async function showSessions() {
  const { sessions, quarantined } = await api('/api/sessions');
  $('#sessions-status').textContent = `${sessions.length} session(s), ${quarantined} quarantined`;
  $('#sessions-rows').replaceChildren(
    ...sessions.map(({ session: s, container: c }) =>
      row([
        s.id, s.agent_group_id, s.messaging_group_id, s.status, c ? c.status : 'never started', c ? c.runtime_id : '',
        c && c.stop_reason ? `${c.stop_reason}${c.stop_evidence ? ' ' + c.stop_evidence : ''}` : '', c ? c.exit_code : '',
        s.quarantine_reason ? `${s.quarantine_reason} (${s.quarantine_component}): ${text(s.quarantine_detail)}` : '',
      ], { 'data-session': s.id }),
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
  if (page === 'sessions') await showSessions();
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
window.addEventListener('hashchange', route);
route();
