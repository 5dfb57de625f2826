import { holderFirst, withCertificate } from './shared-certificate';
import { SHARED_TLS_VALUES } from '../core/edge/edge';

type W = Parameters<typeof holderFirst>[1];
const w = (name: string) => ({ host: { name } }) as unknown as W;

describe('a fleet behind one name', () => {
  it("puts the holder alone first while the others wait for its first certificate, keeping the rest's order", () => {
    const [a, b, c, d] = ['web-1', 'web-2', 'web-3', 'web-4'].map(w);
    const names = (steps: W[][]) => steps.map((s) => s.map((x) => x.host.name));
    expect(
      names(
        holderFirst(
          [
            [a, b],
            [c, d],
          ],
          a,
        ),
      ),
    ).toEqual([['web-1'], ['web-2'], ['web-3', 'web-4']]);
    expect(names(holderFirst([[a], [b, c, d]], a))).toEqual([
      ['web-1'],
      ['web-2', 'web-3', 'web-4'],
    ]);
    expect(names(holderFirst([[a, b, c, d]], a))).toEqual([['web-1'], ['web-2', 'web-3', 'web-4']]);
  });

  it("carries the copy beside the app's secrets, under names no secret file takes", () => {
    const copy = { cert: 'CERT', key: 'KEY' };
    expect(withCertificate({ API_KEY: 'k' }, copy)).toEqual({
      API_KEY: 'k',
      [SHARED_TLS_VALUES.cert]: 'CERT',
      [SHARED_TLS_VALUES.key]: 'KEY',
    });
    expect(withCertificate(undefined, undefined)).toBeUndefined();
    expect(withCertificate({ API_KEY: 'k' }, undefined)).toEqual({ API_KEY: 'k' });
  });
});
