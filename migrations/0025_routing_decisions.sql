-- Issue 16, what-if at a quarter of a million decisions a second. Each routing decision's
-- question, as decisionQuestion (src/commands/rejudge.ts) states it: what-if asks SQLite
-- for the distinct questions of a window and judges each once, instead of reading and
-- parsing every decision event (two thirds of its time). Appended in position order, with
-- no secondary index: one more row per decision on the write path, nothing more.
-- routed and agent_group_id: the recorded judgement (whether the message went on, and the
-- agent group it concerns). question NULL: the verdict may read more than a question holds,
-- so the decision is re-judged in full. limited: dropped by the rate or hop limit, which no
-- change of routing undoes.
CREATE TABLE routing_decisions (
  position       INTEGER PRIMARY KEY,
  routed         INTEGER NOT NULL CHECK (routed IN (0, 1)),
  agent_group_id TEXT,
  question       TEXT,
  limited        INTEGER NOT NULL CHECK (limited IN (0, 1))
);
