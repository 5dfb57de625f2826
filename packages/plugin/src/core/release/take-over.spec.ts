import type { Profile } from '../config/profile';
import { takeOverOf } from './release-plan';

const profile = { name: 'staging', deploy_path: '/srv/new' } as Profile;

describe('taking over a release from another folder (--replaceAbandoned, --moveFrom)', () => {
  it('is nothing unless asked', () => {
    expect(takeOverOf({}, profile, 'shop')).toBeUndefined();
    expect(takeOverOf({ replaceAbandoned: false }, profile, 'shop')).toBeUndefined();
  });

  it('an abandoned release, or a move from the old deploy_path to the app folder in it', () => {
    expect(takeOverOf({ replaceAbandoned: true }, profile, 'shop')).toEqual({ kind: 'abandoned' });
    expect(takeOverOf({ moveFrom: '/srv/old/' }, profile, 'shop')).toEqual({
      kind: 'move',
      from: '/srv/old/shop',
    });
  });

  it('refuses both at once, a relative or empty path, and the current deploy_path', () => {
    expect(() =>
      takeOverOf({ replaceAbandoned: true, moveFrom: '/srv/old' }, profile, 'shop'),
    ).toThrow('exclude each other');
    expect(() => takeOverOf({ moveFrom: 'old' }, profile, 'shop')).toThrow(
      '--moveFrom must be the old deploy_path, an absolute path (got "old")',
    );
    expect(() => takeOverOf({ moveFrom: ' ' }, profile, 'shop')).toThrow('absolute path');
    expect(() => takeOverOf({ moveFrom: '/srv/new' }, profile, 'shop')).toThrow(
      "is the profile's deploy_path already",
    );
  });
});
