/**
 * gate.e2e: when a host's new colour has passed its own gate it waits (the helper's
 * `browser-gate` event) for a verdict before the switch. This runs the app's browser tests
 * against that colour's frontend (through an SSH tunnel: the colour's ports listen on the host's
 * loopback only) and writes the verdict there; a failure stops the release, the live one serves on.
 */
import type { ExecutorContext } from '@nx/devkit';
import { tunnelCommand } from '../../../core/remote/host';
import type { SshSettings } from '../../../core/remote/ansible';
import type { HostEvent } from '../../../core/remote/host';
import type { DeployHost } from '../../../core/release/deploy-model';
import type { ReleasePlan } from '../../../core/release/release-plan';
import { askHelper } from '../../../remote/helper';
import { freeLocalPort, openTunnel } from '../../../shell/tunnel';
import { runBrowserTests } from '../../browser-tests';

export interface BrowserGate {
  onEvent: (host: DeployHost, plan: ReleasePlan, e: HostEvent) => void;
  /** Waits for every verdict started (a release's result can come before its writer ends). */
  settled: () => Promise<void>;
}

export function browserGate(
  context: ExecutorContext,
  run: { app: string; ssh: SshSettings; secrets: string[] },
  say: (text: string) => void,
): BrowserGate {
  const pending: Promise<void>[] = [];
  const judge = async (host: DeployHost, plan: ReleasePlan, e: HostEvent) => {
    const port = Number(e['port']);
    const tag = String(e['tag']);
    const call = { profile: host.profile, app: run.app, ssh: run.ssh, secrets: run.secrets };
    let verdict = 'fail the browser tests did not run';
    let tunnel: { close: () => void } | undefined;
    try {
      let page = `http://127.0.0.1:${port}`;
      if (host.profile.connection !== 'local') {
        const local = await freeLocalPort();
        tunnel = await openTunnel(tunnelCommand(host.profile, run.ssh, local, port), local);
        page = `http://127.0.0.1:${local}`;
      }
      say(
        `gate.e2e: browser tests of ${run.app} ${tag} against its new colour on ${host.name} (port ${port}).`,
      );
      const passed = await runBrowserTests(context, run.app, page, tag);
      verdict = passed
        ? 'pass'
        : 'fail see the browser test report in the deploy output and the screenshots under dist/.playwright/';
    } catch (error) {
      verdict = `fail ${(error as Error).message}`;
    } finally {
      tunnel?.close();
    }
    say(`gate.e2e on ${host.name}: ${verdict === 'pass' ? 'passed' : 'FAILED'}.`);
    const [word, ...why] = verdict.split(' ');
    await askHelper(call, 'browser-gate', [plan.run_id, word, ...why]);
  };
  return {
    onEvent: (host, plan, e) => {
      if (e.event === 'browser-gate') pending.push(judge(host, plan, e));
    },
    settled: async () => {
      await Promise.all(pending);
    },
  };
}
