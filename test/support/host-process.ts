import { startCli } from './cli';

/** `switchyard start` with the webhook channel, as a real child process; resolves once it listens. */
export async function startHost(dataDir: string, deliverUrl: string, extraEnv: NodeJS.ProcessEnv = {}, extraArgs: readonly string[] = []) {
  // By default the test plays the agent, writing outbound rows itself: the host starts none.
  const env = { SWITCHYARD_POLL_INTERVAL_MS: '20', SWITCHYARD_DELIVERY_BACKOFF_MS: '10', SWITCHYARD_LOG_LEVEL: 'warn', SWITCHYARD_RUNTIME: 'external', ...extraEnv };
  const host = startCli(['--data-dir', dataDir, 'start', '--webhook-port', '0', '--webhook-deliver-url', deliverUrl, ...extraArgs], env);
  await host.lines(2);
  const url = /webhook channel listening on (\S+)/.exec(host.output())?.[1];
  if (!url) throw new Error(`the host did not say where it listens:\n${host.output()}`);
  return { ...host, url };
}
