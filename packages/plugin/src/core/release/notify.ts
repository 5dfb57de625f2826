/** Telegram notice text for a deploy or rollback. */
import { redact, Secrets } from '../config/redact';
import type { DeployAction } from '../remote/ansible';

export type Outcome = 'ok' | 'noop' | 'failed' | 'rolled-back';

export interface Notice {
  app: string;
  environment: string;
  action: DeployAction;
  tag: string;
  outcome: Outcome;
  seconds: number;
  deployer: string;
  /** The release serving after the operation (may differ from tag on failure). */
  live?: string;
  previous?: string;
  error?: string;
  /** One line per host of an environment of several hosts. */
  details?: string[];
}

const ICON: Record<Outcome, string> = { ok: '✅', noop: '✅', failed: '❌', 'rolled-back': '⚠️' };

/**
 * The notice's text, with `secrets` (the release's secret values and the registry password, as
 * redacted from the log) masked: the error and details come from the host as they are. The error
 * is redacted before it is cut, so no part of a secret is left at the cut.
 */
export function noticeText(n: Notice, secrets: Secrets): string {
  const verb = n.action === 'deploy' ? 'deploy' : 'rollback';
  const head =
    n.outcome === 'ok'
      ? `${ICON.ok} ${n.app}: ${verb} of ${n.tag} to ${n.environment} succeeded`
      : n.outcome === 'noop'
        ? `${ICON.noop} ${n.app}: ${n.tag} already live on ${n.environment} (nothing to do)`
        : n.outcome === 'rolled-back'
          ? `${ICON['rolled-back']} ${n.app}: ${verb} of ${n.tag} to ${n.environment} failed; rolled back to ${n.live}`
          : `${ICON.failed} ${n.app}: ${verb} of ${n.tag || '(previous)'} to ${n.environment} failed`;
  const lines = [
    head,
    `app: ${n.app}`,
    `environment: ${n.environment}`,
    `tag: ${n.tag || '(previous release)'}`,
    `result: ${n.outcome}`,
  ];
  if (n.live !== undefined) lines.push(`live now: ${n.live || 'nothing healthy'}`);
  if (n.previous) lines.push(`previous: ${n.previous}`);
  if (n.error) lines.push(`error: ${redact(n.error, secrets).slice(0, 300)}`);
  for (const d of n.details ?? []) lines.push(`host ${d}`);
  lines.push(`duration: ${n.seconds.toFixed(1)}s`, `by: ${n.deployer}`);
  return redact(lines.join('\n'), secrets);
}

export function telegramUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/bot${token}/sendMessage`;
}
