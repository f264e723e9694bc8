import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DanError, InvalidInputError } from '../../lib/errors.js';
import { ElfDatabase } from '../../lib/elf/elf-database.js';
import { ELF_MIGRATIONS } from '../../lib/elf/elf-schema.js';
import { ElfMemory } from '../../lib/elf/elf-memory.js';
import { ElfStores, normalizeClientId } from '../../lib/elf/elf-stores.js';

function expectDanError(fn: () => unknown, code: string, text: string): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DanError);
    expect((error as DanError).code).toBe(code);
    expect((error as Error).message).toContain(text);
    return;
  }
  expect.unreachable(`expected a DanError ${code}`);
}

describe('ELF stores and databases', () => {
  let dir: string;
  let stores: ElfStores;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'elf-stores-'));
    stores = new ElfStores(dir);
  });

  afterEach(() => {
    stores.closeAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps each client's memory to itself", () => {
    const a = stores.get('client-a');
    const b = stores.get('client-b');
    a.recordHeuristic({ domain: 'backend', rule: 'Rotate the JWT signing keys monthly', source: 'person', confidence: 0.9 });
    a.recordOutcome({ taskId: 'same-id', domain: 'backend', status: 'failed', description: 'JWT rotation', error: 'JWT key missing', filesModified: ['src/jwt.ts'] });

    expect(a.search('JWT signing').heuristics).toHaveLength(1);
    expect(a.buildContext({ domain: 'backend', task: 'JWT signing keys' }).text).toContain('Rotate the JWT');
    expect(b.search('JWT signing')).toEqual({ heuristics: [], outcomes: [] });
    expect(b.buildContext({ domain: 'backend', task: 'JWT signing keys', files: ['src/jwt.ts'] }).text).toBe('');
    expect(b.hotspots()).toEqual([]);
    // The same task id is a new outcome for another client.
    expect(b.recordOutcome({ taskId: 'same-id', domain: 'backend', status: 'completed' })).toBe(true);
    expect(stores.get('client-a')).toBe(a);
    expect(a.file).toBe(path.join(dir, 'client-a.sqlite'));
    expect(b.file).toBe(path.join(dir, 'client-b.sqlite'));
    expect(stores.openClients().sort()).toEqual(['client-a', 'client-b']);
  });

  it('checks client ids and serves `default` when none is given', () => {
    expect(normalizeClientId(undefined)).toBe('default');
    expect(normalizeClientId('')).toBe('default');
    expect(normalizeClientId('Acme_1')).toBe('acme_1');
    for (const bad of ['../etc', 'a b', '-lead', 'x'.repeat(65), 'a/b', 42]) {
      expect(() => stores.get(bad)).toThrow(InvalidInputError);
      expect(() => stores.get(bad)).toThrow(/^client_id must be/);
    }
    expect(stores.get().file).toBe(path.join(dir, 'default.sqlite'));
  });

  it('refuses a client not on the allowed list', () => {
    const strict = new ElfStores(dir, { allowedClients: ['acme', 'Globex'] });
    try {
      expect(strict.get('globex').file).toBe(path.join(dir, 'globex.sqlite'));
      expect(() => strict.get('initech')).toThrow(InvalidInputError);
      expect(() => strict.get('initech')).toThrow(/client_id 'initech' is an unknown client/);
      expect(() => strict.get()).toThrow(/unknown client/);
      expect(existsSync(path.join(dir, 'initech.sqlite'))).toBe(false);
    } finally {
      strict.closeAll();
    }
  });

  it('refuses a file that is not a database, naming the file', () => {
    const file = path.join(dir, 'broken.sqlite');
    writeFileSync(file, Buffer.from('this is not sqlite at all, just some garbage bytes '.repeat(200)));
    expectDanError(() => stores.get('broken'), 'elf_db_corrupt', file);
    expectDanError(() => ElfMemory.open(file), 'elf_db_corrupt', file);
    expect(statSync(file).size).toBe(51 * 200); // left as it was, for a person to look at
  });

  it('tells a path that cannot be opened from a damaged file', () => {
    const notAFolder = path.join(dir, 'plain-file');
    writeFileSync(notAFolder, 'x');
    expectDanError(() => ElfMemory.open(path.join(notAFolder, 'memory.sqlite')), 'elf_db_unavailable', notAFolder);
  });

  it('refuses a database whose pages are damaged', () => {
    const file = path.join(dir, 'damaged.sqlite');
    const memory = ElfMemory.open(file);
    memory.batch(() => {
      for (let i = 0; i < 300; i++) memory.recordHeuristic({ domain: 'backend', rule: `Rule number ${i} about something`, source: 'model' });
    });
    memory.close();
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096 * 3, 0xa5), 0, 4096 * 3, 4096 * 2); // pages 3 to 5
    closeSync(fd);
    expectDanError(() => ElfMemory.open(file), 'elf_db_corrupt', file);
  });

  it('migrates once, keeps data across opens, and refuses a newer schema', () => {
    const file = path.join(dir, 'versions.sqlite');
    const first = ElfDatabase.open(file);
    expect(first.schemaVersion).toBe(ELF_MIGRATIONS.at(-1)?.version);
    first.close();
    const memory = ElfMemory.open(file);
    memory.recordHeuristic({ domain: 'backend', rule: 'Kept across opens', source: 'person' });
    memory.close();
    const again = ElfMemory.open(file);
    expect(again.listHeuristics().map((h) => h.rule)).toEqual(['Kept across opens']);
    again.close();

    ElfDatabase.open(file, { migrations: [...ELF_MIGRATIONS, { version: 99, sql: 'CREATE TABLE later (x INTEGER);' }] }).close();
    expectDanError(() => ElfDatabase.open(file), 'elf_db_newer', file);
  });
});
