import type { ChatSdkPlatform } from './bridge';
import { discord } from './discord';
import { slack } from './slack';
import { telegram } from './telegram';

/** The chat platforms `--channels` can name, by channel type. */
export const CHAT_SDK_PLATFORMS: Readonly<Record<string, ChatSdkPlatform>> = { telegram, slack, discord };
