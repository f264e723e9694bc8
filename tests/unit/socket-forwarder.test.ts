import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatForwards, parseForwards, SocketForwarder, startForwards } from '../../lib/net/socket-forwarder.js';

/** A TCP server that answers each line with `echo:<line>` and ends its side when the client ends. */
async function echoServer(): Promise<{ port: number; server: net.Server; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString();
      while (text.includes('\n')) {
        const at = text.indexOf('\n');
        socket.write(`echo:${text.slice(0, at)}\n`);
        text = text.slice(at + 1);
      }
    });
    // Replies after the client's half-close still reach it.
    socket.on('end', () => socket.end('bye\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, server, sockets };
}

/** Connects, writes `lines`, ends its writes, and reads everything until the other side closes. */
function exchange(connect: () => net.Socket, lines: string[]): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect();
    let text = '';
    let error: string | undefined;
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', (e) => (error = e.message));
    socket.on('close', () => resolve({ text, ...(error ? { error } : {}) }));
    socket.on('connect', () => socket.end(lines.map((l) => `${l}\n`).join('')));
  });
}

describe('SocketForwarder', () => {
  let dir: string;
  const closing: Array<() => Promise<void> | void> = [];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dan-fwd-'));
  });

  afterEach(async () => {
    for (const close of closing.splice(0).reverse()) await close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('carries bytes both ways, unix socket to TCP and TCP to unix socket, with the half-close passed on', async () => {
    const upstream = await echoServer();
    closing.push(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));
    const sock = path.join(dir, 'up.sock');
    // The host side of an isolated container, and the container side in front of it.
    const host = await SocketForwarder.start({ listen: { path: sock }, target: { host: '127.0.0.1', port: upstream.port }, socketMode: 0o666 });
    closing.push(() => host.close());
    const inside = await SocketForwarder.start({ listen: { host: '127.0.0.1', port: 0 }, target: { path: sock } });
    closing.push(() => inside.close());
    expect(statSync(sock).mode & 0o777).toBe(0o666);
    const address = inside.address;
    if ('path' in address) throw new Error('expected a TCP address');

    const big = 'x'.repeat(256 * 1024);
    const reply = await exchange(() => net.connect(address.port, '127.0.0.1'), ['ping', big, 'pong']);
    expect(reply).toEqual({ text: `echo:ping\necho:${big}\necho:pong\nbye\n` });
  });

  it('closes the client\'s connection when the target refuses it, and goes on serving', async () => {
    const closed = await echoServer();
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const forwarder = await SocketForwarder.start({ listen: { path: path.join(dir, 'refused.sock') }, target: { host: '127.0.0.1', port: closed.port } });
    closing.push(() => forwarder.close());
    for (let i = 0; i < 2; i++) {
      const reply = await exchange(() => net.connect(path.join(dir, 'refused.sock')), ['hello']);
      expect(reply.text).toBe('');
      expect(reply.error ?? '').not.toMatch(/ENOENT|ECONNREFUSED/);
    }
  });

  it('close() ends the connections it carries, stops listening and removes its socket file', async () => {
    const upstream = await echoServer();
    closing.push(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));
    const sock = path.join(dir, 'open.sock');
    const forwarder = await SocketForwarder.start({ listen: { path: sock }, target: { host: '127.0.0.1', port: upstream.port } });
    const client = net.connect(sock);
    const firstReply = new Promise<string>((resolve) => client.once('data', (chunk) => resolve(chunk.toString())));
    client.on('error', () => undefined);
    client.write('open\n');
    expect(await firstReply).toBe('echo:open\n');
    const clientClosed = new Promise<void>((resolve) => client.on('close', () => resolve()));

    await forwarder.close();
    await clientClosed;
    await expect.poll(() => upstream.sockets.size).toBe(0);
    expect(() => statSync(sock)).toThrow(/ENOENT/);
    const refused = await exchange(() => net.connect(sock), ['again']);
    expect(refused.error).toMatch(/ENOENT/);
  });

  it('replaces a stale socket file at its path, and refuses to replace any other file', async () => {
    const upstream = await echoServer();
    closing.push(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));
    const sock = path.join(dir, 'stale.sock');
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(sock, resolve));
    // A server that died without removing its socket leaves the file behind.
    stale.close();
    writeFileSync(path.join(dir, 'plain'), 'keep me');
    const forwarder = await SocketForwarder.start({ listen: { path: sock }, target: { host: '127.0.0.1', port: upstream.port } });
    closing.push(() => forwarder.close());
    expect((await exchange(() => net.connect(sock), ['x'])).text).toBe('echo:x\nbye\n');
    await expect(SocketForwarder.start({ listen: { path: path.join(dir, 'plain') }, target: { host: '127.0.0.1', port: upstream.port } }))
      .rejects.toThrow(/not a socket/);
  });

  it('close() leaves a socket another forwarder has put at its path since (a main that took its place)', async () => {
    const upstream = await echoServer();
    closing.push(() => new Promise<void>((resolve) => upstream.server.close(() => resolve())));
    const sock = path.join(dir, 'shared.sock');
    const before = await SocketForwarder.start({ listen: { path: sock }, target: { host: '127.0.0.1', port: upstream.port } });
    const after = await SocketForwarder.start({ listen: { path: sock }, target: { host: '127.0.0.1', port: upstream.port } });
    closing.push(() => after.close());
    await before.close();
    expect((await exchange(() => net.connect(sock), ['z'])).text).toBe('echo:z\nbye\n');
  });

  it('sends connections accepted after a change of target to the new one', async () => {
    const first = await echoServer();
    const second = await echoServer();
    closing.push(() => new Promise<void>((resolve) => first.server.close(() => resolve())));
    closing.push(() => new Promise<void>((resolve) => second.server.close(() => resolve())));
    const sock = path.join(dir, 'moved.sock');
    const forwarder = await SocketForwarder.start({ listen: { path: sock }, target: { host: '127.0.0.1', port: first.port } });
    closing.push(() => forwarder.close());
    forwarder.target = { host: '127.0.0.1', port: second.port };
    let served = 0;
    second.server.on('connection', () => served++);
    expect((await exchange(() => net.connect(sock), ['y'])).text).toBe('echo:y\nbye\n');
    expect(served).toBe(1);
  });

  it('a listen address in use is an error naming it, and startForwards closes the ones it had started', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    closing.push(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const port = (busy.address() as net.AddressInfo).port;
    const free = await SocketForwarder.start({ listen: { host: '127.0.0.1', port: 0 }, target: { path: path.join(dir, 'a.sock') } });
    const freePort = (free.address as { port: number }).port;
    await free.close();
    const specs = [
      { listen: { host: '127.0.0.1', port: freePort }, target: { path: path.join(dir, 'a.sock') } },
      { listen: { host: '127.0.0.1', port }, target: { path: path.join(dir, 'b.sock') } },
    ];
    await expect(startForwards(specs)).rejects.toThrow(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}.*EADDRINUSE`));
    // The first one was closed again: its port is free.
    const again = await SocketForwarder.start({ listen: specs[0]!.listen, target: specs[0]!.target });
    await again.close();
  });
});

describe('DAN_FORWARD', () => {
  it('reads host:port=/socket entries and writes them back the same', () => {
    const text = '127.0.0.1:6379=/run/dan/redis.sock,127.0.0.1:4011=/run/dan/model-gateway.sock';
    const specs = parseForwards(text);
    expect(specs).toEqual([
      { listen: { host: '127.0.0.1', port: 6379 }, target: { path: '/run/dan/redis.sock' } },
      { listen: { host: '127.0.0.1', port: 4011 }, target: { path: '/run/dan/model-gateway.sock' } },
    ]);
    expect(formatForwards(specs as Exclude<typeof specs, string>)).toBe(text);
    expect(parseForwards('')).toEqual([]);
  });

  it('names the entry it cannot read, and the form it wants', () => {
    for (const bad of ['6379=/run/dan/redis.sock', '127.0.0.1:6379=run/dan/redis.sock', '127.0.0.1:70000=/x.sock', '127.0.0.1:6379']) {
      expect(parseForwards(`127.0.0.1:1=/ok.sock,${bad}`)).toBe(`'${bad}' is not host:port=/absolute/socket/path, comma-separated (e.g. 127.0.0.1:6379=/run/dan/redis.sock)`);
    }
  });
});
