import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseForwards } from '../../lib/net/socket-forwarder.js';
import { IsolatedNetwork } from '../../lib/spawner/isolated-network.js';

describe('IsolatedNetwork', () => {
  let root: string;
  let tmp: string;
  let network: IsolatedNetwork | undefined;

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'dan-iso-'));
    root = path.join(tmp, 'sockets');
  });

  afterEach(async () => {
    await network?.close();
    network = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it('gives a container its URLs on its own loopback, keeping user, password and path, and DAN_FORWARD to the sockets', async () => {
    network = IsolatedNetwork.open('net-a', undefined, root);
    const { env, socketDir } = await network.prepare({
      REDIS_URL: 'redis://agent:p%40ss@redis.internal:6390/2', ANTHROPIC_BASE_URL: 'http://127.0.0.1:41234', DAN_LOG_LEVEL: 'info',
    });
    expect(env).toEqual({
      REDIS_URL: 'redis://agent:p%40ss@127.0.0.1:6379/2',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:4011',
      DAN_LOG_LEVEL: 'info',
      DAN_FORWARD: '127.0.0.1:6379=/run/dan/redis.sock,127.0.0.1:4011=/run/dan/model-gateway.sock',
    });
    expect(parseForwards(env['DAN_FORWARD']!)).toHaveLength(2);
    // The folder other users cannot enter, and the network's own that a container's uid passes through.
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(path.dirname(socketDir)).toBe(root);
    expect(statSync(socketDir).mode & 0o777).toBe(0o711);
    for (const socket of ['redis.sock', 'model-gateway.sock']) {
      const stat = statSync(path.join(socketDir, socket));
      expect(stat.isSocket()).toBe(true);
      expect(stat.mode & 0o777).toBe(0o666);
    }
    // The same network id finds the same folder again (containers adopted after a restart keep their mount).
    expect(IsolatedNetwork.open('net-a', undefined, root).socketDir).toBe(socketDir);
    expect(IsolatedNetwork.open('net-b', undefined, root).socketDir).not.toBe(socketDir);
  });

  it('removes its folder when it closes, unless another main of the network serves sockets there', async () => {
    network = IsolatedNetwork.open('net-f', undefined, root);
    const other = IsolatedNetwork.open('net-f', undefined, root);
    const { socketDir } = await network.prepare({ REDIS_URL: 'redis://127.0.0.1:6390' });
    await other.prepare({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:4999' });
    await network.close();
    expect(readdirSync(socketDir)).toEqual(['model-gateway.sock']);
    await other.close();
    expect(existsSync(socketDir)).toBe(false);
    // A later start of the network makes it again.
    network = IsolatedNetwork.open('net-f', undefined, root);
    await network.prepare({ REDIS_URL: 'redis://127.0.0.1:6390' });
    expect(readdirSync(socketDir)).toEqual(['redis.sock']);
  });

  it('carries a connection to the socket on to the URL\'s host and port', async () => {
    const upstream = net.createServer((socket) => socket.end('+PONG\r\n'));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    try {
      network = IsolatedNetwork.open('net-c', undefined, root);
      const { socketDir } = await network.prepare({ REDIS_URL: `redis://127.0.0.1:${(upstream.address() as net.AddressInfo).port}` });
      const reply = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = net.connect(path.join(socketDir, 'redis.sock'));
        socket.on('data', (chunk) => (text += chunk.toString()));
        socket.on('error', reject);
        socket.on('close', () => resolve(text));
      });
      expect(reply).toBe('+PONG\r\n');
    } finally {
      upstream.close();
    }
  });

  it('refuses URLs it cannot carry, saying which settings to use instead', async () => {
    network = IsolatedNetwork.open('net-d', undefined, root);
    await expect(network.prepare({ REDIS_URL: 'rediss://agent:x@redis.example:6380' })).rejects.toThrow(/REDIS_URL uses rediss:.*DAN_DOCKER_NETWORK=host or a Docker network/);
    await expect(network.prepare({ ANTHROPIC_BASE_URL: 'https://gateway.example' })).rejects.toThrow(/ANTHROPIC_BASE_URL uses https:/);
    await expect(network.prepare({ REDIS_URL: '/var/run/redis.sock' })).rejects.toThrow(/REDIS_URL is not a URL/);
    await expect(network.prepare({ REDIS_URL: 'redis+sentinel://s1:26379,s2:26379/mymaster' })).rejects.toThrow(/REDIS_URL names Redis through Sentinel.*DAN_DOCKER_NETWORK=host or a Docker network/);
  });

  // Only root can give a folder to another user; CI runs as root.
  it.skipIf(process.getuid?.() !== 0)('refuses a socket folder another user owns', () => {
    mkdirSync(root, { mode: 0o700 });
    // Root may hand it to someone else: what a folder planted by another user looks like.
    chownSync(root, 1234, 1234);
    expect(() => IsolatedNetwork.open('net-e', undefined, root)).toThrow(/is not a folder of this user/);
  });
});
