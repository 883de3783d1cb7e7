-- Issue 16, an index set sized to the queries that exist. Routing a message looks its
-- session up by agent, chat, thread and mode (src/projections/sessions.ts). Over
-- (messaging_group_id, thread_id) alone the planner took sessions_by_agent instead and
-- walked every open session of the agent (one per chat): sessions_by_chat served no query.
-- With the lookup's four columns it is the index the lookup reads, one entry per session.
DROP INDEX sessions_by_chat;
CREATE INDEX sessions_by_chat ON sessions (messaging_group_id, thread_id, agent_group_id, session_mode);
