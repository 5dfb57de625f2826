/**
 * Ports: the one check of a port number for the whole plugin (profiles, generator options,
 * deploy options and their environment overrides), and the port plan of an app under blue-green.
 */
import { Color, COLORS, internalPort } from '../release/strategy';

export class PortError extends Error {
  override name = 'PortError';
}

/**
 * A TCP port: an integer from 1 to 65535, given as a number or as decimal digits
 * ("22", not "0x16", "1e3", "22.0" or ""). Returns undefined for anything else.
 */
export function parsePort(value: unknown): number | undefined {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) n = Number(value);
  else return undefined;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/**
 * The port in `value`, or a PortError naming what was given: `what` says where it comes from
 * (`--backendPort`, `config/profiles/staging.yml: key "ssh_port"`, `BACKEND_PORT`).
 */
export function validatePort(value: unknown, what: string): number {
  const port = parsePort(value);
  if (port === undefined) {
    throw new PortError(
      `${what} must be a port number (an integer from 1 to 65535), got "${String(value)}".`,
    );
  }
  return port;
}

interface PlannedPort {
  port: number;
  what: string;
}

/**
 * Every port an app takes on a host: its public ports and, under blue-green, the loopback port of
 * each colour (public + 10000 / + 20000, wrapped; see internalPort).
 */
export function portPlan(backendPort: number, frontendPort?: number): PlannedPort[] {
  const publicPorts: [string, number][] = [['backend', backendPort]];
  if (frontendPort !== undefined) publicPorts.push(['frontend', frontendPort]);
  const plan: PlannedPort[] = publicPorts.map(([component, port]) => ({
    port,
    what: `the ${component}'s public port`,
  }));
  for (const color of COLORS as readonly Color[]) {
    for (const [component, port] of publicPorts) {
      plan.push({
        port: internalPort(port, color),
        what: `the ${component}'s ${color} port (blue-green runs releases on public + ${color === 'blue' ? '10000' : '20000'})`,
      });
    }
  }
  return plan;
}

/**
 * Why the backend and frontend ports of one app cannot work together, or undefined when they can:
 * the public ports must differ, and no colour port may land on another port of the app.
 */
export function checkPortPlan(backendPort: number, frontendPort?: number): string | undefined {
  if (frontendPort !== undefined && backendPort === frontendPort) {
    return `The backend and frontend ports must differ (both are ${backendPort}).`;
  }
  const plan = portPlan(backendPort, frontendPort);
  for (let i = 0; i < plan.length; i++) {
    for (let j = 0; j < i; j++) {
      if (plan[i].port === plan[j].port) {
        return (
          `Ports ${backendPort} (backend) and ${frontendPort} (frontend) collide: ` +
          `${plan[i].what} is ${plan[i].port}, which is also ${plan[j].what}. Choose another port for one of them.`
        );
      }
    }
  }
  return undefined;
}
