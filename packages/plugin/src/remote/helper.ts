/**
 * The client of the host helper: one function runs any of its subcommands on a host over one SSH
 * command and reads its answer (the JSON lines it prints, its result, an SSH failure explained);
 * the subcommands the executors ask directly are named functions over it.
 */
import type { SshSettings } from '../core/remote/ansible';
import {
  helperCommand,
  HelperCommand,
  HostEvent,
  hostResult,
  parseHostEvents,
} from '../core/remote/host';
import type { Profile } from '../core/config/profile';
import type { Secrets } from '../core/config/redact';
import { HistoryEntry, HostStatus, parseHistory } from '../core/release/release';
import { run } from '../shell/run';
import { explainSshFailure } from './connection';

export interface HelperAnswer {
  code: number;
  stdout: string;
  /** stdout and stderr, for messages. */
  output: string;
  events: HostEvent[];
  result?: HostEvent;
  /** The helper is not on the host (nothing deployed there by this version). */
  missing: boolean;
}

export interface HelperCall {
  profile: Profile;
  app: string;
  ssh: SshSettings;
  secrets: Secrets;
}

/** Runs one subcommand; throws only when SSH itself failed in a way a person can fix. */
export async function askHelper(
  call: HelperCall,
  command: HelperCommand,
  args: string[] = [],
  stdin?: string,
): Promise<HelperAnswer> {
  const r = await run(helperCommand(call.profile, call.app, call.ssh, command, args, stdin), {
    secrets: call.secrets,
    stream: false,
  });
  const events = parseHostEvents(r.stdout);
  if (r.code === 255 && events.length === 0) {
    const ssh = explainSshFailure(r.output, call.profile);
    if (ssh) throw new Error(ssh);
  }
  return {
    code: r.code,
    stdout: r.stdout,
    output: r.output,
    events,
    result: hostResult(events),
    missing: r.code === 126 || r.code === 127 || /No such file/.test(r.output),
  };
}

/** The helper's status of the app; undefined when it was never deployed there by this version. */
export async function readHostStatus(call: HelperCall): Promise<{ status?: HostStatus }> {
  const a = await askHelper(call, 'status');
  const line = a.stdout.trim().split('\n').pop() ?? '';
  if (line.startsWith('{')) {
    try {
      return { status: JSON.parse(line) as HostStatus };
    } catch {
      /* fall through */
    }
  }
  if (a.missing) return {};
  throw new Error(
    `Reading the release state on the host failed (exit ${a.code}): ${a.output.trim().slice(-400)}`,
  );
}

/** The last `limit` history entries; undefined when nothing was deployed there. */
export async function readHistory(
  call: HelperCall,
  limit: number,
): Promise<HistoryEntry[] | undefined> {
  const a = await askHelper(call, 'history', [String(limit)]);
  if (a.code === 0) return parseHistory(a.stdout);
  if (a.missing) return undefined;
  throw new Error(a.output.trim().slice(-400));
}

/** A subcommand whose result must be `ok` (promote, abort); its message otherwise. */
export async function expectOk(
  call: HelperCall,
  command: HelperCommand,
  args: string[] = [],
): Promise<HostEvent> {
  const a = await askHelper(call, command, args);
  if (a.result?.status !== 'ok')
    throw new Error(`${command} failed (exit ${a.code}): ${a.output.trim().slice(-300)}`);
  return a.result;
}

/**
 * The result of a run on the host, waited for: a release whose caller lost its connection goes on
 * there and ends on its own (undefined when no such run started within the wait, or the host
 * cannot be reached).
 */
export async function awaitRun(
  call: HelperCall,
  runId: string,
  waitSeconds: number,
): Promise<HostEvent | undefined> {
  const a = await askHelper(call, 'follow', [runId, String(waitSeconds)]).catch(() => undefined);
  return a?.result;
}
