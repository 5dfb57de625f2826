import {
  addProjectConfiguration,
  ProjectConfiguration,
  readNxJson,
  TargetConfiguration,
  Tree,
  updateNxJson,
} from '@nx/devkit';
import { BUILD_INFO_FILE, DEFAULT_PROFILES, PLUGIN_NAME } from '../../../core/config/names';
import type { ImageSpec } from '../../../core/image/images';
import { SYNC_GENERATOR } from '../../sync/sync';
import { DEV_DB, devDatabase } from './dev-database';
import type { NormalizedAppOptions } from './normalize-options';

/** One configuration per profile; the default configuration is the local profile. */
function profileConfigurations(): Record<string, { profile: string }> {
  return Object.fromEntries(DEFAULT_PROFILES.map((profile) => [profile, { profile }]));
}

function run(command: string, cwd?: string): TargetConfiguration {
  return { executor: 'nx:run-commands', options: cwd ? { command, cwd } : { command } };
}

/** Targets every generated TypeScript project gets: test, lint, typecheck. */
function checkTargets(): Record<string, TargetConfiguration> {
  return {
    test: {
      ...run('vitest run', '{projectRoot}'),
      cache: true,
      inputs: ['default', '^production'],
    },
    lint: { ...run('eslint .', '{projectRoot}'), cache: true, inputs: ['default'] },
    typecheck: {
      ...run('tsc --noEmit -p tsconfig.json', '{projectRoot}'),
      cache: true,
      inputs: ['default'],
    },
  };
}

export function imageSpecs(o: NormalizedAppOptions): ImageSpec[] {
  const images: ImageSpec[] = [
    {
      component: 'backend',
      dockerfile: `${o.roots.backend}/Dockerfile`,
      context: [
        { from: `dist/${o.roots.backend}/main.js`, to: 'main.js' },
        ...(o.hasDatabase
          ? [
              { from: `dist/${o.roots.backend}/migrate.js`, to: 'migrate.js' },
              { from: `dist/${o.roots.backend}/migrations`, to: 'migrations' },
            ]
          : []),
        { from: `dist/${o.roots.backend}/${BUILD_INFO_FILE}`, to: BUILD_INFO_FILE },
      ],
    },
  ];
  if (o.hasFrontend) {
    images.push({
      component: 'frontend',
      dockerfile: `${o.roots.frontend}/Dockerfile`,
      context: [
        { from: `dist/${o.roots.frontend}`, to: 'html' },
        { from: `${o.roots.frontend}/nginx.conf`, to: 'nginx.conf' },
      ],
    });
  }
  return images;
}

export function backendProject(o: NormalizedAppOptions): ProjectConfiguration {
  const out = `dist/${o.roots.backend}`;
  return {
    root: o.roots.backend,
    sourceRoot: `${o.roots.backend}/src`,
    projectType: 'application',
    tags: ['conveyor', 'conveyor:backend', `conveyor:app:${o.name}`],
    targets: {
      build: o.hasDatabase
        ? {
            // The app and its migration runner, and the migrations they go with.
            executor: 'nx:run-commands',
            options: {
              commands: [
                `esbuild ${o.roots.backend}/src/main.ts ${o.roots.backend}/src/migrate.ts --bundle --platform=node --target=node20 --outdir=${out}`,
                `rm -rf ${out}/migrations && cp -R ${o.roots.backend}/migrations ${out}/migrations`,
              ],
              parallel: false,
            },
            cache: true,
            inputs: ['production', '^production'],
            outputs: [
              `{workspaceRoot}/${out}/main.js`,
              `{workspaceRoot}/${out}/migrate.js`,
              `{workspaceRoot}/${out}/migrations`,
            ],
          }
        : {
            ...run(
              `esbuild ${o.roots.backend}/src/main.ts --bundle --platform=node --target=node20 --outfile=${out}/main.js`,
            ),
            cache: true,
            inputs: ['production', '^production'],
            outputs: [`{workspaceRoot}/${out}/main.js`],
          },
      serve: o.hasDatabase
        ? {
            // Against the development database, migrated first (devDatabaseTargets).
            ...run(`${withDevDatabase(o)} node ${out}/main.js`),
            dependsOn: ['build', 'metrics-inject', 'migrate'],
            continuous: true,
          }
        : {
            ...run(`node ${out}/main.js`),
            dependsOn: ['build', 'metrics-inject'],
            continuous: true,
          },
      ...checkTargets(),
      'metrics-inject': {
        executor: `${PLUGIN_NAME}:metrics-inject`,
        options: {
          app: o.name,
          hasFrontend: o.hasFrontend,
          outputFile: `${out}/${BUILD_INFO_FILE}`,
          profile: 'local',
        },
        configurations: profileConfigurations(),
      },
      ...(o.hasDatabase ? devDatabaseTargets(o) : {}),
    },
  };
}

