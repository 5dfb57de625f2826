/** Sends a Telegram message through the Bot API (base URL configurable); never throws, never prints the token. */
import { SECRET_ENV, TOOL_ENV } from '../core/config/names';
import { telegramUrl } from '../core/release/notify';

export const DEFAULT_TELEGRAM_API = 'https://api.telegram.org';

export async function sendTelegram(
  env: NodeJS.ProcessEnv,
  text: string,
): Promise<{ sent: boolean; warning?: string }> {
  const token = env[SECRET_ENV.telegramToken];
  const chatId = env[TOOL_ENV.telegramChatId];
  if (!token || !chatId) return { sent: false };
  const base = env[TOOL_ENV.telegramApiUrl] || DEFAULT_TELEGRAM_API;
  try {
    const res = await fetch(telegramUrl(base, token), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ chat_id: chatId, text, disable_web_page_preview: true }),
      signal: AbortSignal.timeout(10000),
    });
    if (!res.ok)
      return {
        sent: false,
        warning: `Telegram notice not sent: Bot API answered HTTP ${res.status}.`,
      };
    return { sent: true };
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    return {
      sent: false,
      warning: `Telegram notice not sent: ${code} reaching ${new URL(base).host}.`,
    };
  }
}
