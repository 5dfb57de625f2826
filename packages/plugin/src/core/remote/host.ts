/**
 * Commands that reach the host helper (conveyor-host.pyz, installed by every deploy into
 * <app>/.conveyor/) directly over SSH, without Ansible: fast rollback, status, history, lock
 * break. Also the parser of what the helper prints. Pure: commands are data.
 */
import type { Command } from '../image/engine';
import type { Profile } from '../config/profile';
import { sshOptions, SshSettings } from './ansible';
import { appPath } from '../config/names';

export const HOST_HELPER = 'conveyor-host.pyz';

export function hostHelperPath(profile: Profile, app: string): string {
  return `${appPath(profile, app)}/.conveyor/${HOST_HELPER}`;
}

/** Quotes one word for a POSIX shell (ssh passes its command through the remote user's shell). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The argv that runs `args` on the profile's host: directly (local) or over ssh. */
export function onHost(
  profile: Profile,
  ssh: SshSettings,
  remote: string[],
  stdin?: string,
): Command {
  const command: Command =
    profile.connection === 'local'
      ? { argv: remote }
      : { argv: ['ssh', ...sshTo(profile, ssh), remote.map(shellQuote).join(' ')] };
  if (stdin !== undefined) command.stdin = stdin;
  return command;
}

/**
 * An SSH tunnel from 127.0.0.1:localPort here to 127.0.0.1:remotePort on the host (a colour's
 * port, which only the host reaches), open until the process ends; the profile's SSH settings.
 */
export function tunnelCommand(
  profile: Profile,
  ssh: SshSettings,
  localPort: number,
  remotePort: number,
): Command {
  return {
    argv: [
      'ssh',
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      `127.0.0.1:${localPort}:127.0.0.1:${remotePort}`,
      ...sshTo(profile, ssh),
    ],
  };
}

/** ssh's arguments for the profile's host: port, key, Conveyor's options, then `--` and the login. */
function sshTo(profile: Profile, ssh: SshSettings): string[] {
  return [
    '-p',
    String(profile.ssh_port),
    ...(ssh.keyFile ? ['-i', ssh.keyFile] : []),
    ...sshOptions(ssh).flatMap((o) => ['-o', o]),
    '--',
    `${profile.ssh_user}@${profile.ssh_host}`,
  ];
}

/**
 * Every subcommand of the host helper (src/host/conveyor_host/cli.py dispatches the same names; a
 * unit test holds the two together): what its first argument is, and what it does.
 */
export const HELPER_COMMANDS = {
  release: { first: 'plan', doc: 'carry out a plan file; registry login and secrets on stdin' },
  'release-worker': { first: 'plan', doc: '(started by release, detached)' },
  'switch-back': { first: 'plan', doc: 'fast rollback to the warm colour; the plan on stdin (-)' },
  status: { first: 'app', doc: 'one JSON object: state, proxy routes, lock, history' },
  history: { first: 'app', doc: 'the last N history entries' },
  follow: { first: 'app', doc: "a run's progress lines until its result" },
  hold: { first: 'app', doc: "the environment's lock while stdin stays open" },
  abort: { first: 'app', doc: 'a running canary goes back to stable' },
  promote: { first: 'app', doc: 'a running canary goes to every request' },
  'break-lock': { first: 'app', doc: 'break a lock whose holder is dead' },
  'drain-stop': { first: 'app', doc: '(started by a switch, in the background)' },
  maintenance: {
    first: 'plan',
    doc: "the edge's maintenance page on or off; the edge on stdin (-)",
  },
  'edge-certificate': {
    first: 'plan',
    doc: 'the certificate and key the edge obtained over ACME for a name; the edge on stdin (-)',
  },
  'edge-route': {
    first: 'plan',
    doc: "a name's route and certificate put on the edge without a release; settings on stdin (-)",
  },
  previews: {
    first: 'plan',
    doc: 'the previews of an app under a folder, listed (root and app given)',
  },
  'destroy-preview': {
    first: 'app',
    doc: "remove a preview: containers, the edge's route, its folder; settings on stdin",
  },
  'browser-gate': {
    first: 'app',
    doc: "the browser tests' verdict a release waits for before its switch (gate.e2e)",
  },
  'db-backup': {
    first: 'app',
    doc: "a verified backup of the app's database now; settings on stdin",
  },
  'db-restore': {
    first: 'app',
    doc: "the app's database put back from a kept backup (its name given); settings on stdin",
  },
  'release-bundle': {
    first: 'plan',
    doc: "a release's files, login and secrets on stdin, carried out (one SSH command)",
  },
} as const;

export type HelperCommand = keyof typeof HELPER_COMMANDS;

/**
 * The helper with one of its subcommands: after the app's folder, or after the plan (`-`: on
 * stdin) for the commands that carry out a plan.
 */
export function helperCommand(
  profile: Profile,
  app: string,
  ssh: SshSettings,
  command: HelperCommand,
  args: string[] = [],
  stdin?: string,
): Command {
  return onHost(profile, ssh, helperArgv(profile, app, command, args), stdin);
}

/** The helper's command line on the host (what helperCommand runs there). */
export function helperArgv(
  profile: Profile,
  app: string,
  command: HelperCommand,
  args: string[] = [],
): string[] {
  const first = HELPER_COMMANDS[command].first === 'plan' ? [] : [appPath(profile, app)];
  return [hostHelperPath(profile, app), command, ...first, ...args];
}

/** One line the helper prints: progress (`phase`, `pulled`, `repair`, ...) or the `result`. */
export interface HostEvent {
  event: string;
  status?: 'ok' | 'noop' | 'failed' | 'lock-held' | 'not-warm' | 'outdated';
  [key: string]: unknown;
}

export function parseHostEvents(text: string): HostEvent[] {
  const events: HostEvent[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      const e = JSON.parse(t) as HostEvent;
      if (e && typeof e.event === 'string') events.push(e);
    } catch {
      /* not one of the helper's lines */
    }
  }
  return events;
}

export function hostResult(events: HostEvent[]): HostEvent | undefined {
  return [...events].reverse().find((e) => e.event === 'result');
}
