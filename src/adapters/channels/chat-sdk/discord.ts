import type { Adapter, ChatInstance } from 'chat';
import type { ChatSdkPlatform } from './bridge';
import { downloadFromApiHost, onConfiguredApiHost, PlatformRateLimited } from './platform-api';

/**
 * Discord through `@chat-adapter/discord`. Two ways in, both at the platform-webhook listener
 * under `/discord`: HTTP interactions (button clicks; signed with Ed25519, checked against
 * DISCORD_PUBLIC_KEY) and gateway events forwarded with the bot token in
 * `x-discord-gateway-token`. Messages and reactions come only through Discord's gateway:
 * by default (`DISCORD_GATEWAY=connect`) the host holds the gateway connection itself
 * (discord.js, to Discord's own gateway address; reconnected whenever a session ends);
 * `DISCORD_GATEWAY=forwarded` leaves that to a forwarder that POSTs the events here.
 *
 * What Switchyard changes in the adapter: every REST call goes to DISCORD_API_URL (the
 * adapter sends uploads and interaction responses to discord.com whatever its apiUrl), and
 * a 429 comes back as a rate limit with Discord's retry_after, which the host waits out.
 */

/** Discord's limit on a message's content, in characters. */
const MAX_MESSAGE_LENGTH = 2000;
/** How long one gateway session is held before the adapter's listener returns and it is opened again. */
const GATEWAY_SESSION_MS = 6 * 3_600_000;
/** The pause before a gateway session that ended (or failed to open) is opened again. */
const GATEWAY_RECONNECT_MS = 5_000;
const DISCORD_API = 'https://discord.com/api/v10';

/** A file of an outgoing message, as the adapter hands it over. */
interface FileUpload {
  data: Buffer | Blob | ArrayBuffer;
  filename: string;
  mimeType?: string;
}

type GatewayMode = 'connect' | 'forwarded';

function gatewayMode(env: NodeJS.ProcessEnv): GatewayMode {
  const mode = env.DISCORD_GATEWAY?.trim() || 'connect';
  if (mode !== 'connect' && mode !== 'forwarded') throw new Error(`DISCORD_GATEWAY must be connect or forwarded, not ${JSON.stringify(mode)}`);
  return mode;
}

export const discord: ChatSdkPlatform = {
  channelType: 'discord',
  requiredEnv: () => ['DISCORD_BOT_TOKEN', 'DISCORD_PUBLIC_KEY', 'DISCORD_APPLICATION_ID'],
  secretEnv: ['DISCORD_BOT_TOKEN'],
  maxMessageLength: MAX_MESSAGE_LENGTH,
  buttons: true,
  webhookPath: () => '/discord',
  async createAdapter(env, logger): Promise<Adapter> {
    const gateway = gatewayMode(env);
    const botToken = env.DISCORD_BOT_TOKEN!;
    const apiUrl = env.DISCORD_API_URL?.trim() || undefined;
    const apiBase = apiUrl ?? DISCORD_API;
    const { DiscordAdapter } = await import('@chat-adapter/discord');

    /** One REST call the adapter would send to discord.com, sent to the configured API instead. */
    const send = async (path: string, method: string, init: { body?: RequestInit['body']; headers?: Record<string, string> }): Promise<Response> => {
      const response = await fetch(`${apiBase}${path}`, { method, ...init });
      if (response.ok) return response;
      const text = await response.text();
      throw rateLimitOf(response.status, text) ?? new Error(`Discord API error: ${response.status} ${text}`);
    };

    class SwitchyardDiscordAdapter extends DiscordAdapter {
      private gatewayStop: AbortController | undefined;
      private gatewayRun: Promise<void> | undefined;

      override async initialize(chat: ChatInstance): Promise<void> {
        await super.initialize(chat);
        if (gateway === 'connect' && !this.gatewayStop) {
          this.gatewayStop = new AbortController();
          this.gatewayRun = this.holdGateway(this.gatewayStop.signal);
        }
      }

      /** Closes the gateway connection the host holds (called by the Chat's shutdown). */
      async disconnect(): Promise<void> {
        this.gatewayStop?.abort();
        await this.gatewayRun;
        this.gatewayStop = undefined;
      }

      protected override async discordFetch(path: string, method: string, body?: unknown): Promise<Response> {
        try {
          return await super.discordFetch(path, method, body);
        } catch (error) {
          // The adapter's error keeps Discord's answer (status, body) on originalError.
          const original = (error as { originalError?: { status?: unknown; message?: unknown } }).originalError;
          throw (typeof original?.status === 'number' && rateLimitOf(original.status, String(original.message ?? ''))) || error;
        }
      }

      protected override async postMessageWithFiles(channelId: string, threadId: string, payload: object, files: FileUpload[]) {
        const response = await send(`/channels/${channelId}/messages`, 'POST', { body: await multipart(payload, files), headers: { authorization: `Bot ${botToken}` } });
        const result = (await response.json()) as { id: string };
        return { id: result.id, threadId, raw: result };
      }

      protected override discordInteractionFetch(path: string, method: string, body?: unknown): Promise<Response> {
        return send(path, method, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      }

      protected override async discordInteractionFetchWithFiles(path: string, method: string, payload: object, files: FileUpload[]): Promise<Response> {
        return send(path, method, { body: await multipart(payload, files) });
      }

      /** Attachments on the API host the operator set are fetched from there; Discord's CDN through the SDK's guarded download. */
      protected override downloadAttachment(url: string): Promise<Buffer> {
        return onConfiguredApiHost(url, apiUrl) ? downloadFromApiHost('discord', url, {}) : super.downloadAttachment(url);
      }

      /** Keeps one gateway session open until stopped: the adapter's listener ends after its duration or on an error. */
      private async holdGateway(stop: AbortSignal): Promise<void> {
        while (!stop.aborted) {
          let session: Promise<unknown> = Promise.resolve();
          await this.startGatewayListener({ waitUntil: (task) => void (session = task) }, GATEWAY_SESSION_MS, stop);
          await session.catch(() => undefined);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, GATEWAY_RECONNECT_MS);
            stop.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
          });
        }
      }
    }

    return new SwitchyardDiscordAdapter({
      botToken,
      publicKey: env.DISCORD_PUBLIC_KEY!,
      applicationId: env.DISCORD_APPLICATION_ID!,
      ...(apiUrl && { apiUrl }),
      logger,
    });
  },
};

/** Discord's 429 as a rate limit, with the wait from its body's retry_after (seconds), else undefined. */
function rateLimitOf(status: number, body: string): PlatformRateLimited | undefined {
  if (status !== 429) return undefined;
  let retryAfter: number | undefined;
  try {
    const parsed = (JSON.parse(body) as { retry_after?: unknown }).retry_after;
    if (typeof parsed === 'number') retryAfter = parsed;
  } catch {
    // no body to read the wait from: retried on the host's own backoff
  }
  return new PlatformRateLimited('discord', retryAfter);
}

/** A message with files as Discord takes it: the JSON in `payload_json`, each file as `files[i]`. */
async function multipart(payload: object, files: FileUpload[]): Promise<FormData> {
  const form = new FormData();
  form.append('payload_json', JSON.stringify(payload));
  for (const [index, file] of files.entries()) {
    const bytes = file.data instanceof Blob ? await file.data.arrayBuffer() : file.data;
    form.append(`files[${index}]`, new Blob([new Uint8Array(bytes)], { type: file.mimeType || 'application/octet-stream' }), file.filename);
  }
  return form;
}
