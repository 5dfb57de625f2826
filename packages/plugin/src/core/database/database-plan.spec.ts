import { parseProfile } from '../config/profile';
import { checkMigrations, databasePlan, sentSecrets } from './database-plan';

const profile = (extra = '') =>
  parseProfile(
    'staging',
    'config/profiles/staging.yml',
    `registry: r.example.com\nregistry_namespace: shop\nssh_host: h\nssh_user: deploy\ndeploy_path: /srv\ncompose_command: docker compose\n${extra}`,
    {},
  );

describe('the database part of a release plan', () => {
  it('a deploy carries every migration with its breaking statements, read by the parser', async () => {
    const checked = await checkMigrations([
      {
        name: '1_init',
        sql: '-- Up Migration\nCREATE TABLE notes (id int);\n-- Down Migration\nDROP TABLE notes;',
      },
      { name: '2_drop', sql: 'ALTER TABLE notes DROP COLUMN body;' },
    ]);
    expect(checked['1_init']).toEqual([]);
    expect(checked['2_drop']).toEqual([
      expect.stringMatching(
        /^2_drop: `ALTER TABLE notes DROP COLUMN body` drops column notes\.body\. Safe way: /,
      ),
    ]);
    const plan = databasePlan({
      profile: profile(),
      action: 'deploy',
      checked,
      allowBreaking: true,
    });
    expect(plan).toEqual({
      kind: 'service',
      image: 'postgres:17',
      name: 'app',
      user: 'app',
      keep: 7,
      migrate: {
        service: 'backend',
        command: ['node', 'migrate.js'],
        pending_command: ['node', 'migrate.js', '--pending'],
        checked,
        allow_breaking: true,
      },
    });
  });

  it('a rollback never migrates; a preview always has a service of its own', () => {
    const managed = profile(
      'database: managed\ndatabase_backups_keep: 3\ndatabase_backup_command: \'rclone copy "$$CONVEYOR_BACKUP_FILE" remote:\'\n',
    );
    expect(databasePlan({ profile: managed, action: 'rollback' })).toEqual({
      kind: 'managed',
      image: 'postgres:17',
      name: 'app',
      user: 'app',
      keep: 3,
      backup_command: 'rclone copy "$CONVEYOR_BACKUP_FILE" remote:',
    });
    expect(
      databasePlan({ profile: managed, action: 'deploy', checked: {}, preview: true }).kind,
    ).toBe('service');
  });

  it('a migration Postgres cannot parse is refused, named', async () => {
    await expect(checkMigrations([{ name: '3_typo', sql: 'ALTER TABEL notes;' }])).rejects.toThrow(
      /^3_typo: Postgres cannot parse it/,
    );
  });

  it('with a service the host makes DATABASE_URL: it is not read or sent from here', () => {
    expect(sentSecrets(['DATABASE_URL', 'API_KEY'], 'service')).toEqual(['API_KEY']);
    expect(sentSecrets(['DATABASE_URL', 'API_KEY'], 'managed')).toEqual([
      'DATABASE_URL',
      'API_KEY',
    ]);
    expect(sentSecrets(['API_KEY'], undefined)).toEqual(['API_KEY']);
  });

  it('the profile refuses an unknown kind and a count of backups that keeps none', () => {
    expect(() => profile('database: sqlite\n')).toThrow(
      'config/profiles/staging.yml: key "database" must be "service" or "managed", got "sqlite".',
    );
    expect(() => profile('database_backups_keep: 0\n')).toThrow(
      /database_backups_keep" must be a whole number of backups from 1/,
    );
  });
});
