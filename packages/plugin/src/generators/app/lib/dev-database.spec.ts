import { appRoots } from '../../../core/config/names';
import { devDatabase, devDatabasePort } from './dev-database';

describe('devDatabasePort', () => {
  it("follows the app's backend port: 5434 for the first app, ten up for each next one", () => {
    expect([8080, 8090, 8100].map(devDatabasePort)).toEqual([5434, 5444, 5454]);
    expect(devDatabasePort(9000)).toBe(6354);
  });

  it('stays out of the privileged ports', () => {
    expect(devDatabasePort(3000)).toBe(10354);
    expect(devDatabasePort(3669)).toBe(11023);
    expect(devDatabasePort(3670)).toBe(1024);
  });
});

describe('devDatabase', () => {
  it('names the files, the URL (IPv4 loopback) and the compose command of one app', () => {
    const db = devDatabase({ name: 'shop', roots: appRoots('apps', 'shop'), backendPort: 8090 });
    expect(db).toMatchObject({
      port: 5444,
      composeFile: 'apps/shop/docker-compose.dev-db.yml',
      urlFile: 'apps/shop/dev-db.url',
      url: 'postgres://dev:dev-only-not-a-secret@127.0.0.1:5444/shop',
      compose:
        '${LOCAL_COMPOSE_COMMAND:-docker compose} -p shop-dev-db -f apps/shop/docker-compose.dev-db.yml',
    });
  });
});
