import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { defaultMigrationsDir, loadMigrations, migrate, MigrationError, splitStatements, type Migration } from '../../src/db/migrate';
import { openDatabase } from '../../src/db/sqlite';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('migrate', () => {
  let dir: string;
  let migrationsDir: string;
  const opened: Database.Database[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-migrate-'));
    migrationsDir = join(dir, 'migrations');
    mkdirSync(migrationsDir);
  });
  afterEach(() => {
    opened.splice(0).forEach((db) => db.open && db.close());
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (name = 'test.db') => {
    const db = openDatabase(join(dir, name));
    opened.push(db);
    return db;
  };
  const write = (file: string, sql: string) => writeFileSync(join(migrationsDir, file), sql);
  const recorded = (db: Database.Database) =>
    db.prepare('SELECT file, checksum, applied_at FROM schema_migrations ORDER BY rowid').all() as {
      file: string;
      checksum: string;
      applied_at: string;
    }[];
  const tableExists = (db: Database.Database, name: string) =>
    db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(name) === 1;
  const schema = (db: Database.Database) =>
    db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name").all();

  describe('the project’s migrations', () => {
    it('given a fresh database, when migrated, then every file in migrations/ applies in name order and is recorded with its checksum; migrating again applies nothing', () => {
      const migrations = loadMigrations();
      const files = migrations.map((migration) => migration.file);
      expect(files.length).toBeGreaterThan(0);
      expect(files[0]).toBe('0001_event_store.sql');
      expect(files).toEqual([...files].sort());

      const db = open();
      expect(migrate(db)).toEqual(files);
      const rows = recorded(db);
      expect(rows.map((row) => row.file)).toEqual(files);
      expect(rows.map((row) => row.checksum)).toEqual(migrations.map((migration) => sha256(migration.sql)));
      for (const row of rows) expect(new Date(row.applied_at).toISOString()).toBe(row.applied_at);
      expect(tableExists(db, 'events')).toBe(true);

      const before = schema(db);
      expect(migrate(db)).toEqual([]);
      expect(recorded(db)).toEqual(rows);
      expect(schema(db)).toEqual(before);
      expect(loadMigrations(defaultMigrationsDir()).map((migration) => migration.file)).toEqual(files);
    });

    it('given the project’s migration files, when each is split and run statement by statement, then the schema equals running the whole file at once', () => {
      const byStatement = open('by-statement.db');
      const whole = open('whole.db');
      for (const { sql } of loadMigrations()) {
        for (const statement of splitStatements(sql)) byStatement.exec(statement);
        whole.exec(sql);
      }
      expect(schema(byStatement)).toEqual(schema(whole));
      expect(schema(whole).length).toBeGreaterThan(0);
    });
  });

  describe('ordering and recording', () => {
    it('given files written out of order, and files that are not migrations, when migrated, then the migrations apply in name order and the rest is ignored', () => {
      write('0002_fill_one.sql', "INSERT INTO one (id, note) VALUES (1, 'needs 0001 first');\n");
      write('0010_two.sql', 'CREATE TABLE two (id INTEGER PRIMARY KEY);\nINSERT INTO two SELECT id FROM one;\n');
      write('0001_one.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY, note TEXT);\n');
      write('README.md', 'not a migration');
      write('0003-dashes.sql', 'CREATE TABLE never (id INTEGER);');
      write('0004_Upper.sql', 'CREATE TABLE never (id INTEGER);');

      const db = open();
      expect(migrate(db, loadMigrations(migrationsDir))).toEqual(['0001_one.sql', '0002_fill_one.sql', '0010_two.sql']);
      expect(recorded(db).map((row) => row.file)).toEqual(['0001_one.sql', '0002_fill_one.sql', '0010_two.sql']);
      expect(db.prepare('SELECT id FROM two').pluck().all()).toEqual([1]);
      expect(tableExists(db, 'never')).toBe(false);
    });

    it('given applied migrations, when a new file is added, then only the new one applies', () => {
      write('0001_one.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY);');
      const db = open();
      expect(migrate(db, loadMigrations(migrationsDir))).toEqual(['0001_one.sql']);
      expect(migrate(db, loadMigrations(migrationsDir))).toEqual([]);

      write('0002_two.sql', 'CREATE TABLE two (id INTEGER PRIMARY KEY);');
      expect(migrate(db, loadMigrations(migrationsDir))).toEqual(['0002_two.sql']);
      expect(recorded(db).map((row) => row.file)).toEqual(['0001_one.sql', '0002_two.sql']);
    });
  });

  describe('failures', () => {
    it('given 0002 whose second statement is invalid, when migrated, then 0001 is applied, 0002 left no trace, and the MigrationError names the file and the failing statement', () => {
      write('0001_ok.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY);\n');
      write('0002_broken.sql', '-- the first statement is fine\nCREATE TABLE two (id INTEGER PRIMARY KEY);\nINSERT INTO missing_table (id) VALUES (1);\nCREATE TABLE three (id INTEGER);\n');
      const db = open();

      let error: unknown;
      try {
        migrate(db, loadMigrations(migrationsDir));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MigrationError);
      const failure = error as MigrationError;
      expect(failure.name).toBe('MigrationError');
      expect(failure.file).toBe('0002_broken.sql');
      expect(failure.statement).toBe('INSERT INTO missing_table (id) VALUES (1);');
      expect(failure.message).toContain('migration 0002_broken.sql failed at statement');
      expect(failure.message).toContain('INSERT INTO missing_table (id) VALUES (1);');
      expect(failure.message).toContain('no such table: missing_table');
      expect((failure.cause as Error).message).toContain('no such table: missing_table');

      expect(tableExists(db, 'one')).toBe(true);
      expect(tableExists(db, 'two')).toBe(false);
      expect(tableExists(db, 'three')).toBe(false);
      expect(recorded(db).map((row) => row.file)).toEqual(['0001_ok.sql']);
      expect(db.inTransaction).toBe(false);

      // Once fixed, it applies on the next run.
      write('0002_broken.sql', 'CREATE TABLE two (id INTEGER PRIMARY KEY);\nINSERT INTO one (id) VALUES (1);\n');
      expect(migrate(db, loadMigrations(migrationsDir))).toEqual(['0002_broken.sql']);
      expect(tableExists(db, 'two')).toBe(true);
    });

    it('given a failing migration whose first statement changes data, when migrated, then that change is rolled back too', () => {
      write('0001_ok.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY);\nINSERT INTO one (id) VALUES (1);\n');
      write('0002_broken.sql', 'INSERT INTO one (id) VALUES (2);\nSELEC nonsense;\n');
      const db = open();
      expect(() => migrate(db, loadMigrations(migrationsDir))).toThrow(MigrationError);
      expect(db.prepare('SELECT id FROM one').pluck().all()).toEqual([1]);
      expect(recorded(db).map((row) => row.file)).toEqual(['0001_ok.sql']);
    });

    it('given an applied migration whose file was changed afterwards, when migrated, then it is refused and nothing after it applies', () => {
      write('0001_one.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY);\n');
      const db = open();
      migrate(db, loadMigrations(migrationsDir));

      write('0001_one.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY, added TEXT);\n');
      write('0002_two.sql', 'CREATE TABLE two (id INTEGER PRIMARY KEY);\n');
      expect(() => migrate(db, loadMigrations(migrationsDir))).toThrow(
        'migration 0001_one.sql was changed after it was applied (checksum differs); add a new migration instead',
      );
      expect(tableExists(db, 'two')).toBe(false);
      expect(recorded(db).map((row) => row.file)).toEqual(['0001_one.sql']);
    });
  });

  describe('two connections migrating the same file', () => {
    it('given another connection applies a migration after this one has read schema_migrations, when this one reaches that migration, then it skips it instead of applying it twice', () => {
      write('0001_one.sql', 'CREATE TABLE one (id INTEGER PRIMARY KEY);\n');
      write('0002_two.sql', 'CREATE TABLE two (id INTEGER PRIMARY KEY);\n');
      const migrations = loadMigrations(migrationsDir);
      const first = open('shared.db');
      const second = open('shared.db');

      // Two processes opening a new database at once: `first` has read schema_migrations
      // (empty) and is about to take the write lock for 0001 when `second` applies
      // everything. Reading a migration's sql is the last step before that lock, so a
      // getter there runs `second` at exactly that point, deterministically.
      let raced = false;
      const racing: Migration[] = migrations.map(({ file, sql }) => ({
        file,
        get sql() {
          if (!raced) {
            raced = true;
            expect(migrate(second, migrations)).toEqual(['0001_one.sql', '0002_two.sql']);
          }
          return sql;
        },
      }));

      expect(() => migrate(first, racing)).not.toThrow();
      expect(raced).toBe(true);
      expect(recorded(first).map((row) => row.file)).toEqual(['0001_one.sql', '0002_two.sql']);
    });
  });
});

describe('splitStatements', () => {
  it('given plain statements, when split, then each ends at its semicolon, empty ones are dropped and a last one without a semicolon is kept', () => {
    expect(splitStatements('CREATE TABLE a (x);\n\n  INSERT INTO a VALUES (1);;\n SELECT * FROM a')).toEqual([
      'CREATE TABLE a (x);',
      'INSERT INTO a VALUES (1);',
      'SELECT * FROM a',
    ]);
    expect(splitStatements('  \n ')).toEqual([]);
    expect(splitStatements('')).toEqual([]);
  });

  it('given a trigger whose body has several statements, when split, then BEGIN … END stays one statement', () => {
    const trigger = [
      'CREATE TRIGGER log_insert AFTER INSERT ON a',
      'BEGIN',
      "  INSERT INTO log (msg) VALUES ('inserted');",
      '  UPDATE counter SET n = n + 1;',
      'END;',
    ].join('\n');
    expect(splitStatements(`CREATE TABLE a (x);\n${trigger}\nSELECT 1;`)).toEqual(['CREATE TABLE a (x);', trigger, 'SELECT 1;']);
  });

  it('given CASE … END inside and outside a trigger, when split, then the CASE’s END does not close the trigger and its semicolons stay inside', () => {
    const trigger = [
      'CREATE TEMP TRIGGER classify BEFORE INSERT ON a',
      'WHEN (SELECT CASE WHEN NEW.x > 0 THEN 1 ELSE 0 END)',
      'BEGIN',
      "  INSERT INTO log (msg) VALUES (CASE NEW.x WHEN 1 THEN 'one;' ELSE 'many;' END);",
      "  SELECT CASE WHEN NEW.x > 9 THEN RAISE(ABORT, 'too big; sorry') END;",
      'END;',
    ].join('\n');
    const standalone = "SELECT CASE WHEN 1 THEN 'yes;' ELSE 'no' END AS answer;";
    expect(splitStatements(`${trigger}\n${standalone}\nSELECT 2;`)).toEqual([trigger, standalone, 'SELECT 2;']);
  });

  it('given BEGIN outside a trigger, when split, then it is an ordinary statement', () => {
    expect(splitStatements('BEGIN TRANSACTION; CREATE TABLE b (x); COMMIT;')).toEqual(['BEGIN TRANSACTION;', 'CREATE TABLE b (x);', 'COMMIT;']);
  });

  it('given semicolons, dashes and keywords inside quotes and identifiers, when split, then the quoted text is kept intact', () => {
    const statements = [
      "CREATE TABLE \"odd;name\" ([semi;colon] TEXT DEFAULT 'a;b', `back;tick` TEXT, end_at TEXT, begin_at TEXT, case_no INTEGER);",
      "INSERT INTO \"odd;name\" VALUES ('it''s; fine -- not a comment /* nor this */', 'END; BEGIN; CASE', 'x', 'y', 1);",
    ];
    expect(splitStatements(statements.join('\n'))).toEqual(statements);
  });

  it('given comments holding semicolons and keywords, when split, then they neither end a statement nor open or close a trigger body', () => {
    const sql = [
      '-- header comment; with a semicolon',
      'CREATE TABLE c (x INTEGER); -- trailing; comment',
      '/* a block comment; BEGIN; CASE',
      '   over lines; */',
      'CREATE TRIGGER t AFTER INSERT ON c BEGIN',
      '  -- END; inside the body',
      '  INSERT INTO c VALUES (NEW.x + 1) /* END; */;',
      'END;',
      'SELECT 1; -- done',
    ].join('\n');
    const statements = splitStatements(sql);
    expect(statements).toHaveLength(3);
    expect(statements[0]).toBe('CREATE TABLE c (x INTEGER);');
    expect(statements[1]).toMatch(/^CREATE TRIGGER t AFTER INSERT ON c BEGIN\s+INSERT INTO c VALUES \(NEW\.x \+ 1\)\s*;\s*END;$/);
    expect(statements[2]).toBe('SELECT 1;');
  });

  it('given a script with a trigger, quotes and comments, when each split statement runs on its own, then the result is the same as running the script', () => {
    const script = [
      'CREATE TABLE t (v TEXT); -- values; kept',
      "CREATE TABLE log (msg TEXT DEFAULT 'none;' CHECK (msg <> 'x;y'));",
      '/* the trigger; */',
      'CREATE TRIGGER t_log AFTER INSERT ON t BEGIN',
      "  INSERT INTO log (msg) VALUES (CASE WHEN NEW.v LIKE '%;%' THEN 'semi: ' || NEW.v ELSE NEW.v END);",
      "  INSERT INTO log (msg) VALUES ('after;');",
      'END;',
      "INSERT INTO t VALUES ('a;b'), ('it''s');",
    ].join('\n');
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-split-'));
    const split = openDatabase(join(dir, 'split.db'));
    const whole = openDatabase(join(dir, 'whole.db'));
    try {
      for (const statement of splitStatements(script)) split.exec(statement);
      whole.exec(script);
      const rows = (db: Database.Database) => db.prepare('SELECT msg FROM log ORDER BY rowid').pluck().all();
      expect(rows(split)).toEqual(['semi: a;b', 'after;', "it's", 'after;']);
      expect(rows(split)).toEqual(rows(whole));
    } finally {
      split.close();
      whole.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
