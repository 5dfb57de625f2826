/**
 * Where a released environment's page is, for its browser tests: decided from the deploy model,
 * as the deploy serves it. Pure.
 */
import { edgeUrl } from '../edge/edge';
import type { DeployModel } from './deploy-model';

/**
 * The page of the environment's first host: `https://<domain>` through the edge when the
 * environment has a name (tls not off), else `http://<host>:<frontend port>`. An app without a
 * frontend has no page to test.
 */
export function releasedPage(model: Pick<DeployModel, 'app' | 'hosts'>): string {
  const [host] = model.hosts;
  const p = host.profile;
  if (host.ports.frontend === undefined)
    throw new Error(`${model.app} has no frontend: there is no page for browser tests.`);
  if (p.domain && p.tls !== 'off')
    return edgeUrl({ domain: p.domain, https_port: p.edge_https_port });
  const address = p.ssh_host.includes(':') ? `[${p.ssh_host}]` : p.ssh_host;
  return `http://${address}:${host.ports.frontend}`;
}
