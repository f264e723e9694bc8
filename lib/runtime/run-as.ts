import { SETTINGS } from '../config/settings.js';
import { DanError } from '../errors.js';

/** The parts of `process` a switch of user needs, so the decision is testable without root. */
export interface UserSwitch {
  getuid(): number;
  setgroups(groups: number[]): void;
  setgid(gid: number): void;
  setuid(uid: number): void;
}

/**
 * Called first thing by an agent, before it reads a file or opens a connection. A domain container
 * starts as root with only the SETUID and SETGID capabilities so that the agent can switch to
 * DAN_RUN_AS (uid:gid) here: after the kernel changes a root process's uid it drops every capability
 * and marks the process non-dumpable, so the commands it runs as that same uid cannot read its
 * /proc/<pid>/environ (the Redis password, the gateway token) nor trace it, and tini (PID 1) stays
 * root, so /proc/1/environ is closed to them too. Without DAN_RUN_AS a root agent in a container
 * refuses to start rather than give its commands root; outside a container nothing changes.
 * Returns the uid the agent now runs as.
 */
export function switchToRunAs(env: NodeJS.ProcessEnv, inContainer: () => boolean, user: UserSwitch | undefined = posixUser()): number | undefined {
  if (!user) return undefined;
  const parsed = SETTINGS.DAN_RUN_AS.schema().safeParse(env['DAN_RUN_AS'] === '' ? undefined : env['DAN_RUN_AS']);
  if (!parsed.success) throw new DanError('bad_config', `DAN_RUN_AS=${env['DAN_RUN_AS'] ?? ''} is not uid:gid: set it to the agent's user in digits, e.g. DAN_RUN_AS=1000:1000`, { exitCode: 2 });
  const current = user.getuid();
  if (parsed.data === undefined) {
    if (current === 0 && inContainer()) {
      throw new DanError('bad_config', 'this agent runs as root in a container, where the commands it runs would be root too: set DAN_RUN_AS=1000:1000 (with the SETUID and SETGID capabilities) or start the container as a non-root user (--user 1000:1000)', { exitCode: 2 });
    }
    return current;
  }
  const [uid, gid] = parsed.data.split(':').map(Number) as [number, number];
  if (uid === 0) throw new DanError('bad_config', 'DAN_RUN_AS names root: set it to the non-root user the agent runs as, e.g. DAN_RUN_AS=1000:1000', { exitCode: 2 });
  if (current === uid) return current;
  if (current !== 0) {
    throw new DanError('bad_config', `DAN_RUN_AS=${parsed.data} asks for uid ${uid}, but this agent runs as uid ${current} and cannot switch: start it as root (user 0:0 with the SETUID and SETGID capabilities) or unset DAN_RUN_AS`, { exitCode: 2 });
  }
  try {
    // Groups first: once the uid is not root, the process may no longer change them.
    user.setgroups([]);
    user.setgid(gid);
    user.setuid(uid);
  } catch (error) {
    throw new DanError('bad_config', `could not switch to DAN_RUN_AS=${parsed.data} (${(error as Error).message}): add the SETUID and SETGID capabilities to the container (--cap-add SETUID --cap-add SETGID, or cap_add in compose)`, { exitCode: 2, cause: error });
  }
  if (user.getuid() !== uid) throw new DanError('bad_config', `switching to DAN_RUN_AS=${parsed.data} left the agent as uid ${user.getuid()}: check the container's capabilities`, { exitCode: 2 });
  return uid;
}

/** This process's user calls, or undefined where Node has none (Windows). */
function posixUser(): UserSwitch | undefined {
  const { getuid, setgroups, setgid, setuid } = process;
  if (!getuid || !setgroups || !setgid || !setuid) return undefined;
  return { getuid: () => getuid(), setgroups: (groups) => setgroups(groups), setgid: (gid) => setgid(gid), setuid: (uid) => setuid(uid) };
}
