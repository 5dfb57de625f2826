/**
 * Blue-green: each release runs as a colour on loopback ports of its own; a proxy owns the
 * public ports and switches between colours without dropping connections.
 */
export type Color = 'blue' | 'green';
export const COLORS: readonly Color[] = ['blue', 'green'];

export interface ColorPorts {
  backend: number;
  frontend?: number;
}

const FIRST = 1024;
const SPAN = 65536 - FIRST;

/** The loopback port a colour uses for a public port: +10000 (blue) / +20000 (green), wrapped into 1024-65535. */
export function internalPort(publicPort: number, color: Color): number {
  const offset = color === 'blue' ? 10000 : 20000;
  return ((publicPort - FIRST + offset) % SPAN) + FIRST;
}

export function colorPorts(backendPort: number, frontendPort?: number): Record<Color, ColorPorts> {
  const of = (color: Color): ColorPorts =>
    frontendPort === undefined
      ? { backend: internalPort(backendPort, color) }
      : { backend: internalPort(backendPort, color), frontend: internalPort(frontendPort, color) };
  return { blue: of('blue'), green: of('green') };
}

export function otherColor(color: string | undefined): Color {
  return color === 'blue' ? 'green' : 'blue';
}
