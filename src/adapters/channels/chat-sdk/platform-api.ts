/**
 * What the Slack and Discord modules add to their SDK adapters, in one place: a rate limit
 * reported the way the bridge reads the SDK's own errors, and downloads from an API host the
 * operator configured (SLACK_API_URL, DISCORD_API_URL).
 */

/**
 * A 429, shaped like the SDK's AdapterRateLimitError (`code` RATE_LIMITED, `retryAfter` in
 * seconds), which the bridge turns into a retryable DeliveryError carrying the wait.
 */
export class PlatformRateLimited extends Error {
  readonly code = 'RATE_LIMITED';

  constructor(
    platform: string,
    readonly retryAfter: number | undefined,
  ) {
    super(`rate limited by ${platform}${retryAfter === undefined ? '' : `, retry after ${retryAfter}s`}`);
    this.name = 'PlatformRateLimited';
  }
}

/**
 * Whether a file URL is served by the API host the operator set in place of the platform's
 * own (a gateway, GovSlack, a test's fake). The SDK's guarded downloader takes only https on
 * public addresses; a host the operator named is trusted like the platform itself.
 */
export function onConfiguredApiHost(url: string, configuredApiUrl: string | undefined): boolean {
  if (!configuredApiUrl) return false;
  try {
    return new URL(url).origin === new URL(configuredApiUrl).origin;
  } catch {
    return false;
  }
}

/** Largest inbound file taken from a configured API host, as the SDK's own downloader caps it. */
const MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024;

/** Downloads a file from the configured API host (see onConfiguredApiHost), with the platform's credentials. */
export async function downloadFromApiHost(platform: string, url: string, headers: Record<string, string>): Promise<Buffer> {
  const response = await fetch(url, { headers, redirect: 'error', signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new Error(`${platform} file download failed: ${response.status} ${response.statusText}`);
  const data = Buffer.from(await response.arrayBuffer());
  if (data.length > MAX_DOWNLOAD_BYTES) throw new Error(`${platform} file is over ${MAX_DOWNLOAD_BYTES} bytes`);
  return data;
}
