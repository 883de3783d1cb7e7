import { postgresUnavailable, startPostgres, type PostgresServer, type PostgresServerOptions } from '../fixtures/postgres-server';
import { describeWhere, suiteMode, type Requirement } from './requirement';

export { postgresUnavailable, startPostgres, type PostgresServer };

const POSTGRES: Requirement = { tests: 'PostgreSQL tests', ciProvides: '.ci/run installs postgresql-15' };

/** The PostgreSQL suites' mode: run, skip with a warning, or in CI fail (see suiteMode). */
export const postgresSuiteMode = (unavailable: string | undefined, env: NodeJS.ProcessEnv = process.env) => suiteMode(POSTGRES, unavailable, env);

/** `describe` for tests needing a PostgreSQL server: runs, skips with a warning, or in CI fails. */
export function describeWithPostgres(name: string, body: () => void): void {
  describeWhere(POSTGRES, postgresUnavailable(), name, body);
}

/**
 * A server for the enclosing describe: started in beforeAll, stopped (immediate) in
 * afterAll, which jest runs when a test fails too. Returns a getter for use inside tests.
 */
export function usePostgres(options: PostgresServerOptions = {}): () => PostgresServer {
  let server: PostgresServer | undefined;
  beforeAll(() => {
    server = startPostgres(options);
  });
  afterAll(() => {
    server?.stop();
    server = undefined;
  });
  return () => {
    if (!server) throw new Error('usePostgres: only inside a test');
    return server;
  };
}