/**
 * DATABASE_URL_FILE for a command: the one of the shell when set (another database), else the
 * development database's URL file. In the command, not in the target's `env`: run-commands lets
 * `env` override the shell's variables.
 */
function withDevDatabase(o: NormalizedAppOptions): string {
  return `DATABASE_URL_FILE=\${DATABASE_URL_FILE:-${devDatabase(o).urlFile}}`;
}

/**
 * The development database (docker-compose.dev-db.yml) and the migrations on it: `serve` needs
 * them, so `nx serve <app>-backend` needs no other step. Neither is cached: both change a
 * database, which no input of Nx's cache sees.
 */
export function devDatabaseTargets(o: NormalizedAppOptions): Record<string, TargetConfiguration> {
  const db = devDatabase(o);
  return {
    [DEV_DB.target]: {
      // Starts it (again) and waits until it takes connections over TCP (pg_isready in it: compose
      // v1 has no --wait, and Podman runs no health check by itself); `:down` stops it, the volume stays.
      ...run(
        `${db.compose} up -d && i=0; until ${db.compose} exec -T postgres pg_isready -q -h 127.0.0.1 -U ${db.user} -d ${db.database}; do i=$((i+1)); if [ $i -ge 60 ]; then echo "the development database did not take connections within 60s" >&2; exit 1; fi; sleep 1; done`,
      ),
      configurations: { down: { command: `${db.compose} down` } },
      cache: false,
    },
    migrate: {
      // The bundled runner and the migrations the build copies beside it, as on a host.
      ...run(`${withDevDatabase(o)} node dist/${o.roots.backend}/migrate.js`),
      dependsOn: ['build', DEV_DB.target],
      cache: false,
    },
  };
}

export function frontendProject(o: NormalizedAppOptions): ProjectConfiguration {
  return {
    root: o.roots.frontend,
    sourceRoot: `${o.roots.frontend}/src`,
    projectType: 'application',
    tags: ['conveyor', 'conveyor:frontend', `conveyor:app:${o.name}`],
    targets: {
      build: {
        ...run('vite build', '{projectRoot}'),
        cache: true,
        inputs: ['production', '^production'],
        outputs: [`{workspaceRoot}/dist/${o.roots.frontend}`],
      },
      serve: { ...run('vite', '{projectRoot}'), continuous: true },
      ...checkTargets(),
    },
  };
}

/**
 * The app's browser tests (Playwright): `nx e2e <app>-e2e` against BASE_URL, the target inferred
 * from playwright.config.mjs by @nx/playwright/plugin (addPlaywrightPlugin); the deploy unit's
 * browser-test target runs it against a released environment.
 */
export function e2eProject(o: NormalizedAppOptions): ProjectConfiguration {
  const { lint, typecheck } = checkTargets();
  return {
    root: o.roots.e2e,
    sourceRoot: `${o.roots.e2e}/src`,
    projectType: 'application',
    tags: ['conveyor', 'conveyor:browser-test', `conveyor:app:${o.name}`],
    implicitDependencies: [o.projects.frontend],
    targets: {
      // Its answer depends on the app at BASE_URL, which no input of Nx's cache sees.
      e2e: { cache: false },
      lint,
      typecheck,
    },
  };
}

/** Playwright's targets inferred from each playwright.config.mjs (the way @nx/playwright's init sets it up). */
export function addPlaywrightPlugin(tree: Tree): void {
  const nxJson = readNxJson(tree) ?? {};
  const plugins = nxJson.plugins ?? [];
  const name = (p: (typeof plugins)[number]) => (typeof p === 'string' ? p : p.plugin);
  if (plugins.some((p) => name(p) === PLAYWRIGHT_PLUGIN)) return;
  updateNxJson(tree, {
    ...nxJson,
    plugins: [...plugins, { plugin: PLAYWRIGHT_PLUGIN, options: { targetName: 'e2e' } }],
  });
}

