import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetters } from '../../lib/redis/dead-letters.js';
import { submitTask } from '../../lib/redis/task-store.js';
import type { TestNetwork } from '../support/network.js';
import { startTestNetwork } from '../support/network.js';

let network: TestNetwork;
beforeAll(async () => {
  network = await startTestNetwork({ env: { DAN_CLIENTS: 'acme, Beta' } });
});
afterAll(async () => {
  await network?.stop();
});

/** Sends a backend task for `client` (as the HTTP API does: metadata.client_id) and waits for its end. */
async function run(client: string, context: Record<string, unknown>, domain = 'backend', description = 'Create a health endpoint'): Promise<Record<string, string>> {
  const { taskId } = await submitTask(network.redis, network.keys, {
    domain, description, context, extraMetadata: { client_id: client },
  });
  return network.waitFor(taskId);
}

describe("each client's workspace", () => {
  it("keeps client A's files from client B's task naming the same context.workspace, and refuses B's path to A's folder", async () => {
    const a = await run('acme', { workspace: 'shop' });
    expect(a['status'], a['error']).toBe('completed');
    const [file] = JSON.parse(a['output']!).files_created as string[];
    const aFile = path.join(network.workspace, 'clients', 'acme', 'shop', file!);
    expect(existsSync(aFile)).toBe(true);
    expect(existsSync(path.join(network.workspace, 'shop', file!))).toBe(false);
    writeFileSync(aFile, 'acme only\n');

    const b = await run('beta', { workspace: 'shop' });
    expect(b['status'], b['error']).toBe('completed');
    expect(JSON.parse(b['output']!).files_created).toEqual([file]);
    expect(existsSync(path.join(network.workspace, 'clients', 'beta', 'shop', file!))).toBe(true);
    expect(readFileSync(aFile, 'utf8')).toBe('acme only\n');

    const escape = await run('beta', { workspace: '../acme' });
    expect(escape['status']).toBe('failed');
    expect(escape['error']).toContain(`path '../acme' resolves outside the workspace ${path.join(network.workspace, 'clients', 'beta')}`);
    expect(readFileSync(aFile, 'utf8')).toBe('acme only\n');
  });

  it("runs a main task's sub-tasks in its client's workspace too", async () => {
    const parent = await run('acme', { workspace: 'app' }, 'main', 'Add user registration: a POST /api/users endpoint and a signup form');
    expect(parent['status'], parent['error']).toBe('completed');
    const output = JSON.parse(parent['output']!) as { files_created: string[]; domains_used: string[] };
    expect(output.domains_used).toEqual(['backend', 'frontend']);
    for (const file of output.files_created) expect(existsSync(path.join(network.workspace, 'clients', 'acme', 'app', file))).toBe(true);
    expect(existsSync(path.join(network.workspace, 'app'))).toBe(false);
  });

  it('dead-letters, unrun, a task of a client DAN_CLIENTS does not list, with its raw input and the reason', async () => {
    const gamma = await run('gamma', { workspace: 'shop' });
    expect(gamma['status']).toBe('failed');
    expect(JSON.parse(gamma['output']!).failure.code).toBe('unknown_client');
    const reason = 'unknown client "gamma" in metadata.client_id: this network serves default,acme,beta (DAN_CLIENTS); add the client there, or send it for one of those';
    expect(gamma['error']).toBe(`dead-lettered: ${reason}`);
    const letter = (await new DeadLetters(network.redis, network.keys).read('backend')).find((d) => d.taskId === gamma['task_id']);
    expect(letter?.reason).toBe(reason);
    expect(JSON.parse(letter!.raw).metadata.client_id).toBe('gamma');
    expect(existsSync(path.join(network.workspace, 'clients', 'gamma'))).toBe(false);
  });
});
