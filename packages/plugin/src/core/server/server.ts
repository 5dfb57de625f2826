/**
 * A server for an app from an empty cloud account: the cloud-init template that prepares it at its
 * first boot and one Terraform module per provider that makes it. What the generator writes and
 * the README and tests read comes from here. Pure.
 */
import { sshVars } from '../config/names';

export const PROVIDERS = ['aws', 'azure', 'gcp', 'hetzner'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** Relative to the app's root; the modules reach it as ${path.module}/../../cloud-init/... */
export const CLOUD_INIT_TEMPLATE = 'infra/cloud-init/user-data.yaml.tftpl';

export function moduleDir(provider: Provider): string {
  return `infra/terraform/${provider}`;
}

/**
 * The profile's defaults (init's config/profiles/<name>.yml: ssh_user, deploy_path), so a server
 * made with the module's defaults matches a profile whose variables are unset.
 */
export const DEPLOY_USER = 'deploy';
export const DEPLOY_PATH = '/opt/conveyor';

/** A variable of one provider's module beside the common ones (ssh keys, deploy user, name). */
export interface ModuleVariable {
  name: string;
  type: 'string' | 'number';
  description: string;
  /** Undefined: the variable is required. */
  default?: string | number;
}

export interface ProviderModule {
  /** For people: README titles and messages. */
  title: string;
  /** The provider's local name in required_providers and its registry source. */
  localName: string;
  source: string;
  /** A major version: `~> X.0` takes fixes and features, never a breaking major. */
  version: string;
  /** The image, said in the README. */
  image: string;
  variables: ModuleVariable[];
  /** The HCL expression of the server's public IPv4 address. */
  publicIp: string;
  /** How Terraform finds the account's credentials, for the README. */
  credentials: string;
}

export const PROVIDER_MODULES: Record<Provider, ProviderModule> = {
  aws: {
    title: 'AWS (EC2)',
    localName: 'aws',
    source: 'hashicorp/aws',
    version: '~> 5.0',
    image: "Debian 12, the newest of Debian's own AMIs (account 136693071363)",
    variables: [
      {
        name: 'region',
        type: 'string',
        description: 'AWS region of the server.',
        default: 'eu-central-1',
      },
      {
        name: 'instance_type',
        type: 'string',
        description: 'EC2 instance type.',
        default: 't3.small',
      },
      {
        name: 'disk_gb',
        type: 'number',
        description: 'Size of the root disk in GiB.',
        default: 30,
      },
    ],
    publicIp: 'aws_eip.server.public_ip',
    credentials:
      'AWS credentials as the AWS CLI finds them (`aws configure`, or `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, or `AWS_PROFILE`)',
  },
  azure: {
    title: 'Azure (Virtual Machines)',
    localName: 'azurerm',
    source: 'hashicorp/azurerm',
    version: '~> 4.0',
    image: "Debian 12 (publisher Debian, offer debian-12, sku 12-gen2), Debian's own image",
    variables: [
      {
        name: 'location',
        type: 'string',
        description: 'Azure region of the server.',
        default: 'westeurope',
      },
      { name: 'size', type: 'string', description: 'Azure VM size.', default: 'Standard_B2s' },
      { name: 'disk_gb', type: 'number', description: 'Size of the OS disk in GiB.', default: 30 },
    ],
    publicIp: 'azurerm_public_ip.server.ip_address',
    credentials:
      '`az login`, and the subscription in `ARM_SUBSCRIPTION_ID` (azurerm 4 asks for it explicitly)',
  },
  gcp: {
    title: 'Google Cloud (Compute Engine)',
    localName: 'google',
    source: 'hashicorp/google',
    version: '~> 6.0',
    // Google's Debian images run Google's guest agent and have no cloud-init, so they would ignore
    // the user-data; Canonical's images read it, and bootstrap.yml takes Ubuntu as well as Debian.
    image:
      "Ubuntu 24.04 LTS (ubuntu-os-cloud), not Debian 12: Google's Debian images have no cloud-init and would ignore the user-data; bootstrap takes Ubuntu as well",
    variables: [
      { name: 'project', type: 'string', description: 'Google Cloud project the server goes to.' },
      {
        name: 'region',
        type: 'string',
        description: 'Region of the server and its address.',
        default: 'europe-west3',
      },
      {
        name: 'zone',
        type: 'string',
        description: 'Zone of the server.',
        default: 'europe-west3-a',
      },
      {
        name: 'machine_type',
        type: 'string',
        description: 'Compute Engine machine type.',
        default: 'e2-small',
      },
      {
        name: 'disk_gb',
        type: 'number',
        description: 'Size of the boot disk in GiB.',
        default: 30,
      },
    ],
    publicIp: 'google_compute_address.server.address',
    credentials: '`gcloud auth application-default login` (or `GOOGLE_APPLICATION_CREDENTIALS`)',
  },
  hetzner: {
    title: 'Hetzner Cloud',
    localName: 'hcloud',
    source: 'hetznercloud/hcloud',
    version: '~> 1.49',
    image: "Debian 12 (Hetzner's debian-12 image)",
    variables: [
      {
        name: 'location',
        type: 'string',
        description: 'Hetzner location (hcloud location list).',
        default: 'nbg1',
      },
      {
        name: 'server_type',
        type: 'string',
        description: 'Hetzner server type (hcloud server-type list).',
        default: 'cx22',
      },
    ],
    publicIp: 'hcloud_server.server.ipv4_address',
    credentials: 'an API token of the Hetzner Cloud project in `HCLOUD_TOKEN`',
  },
};

export function isProvider(value: string): value is Provider {
  return (PROVIDERS as readonly string[]).includes(value);
}

/**
 * The module's outputs are named after the profile's variables, so `terraform output -raw
 * STAGING_SSH_HOST` is the value the profile reads.
 */
export function profileOutputs(profile: string): {
  host: string;
  user: string;
  deployPath: string;
} {
  const v = sshVars(profile);
  return { host: v.host, user: v.user, deployPath: v.deployPath };
}

/** The server's default name: app and profile, valid for every provider (lower case, digits, "-"). */
export function serverName(app: string, profile: string): string {
  return `${app}-${profile}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
}

/** From an empty account to a deployed app: the three commands (the first in the module's folder). */
export function nextCommands(app: string, profile: string): string[] {
  return [
    'terraform init && terraform apply',
    `nx run ${app}:bootstrap --configuration=${profile}`,
    `nx run ${app}:deploy --configuration=${profile}`,
  ];
}
