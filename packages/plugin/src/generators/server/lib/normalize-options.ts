import { Tree } from '@nx/devkit';
import { PROFILES_DIR } from '../../../core/config/names';
import { parseProfile, profileFile, ProfileError } from '../../../core/config/profile';
import {
  DEPLOY_PATH,
  DEPLOY_USER,
  isProvider,
  nextCommands,
  Provider,
  PROVIDER_MODULES,
  PROVIDERS,
  profileOutputs,
  serverName,
} from '../../../core/server/server';
import type { ServerGeneratorSchema } from '../schema';
import { findApp, ServerOptionsError } from './find-app';

export interface NormalizedServerOptions {
  app: string;
  /** The app's root folder (apps/<app>, or under its --directory). */
  root: string;
  provider: Provider;
  profile: string;
  skipFormat: boolean;
}

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]*$/i;

/** Profiles the workspace has, for messages. */
function profilesHere(tree: Tree): string {
  const names = (tree.exists(PROFILES_DIR) ? tree.children(PROFILES_DIR) : [])
    .filter((f) => f.endsWith('.yml'))
    .map((f) => f.slice(0, -'.yml'.length))
    .sort();
  return names.length ? `Profiles: ${names.join(', ')}.` : `${PROFILES_DIR}/ has no profile.`;
}

/**
 * The profile must exist and deploy over SSH: the module's outputs are its variables, and a local
 * profile (this machine) has no server to make.
 */
function checkProfile(tree: Tree, profile: string): void {
  if (!PROFILE_NAME.test(profile)) {
    throw new ServerOptionsError(
      `--profile "${profile}" is not a profile name: use letters, digits, "-" and "_".`,
    );
  }
  const file = profileFile(profile);
  const text = tree.read(file, 'utf-8');
  if (text === null) {
    throw new ServerOptionsError(
      `--profile ${profile}: ${file} does not exist. ${profilesHere(tree)}`,
    );
  }
  let connection: string;
  try {
    // Only the connection is read: variables may be unset when the server does not exist yet.
    connection = parseProfile(profile, file, text, {}, { require: [] }).connection;
  } catch (error) {
    throw error instanceof ProfileError ? new ServerOptionsError(error.message) : error;
  }
  if (connection !== 'ssh') {
    throw new ServerOptionsError(
      `--profile ${profile}: ${file} deploys to this machine (connection ${connection}), so it has ` +
        `no server to make. Use a profile that deploys over SSH (connection: ssh), e.g. staging.`,
    );
  }
}

export function normalizeOptions(
  tree: Tree,
  schema: ServerGeneratorSchema,
): NormalizedServerOptions {
  const app = findApp(tree, schema.app);
  const provider = String(schema.provider ?? '');
  if (!isProvider(provider)) {
    throw new ServerOptionsError(
      `--provider must be one of ${PROVIDERS.join(', ')}, got "${provider}".`,
    );
  }
  const profile = String(schema.profile ?? 'staging').trim();
  checkProfile(tree, profile);
  return {
    app: app.project,
    root: app.root,
    provider,
    profile,
    skipFormat: schema.skipFormat ?? false,
  };
}

/** The variables of the templates in files/. */
export function templateVariables(o: NormalizedServerOptions): Record<string, unknown> {
  return {
    tmpl: '',
    app: o.app,
    profile: o.profile,
    m: PROVIDER_MODULES[o.provider],
    name: serverName(o.app, o.profile),
    outputs: profileOutputs(o.profile),
    deployUser: DEPLOY_USER,
    deployPath: DEPLOY_PATH,
    commands: nextCommands(o.app, o.profile),
  };
}
