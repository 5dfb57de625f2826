/**
 * The hosts of an environment and the order a release reaches them. Hosts come from the app's
 * Ansible inventory (`ansible-inventory --list`): one host per line in group [app], values the
 * profile gives unless the host sets its own (ansible_host, ansible_port, ansible_user,
 * conveyor_deploy_path, conveyor_backend_port, conveyor_frontend_port, and, where several hosts
 * share one machine, conveyor_compose_project and the edge's conveyor_edge_name,
 * conveyor_edge_path, conveyor_edge_http_port and conveyor_edge_https_port). Pure.
 */
import { EDGE_NAME, Profile, sshHostError, sshUserError } from '../config/profile';
import { validatePort } from '../config/ports';

export interface FleetHost {
  /** The inventory name (what Ansible's --limit and the messages use). */
  name: string;
  /** The profile as this host sees it (its own ssh host, port, user, deploy path). */
  profile: Profile;
  backendPort: number;
  frontendPort?: number;
  /** Compose project prefix of its own (conveyor_compose_project: hosts that share one engine). */
  projectPrefix?: string;
}

export interface InventoryList {
  _meta?: { hostvars?: Record<string, Record<string, unknown>> };
  [group: string]: unknown;
}

/** A host variable, unless it is unset or still a template the profile fills (`{{ ... }}`). */
function own(vars: Record<string, unknown>, key: string): string | undefined {
  const v = vars[key];
  if (v === undefined || v === null || v === '') return undefined;
  const text = String(v);
  return text.includes('{{') ? undefined : text;
}

/** Where a host's value comes from, for messages: `<inventory file>: host <name>: <key>`. */
const whereIn = (file: string, host: string, key: string) => `${file}: host ${host}: ${key}`;

function ownPort(
  vars: Record<string, unknown>,
  key: string,
  host: string,
  file: string,
): number | undefined {
  const text = own(vars, key);
  return text === undefined ? undefined : validatePort(text, whereIn(file, host, key));
}

/**
 * A host's own SSH address or login, held to the profile's rule for ssh_host / ssh_user: a host
 * name or IP address, a POSIX user name; no spaces, shell metacharacters or leading "-".
 */
function ownSsh(
  vars: Record<string, unknown>,
  key: 'ansible_host' | 'ansible_user',
  host: string,
  file: string,
): string | undefined {
  const text = own(vars, key);
  if (text === undefined) return undefined;
  const problem = (key === 'ansible_host' ? sshHostError : sshUserError)(text);
  if (problem) throw new Error(`${whereIn(file, host, key)} is "${text}": ${problem}`);
  return text;
}

/**
 * A host's own edge (hosts that share one machine: each edge its container, folder and ports),
 * held to the profile's rules for the same keys.
 */
function hostEdge(
  vars: Record<string, unknown>,
  host: string,
  profile: Profile,
  file: string,
): Pick<Profile, 'edge_name' | 'edge_path' | 'edge_http_port' | 'edge_https_port'> {
  const name = own(vars, 'conveyor_edge_name');
  if (name !== undefined && !EDGE_NAME.test(name))
    throw new Error(
      `${whereIn(file, host, 'conveyor_edge_name')} is "${name}": a container name (lower-case letters, digits, "-" and "_").`,
    );
  const path = own(vars, 'conveyor_edge_path');
  if (path !== undefined && !path.startsWith('/'))
    throw new Error(
      `${whereIn(file, host, 'conveyor_edge_path')} must be an absolute path, got "${path}".`,
    );
  return {
    edge_name: name ?? profile.edge_name,
    edge_path: path ?? profile.edge_path,
    edge_http_port: ownPort(vars, 'conveyor_edge_http_port', host, file) ?? profile.edge_http_port,
    edge_https_port:
      ownPort(vars, 'conveyor_edge_https_port', host, file) ?? profile.edge_https_port,
  };
}

/**
 * A host's ports: its own `conveyor_backend_port` / `conveyor_frontend_port`, else the app's (a
 * frontend port only for an app with a frontend). The one rule, for deploys and for the scrape
 * targets the monitoring generator writes.
 */
export function hostPorts(
  vars: Record<string, unknown>,
  host: string,
  ports: { backendPort: number; frontendPort?: number },
  file = 'the inventory',
): { backendPort: number; frontendPort?: number } {
  const backendPort = ownPort(vars, 'conveyor_backend_port', host, file) ?? ports.backendPort;
  if (ports.frontendPort === undefined) return { backendPort };
  return {
    backendPort,
    frontendPort: ownPort(vars, 'conveyor_frontend_port', host, file) ?? ports.frontendPort,
  };
}

export function fleetHosts(
  inventory: InventoryList,
  group: string,
  profile: Profile,
  ports: { backendPort: number; frontendPort?: number },
  /** The inventory as messages name it (e.g. apps/shop/infra/ansible/inventory/staging). */
  file = 'the inventory',
): FleetHost[] {
  const entry = inventory[group] as { hosts?: string[] } | undefined;
  // An inventory without that group (the monitoring stack's is [monitoring]): every host it lists.
  const names = entry?.hosts ?? [
    ...new Set(
      Object.entries(inventory)
        .filter(([g]) => g !== '_meta' && g !== 'all')
        .flatMap(([, v]) => (v as { hosts?: string[] }).hosts ?? []),
    ),
  ];
  if (names.length === 0)
    throw new Error(`The inventory has no host in group [${group}] for profile "${profile.name}".`);
  const hostvars = inventory._meta?.hostvars ?? {};
  return names.map((name) => {
    const vars = hostvars[name] ?? {};
    return {
      name,
      profile: {
        ...profile,
        ssh_host: ownSsh(vars, 'ansible_host', name, file) ?? profile.ssh_host,
        ssh_port: ownPort(vars, 'ansible_port', name, file) ?? profile.ssh_port,
        ssh_user: ownSsh(vars, 'ansible_user', name, file) ?? profile.ssh_user,
        deploy_path: own(vars, 'conveyor_deploy_path') ?? profile.deploy_path,
        ...hostEdge(vars, name, profile, file),
      },
      ...hostPorts(vars, name, ports, file),
      projectPrefix: own(vars, 'conveyor_compose_project'),
    };
  });
}

/**
 * Cumulative host counts of each batch: `"1, 25%, 100%"` over 8 hosts gives [1, 2, 8]. A batch
 * never shrinks, the last one always covers every host, and empty steps are dropped.
 */
export function batchSizes(total: number, spec: string): number[] {
  const sizes: number[] = [];
  for (const raw of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(%?)$/.exec(raw);
    if (!m)
      throw new Error(
        `rollout_batches: "${raw}" is not a host count or a percentage (e.g. 1, 25%, 100%).`,
      );
    const n = m[2] ? Math.ceil((Number(m[1]) / 100) * total) : Number(m[1]);
    const size = Math.min(Math.max(n, 1), total);
    if (sizes.length === 0 || size > sizes[sizes.length - 1]) sizes.push(size);
  }
  if (sizes.length === 0 || sizes[sizes.length - 1] < total) sizes.push(total);
  return sizes;
}

/** The hosts of each batch, in inventory order. */
export function batches<T>(hosts: T[], spec: string): T[][] {
  const out: T[][] = [];
  let from = 0;
  for (const upTo of batchSizes(hosts.length, spec)) {
    out.push(hosts.slice(from, upTo));
    from = upTo;
  }
  return out;
}