const PLAYWRIGHT_PLUGIN = '@nx/playwright/plugin';

export function deployProject(o: NormalizedAppOptions): ProjectConfiguration {
  const deployOptions = {
    profile: 'local',
    ansibleDir: `${o.roots.ansible}`,
    composeFile: `${o.roots.root}/docker-compose.staging.yml`,
    backendPort: o.backendPort,
    frontendPort: o.hasFrontend ? o.frontendPort : undefined,
    // The app's Postgres (a file in /run/secrets, never an environment variable; a profile with
    // a database service on the host makes it there) and the SQL migrations a deploy checks.
    ...(o.hasDatabase
      ? { secrets: ['DATABASE_URL'], migrations: `${o.roots.backend}/migrations` }
      : {}),
  };
  return {
    root: o.roots.root,
    projectType: 'application',
    tags: ['conveyor', 'conveyor:app', `conveyor:app:${o.name}`],
    implicitDependencies: o.hasFrontend
      ? [o.projects.backend, o.projects.frontend]
      : [o.projects.backend],
    targets: {
      'build-push': {
        executor: `${PLUGIN_NAME}:build-push`,
        options: { profile: 'local', images: imageSpecs(o) },
        configurations: profileConfigurations(),
      },
      deploy: {
        executor: `${PLUGIN_NAME}:deploy`,
        syncGenerators: [SYNC_GENERATOR],
        options: deployOptions,
        configurations: profileConfigurations(),
      },
      // Rollback, doctor and bootstrap read the app's ports, paths and strategy from deploy.
      rollback: {
        executor: `${PLUGIN_NAME}:rollback`,
        options: { profile: 'local' },
        configurations: profileConfigurations(),
      },
      status: {
        executor: `${PLUGIN_NAME}:status`,
        options: { profile: 'local', ansibleDir: deployOptions.ansibleDir },
        configurations: profileConfigurations(),
      },
      maintenance: {
        executor: `${PLUGIN_NAME}:maintenance`,
        options: { profile: 'local' },
        configurations: profileConfigurations(),
      },
      // A pull request's preview on the profile's hosts (--pr=<n>, --destroy, --prune).
      preview: {
        executor: `${PLUGIN_NAME}:preview`,
        options: { profile: 'local' },
        configurations: profileConfigurations(),
      },
      ...(o.hasFrontend
        ? {
            // The browser tests (<app>-e2e) against a released environment's page.
            'browser-test': {
              executor: `${PLUGIN_NAME}:browser-test`,
              options: { profile: 'local' },
              configurations: profileConfigurations(),
            },
          }
        : {}),
      ...(o.hasDatabase
        ? {
            // A verified backup now; the database put back from one (--from=<name>, see status).
            'db-backup': {
              executor: `${PLUGIN_NAME}:db-backup`,
              options: { profile: 'local' },
              configurations: profileConfigurations(),
            },
            'db-restore': {
              executor: `${PLUGIN_NAME}:db-restore`,
              options: { profile: 'local' },
              configurations: profileConfigurations(),
            },
          }
        : {}),
      history: {
        executor: `${PLUGIN_NAME}:history`,
        options: { profile: 'local', ansibleDir: deployOptions.ansibleDir },
        configurations: profileConfigurations(),
      },
      doctor: {
        executor: `${PLUGIN_NAME}:doctor`,
        options: { profile: 'local' },
        configurations: profileConfigurations(),
      },
      bootstrap: {
        executor: `${PLUGIN_NAME}:bootstrap`,
        options: { profile: 'local' },
        configurations: profileConfigurations(),
      },
      secrets: {
        executor: `${PLUGIN_NAME}:secrets`,
        options: { profile: 'local' },
        configurations: profileConfigurations(),
      },
    },
  };
}

export function addProjects(tree: Tree, o: NormalizedAppOptions): void {
  addProjectConfiguration(tree, o.projects.backend, backendProject(o));
  if (o.hasFrontend) {
    addProjectConfiguration(tree, o.projects.frontend, frontendProject(o));
    addProjectConfiguration(tree, o.projects.e2e, e2eProject(o));
    addPlaywrightPlugin(tree);
  }
  addProjectConfiguration(tree, o.projects.deploy, deployProject(o));
}
