import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { runProcess, type ProcessRun } from '../support/run-process.js';

/**
 * What another local user, and the process table, see of a `dan` process on this host: the
 * checks the audit made by hand with `ss -ltnp`, `ps -eo args`, `ls -l` and `setpriv`.
 */

/** The uid the audit used for "another local user" (nobody); we run as root, so setpriv can drop to it. */
export const NOBODY = 65534;

/** Runs a program as nobody, with no supplementary groups, the way the audit's `setpriv` did. */
export function asNobody(program: string, args: string[], options: { cwd?: string } = {}): Promise<ProcessRun> {
  return runProcess('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', program, ...args], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, ...options,
  });
}

/** The pid and every descendant of it, from /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command name in parentheses: state, then ppid.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // It exited while we looked.
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []));
  return tree;
}

export interface ListeningSocket {
  /** `127.0.0.1`, `0.0.0.0`, `::1`, `::`, or the raw hex of another address. */
  address: string;
  port: number;
}

const ADDRESSES: Readonly<Record<string, string>> = {
  '0100007F': '127.0.0.1', '00000000': '0.0.0.0',
  '00000000000000000000000001000000': '::1', '00000000000000000000000000000000': '::',
  '0000000000000000FFFF00000100007F': '127.0.0.1',
};

/** The TCP sockets the processes listen on, read from /proc/net/tcp{,6} (what `ss -ltnp` shows). */
export function listeningSockets(pids: readonly number[]): ListeningSocket[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode) inodes.add(inode);
      } catch {
        // Closed while we looked.
      }
    }
  }
  const sockets: ListeningSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const row of readFileSync(table, 'utf8').trim().split('\n').slice(1)) {
      const fields = row.trim().split(/\s+/);
      const [hexAddress, hexPort] = (fields[1] ?? '').split(':');
      // State 0A is LISTEN; field 9 is the socket's inode.
      if (fields[3] !== '0A' || !inodes.has(fields[9] ?? '')) continue;
      sockets.push({ address: ADDRESSES[hexAddress ?? ''] ?? hexAddress ?? '', port: parseInt(hexPort ?? '0', 16) });
    }
  }
  return sockets;
}

/** Every folder and file under `dir` with its permission bits, for "who else may read this". */
export function modesUnder(dir: string): { file: string; mode: number; folder: boolean }[] {
  const found: { file: string; mode: number; folder: boolean }[] = [];
  const walk = (at: string): void => {
    let stat;
    try {
      stat = statSync(at);
    } catch {
      return; // Replaced while we looked (an append-only file rewrite).
    }
    found.push({ file: at, mode: stat.mode & 0o777, folder: stat.isDirectory() });
    if (stat.isDirectory()) for (const entry of readdirSync(at)) walk(path.join(at, entry));
  };
  walk(dir);
  return found;
}
