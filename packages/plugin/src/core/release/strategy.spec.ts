import { colorPorts, internalPort, otherColor } from './strategy';

describe('blue-green ports', () => {
  it('puts each colour on its own loopback port', () => {
    expect(colorPorts(8080, 5173)).toEqual({
      blue: { backend: 18080, frontend: 15173 },
      green: { backend: 28080, frontend: 25173 },
    });
    expect(colorPorts(8080)).toEqual({ blue: { backend: 18080 }, green: { backend: 28080 } });
  });
  it('wraps high ports into the unprivileged range and never collides with the public port', () => {
    for (const p of [1024, 8080, 45536, 50000, 65535]) {
      for (const c of ['blue', 'green'] as const) {
        const q = internalPort(p, c);
        expect(q).toBeGreaterThanOrEqual(1024);
        expect(q).toBeLessThanOrEqual(65535);
        expect(q).not.toBe(p);
      }
      expect(internalPort(p, 'blue')).not.toBe(internalPort(p, 'green'));
    }
  });
  it('alternates colours, starting with blue', () => {
    expect(otherColor(undefined)).toBe('blue');
    expect(otherColor('')).toBe('blue');
    expect(otherColor('blue')).toBe('green');
    expect(otherColor('green')).toBe('blue');
  });
});
