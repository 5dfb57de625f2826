import type { ExecutorContext } from '@nx/devkit';
import { browserTestsMissing, runBrowserTests } from '../browser-tests';
import { loadProfile } from '../../core/config/profile';
import { releasedPage } from '../../core/release/browser-test';
import { profileName } from '../../core/release/deploy-model';
import { sshSettings } from '../../remote/connection';
import { readHostStatus } from '../../remote/helper';
import { loadDeployModel } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import { withDeployOptions } from '../deploy-target';
import type { BrowserTestExecutorSchema } from './schema';

/**
 * The app's browser tests against a released environment: the page the deploy serves (or
 * --baseUrl) must show the release that is live on the environment's first host (read there).
 * A failure fails the target: the generated workflow runs it on staging before production's
 * promotion.
 */
export default async function browserTest(
  own: BrowserTestExecutorSchema,
  context: ExecutorContext,
) {
  return conveyorExecutor(
    'browser-test',
    context,
    async ({ app, root, env, secrets, dir, say }) => {
      const options = withDeployOptions(own, context);
      const profile = loadProfile(root, profileName(options), env);
      const model = await loadDeployModel(root, app, options, profile, env, secrets);
      const page = own.baseUrl ?? releasedPage(model);
      const missing = browserTestsMissing(app, context);
      if (missing) throw new Error(missing);
      const host = model.hosts[0];
      const call = { profile: host.profile, app, ssh: sshSettings(profile, env, dir), secrets };
      const live = (await readHostStatus(call)).status?.current?.tag;
      if (!live) throw new Error(`${app} has no live release on ${host.name}: deploy it first.`);
      say(`Browser tests of ${app} at ${page}: the page must show ${live}.`);
      const passed = await runBrowserTests(context, app, page, live);
      say(
        passed
          ? `Browser tests of ${app} passed against ${live} at ${page}.`
          : `Browser tests of ${app} failed against ${live} at ${page}: see the report above and the screenshots under dist/.playwright/.`,
      );
      return passed;
    },
  );
}
