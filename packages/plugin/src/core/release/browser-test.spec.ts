import { releasedPage } from './browser-test';
import type { Profile } from '../config/profile';

const profile = {
  ssh_host: 'staging.example.com',
  tls: 'off',
  edge_https_port: 443,
} as Profile;
const model = (p: Partial<Profile>, ports: { backend: number; frontend?: number }) => ({
  app: 'shop',
  hosts: [{ name: 'web-1', profile: { ...profile, ...p }, ports }],
});

describe("a released environment's page", () => {
  it("is the edge's https address with a domain, the port only when it is not 443", () => {
    const ports = { backend: 8080, frontend: 5173 };
    expect(releasedPage(model({ domain: 'shop.example.com', tls: 'acme' }, ports))).toBe(
      'https://shop.example.com',
    );
    expect(
      releasedPage(model({ domain: 'shop.test', tls: 'custom', edge_https_port: 18443 }, ports)),
    ).toBe('https://shop.test:18443');
  });

  it("is the frontend's public port on the first host without one (or with tls: off)", () => {
    expect(releasedPage(model({}, { backend: 8080, frontend: 5173 }))).toBe(
      'http://staging.example.com:5173',
    );
    expect(releasedPage(model({ domain: 'x.test', tls: 'off' }, { backend: 1, frontend: 2 }))).toBe(
      'http://staging.example.com:2',
    );
    expect(releasedPage(model({ ssh_host: 'fe80::1' }, { backend: 1, frontend: 2 }))).toBe(
      'http://[fe80::1]:2',
    );
  });

  it('is none for a backend alone, saying so', () => {
    expect(() => releasedPage(model({}, { backend: 8080 }))).toThrow(
      'shop has no frontend: there is no page for browser tests.',
    );
  });
});
