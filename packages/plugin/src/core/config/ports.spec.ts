import { checkPortPlan, parsePort, PortError, portPlan, validatePort } from './ports';

describe('parsePort / validatePort', () => {
  it('accepts integers from 1 to 65535, as numbers or decimal digits', () => {
    for (const [value, port] of [
      [1, 1],
      [65535, 65535],
      ['22', 22],
      [' 8080 ', 8080],
      [8080, 8080],
    ] as const) {
      expect(parsePort(value)).toBe(port);
    }
  });

  it('refuses everything else', () => {
    for (const value of [
      0,
      65536,
      -1,
      22.5,
      NaN,
      Infinity,
      '',
      ' ',
      'abc',
      '0x16',
      '1e3',
      '22.0',
      '-22',
      '+22',
      '65536',
      undefined,
      null,
      true,
      [22],
    ]) {
      expect(parsePort(value)).toBeUndefined();
    }
  });

  it('names what was given when it refuses', () => {
    expect(validatePort('22', 'SSH port')).toBe(22);
    expect(() => validatePort('0x16', 'config/profiles/staging.yml: key "ssh_port"')).toThrow(
      new PortError(
        'config/profiles/staging.yml: key "ssh_port" must be a port number (an integer from 1 to 65535), got "0x16".',
      ),
    );
    expect(() => validatePort(70000, '--backendPort')).toThrow(
      '--backendPort must be a port number (an integer from 1 to 65535), got "70000".',
    );
  });
});

describe('checkPortPlan', () => {
  it('accepts the defaults and a backend alone', () => {
    expect(checkPortPlan(8080, 5173)).toBeUndefined();
    expect(checkPortPlan(8080)).toBeUndefined();
    expect(checkPortPlan(65535)).toBeUndefined();
    expect(checkPortPlan(80, 443)).toBeUndefined();
  });

  it('refuses equal public ports', () => {
    expect(checkPortPlan(8080, 8080)).toBe(
      'The backend and frontend ports must differ (both are 8080).',
    );
  });

  it("refuses a colour port on the other component's public port", () => {
    // The backend's blue port is 8080 + 10000 = 18080: the frontend's public port.
    expect(checkPortPlan(8080, 18080)).toBe(
      'Ports 8080 (backend) and 18080 (frontend) collide: ' +
        "the backend's blue port (blue-green runs releases on public + 10000) is 18080, " +
        "which is also the frontend's public port. Choose another port for one of them.",
    );
    expect(checkPortPlan(28080, 8080)).toMatch(
      /the frontend's green port .* is 28080, which is also the backend's public port/,
    );
  });

  it('refuses colour ports of the two components that meet', () => {
    // A port below 1024 is not wrapped the way the others are: 500 + 10000 = 10500, and
    // 55012 + 20000 wraps to 10500 too, while no public port is hit.
    expect(checkPortPlan(500, 55012)).toMatch(
      /the frontend's green port .* is 10500, which is also the backend's blue port/,
    );
  });

  it('agrees with the plan it checks: no two ports of an accepted plan are equal', () => {
    for (const [b, f] of [
      [8080, 5173],
      [3000, 3001],
      [65000, 1024],
      [1, 2],
    ]) {
      expect(checkPortPlan(b, f)).toBeUndefined();
      const ports = portPlan(b, f).map((p) => p.port);
      expect(new Set(ports).size).toBe(ports.length);
    }
  });
});
