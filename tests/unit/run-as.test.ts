import { describe, expect, it } from 'vitest';
import { DanError } from '../../lib/errors.js';
import { switchToRunAs, type UserSwitch } from '../../lib/runtime/run-as.js';

/** A process user that records the calls made on it; `failWith` makes setuid fail as without CAP_SETUID. */
function fakeUser(uid: number, failWith?: string): UserSwitch & { calls: string[] } {
  const calls: string[] = [];
  let current = uid;
  return {
    calls,
    getuid: () => current,
    setgroups: (groups) => void calls.push(`setgroups ${groups.join(',')}`),
    setgid: (gid) => void calls.push(`setgid ${gid}`),
    setuid: (next) => {
      if (failWith) throw new Error(failWith);
      calls.push(`setuid ${next}`);
      current = next;
    },
  };
}

const inContainer = () => true;
const onHost = () => false;

function refusal(run: () => unknown): DanError {
  try {
    run();
  } catch (error) {
    if (error instanceof DanError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('switchToRunAs', () => {
  it('as root with DAN_RUN_AS, clears the groups, then sets the gid, then the uid', () => {
    const user = fakeUser(0);
    expect(switchToRunAs({ DAN_RUN_AS: '1000:1001' }, inContainer, user)).toBe(1000);
    expect(user.calls).toEqual(['setgroups ', 'setgid 1001', 'setuid 1000']);
  });

  it('refuses to stay root in a container without DAN_RUN_AS, naming the setting', () => {
    const user = fakeUser(0);
    const error = refusal(() => switchToRunAs({}, inContainer, user));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('DAN_RUN_AS=1000:1000');
    expect(user.calls).toEqual([]);
  });

  it('changes nothing on a host, root or not, or when the agent already is that user', () => {
    for (const [env, uid, where] of [[{}, 0, onHost], [{}, 1000, inContainer], [{ DAN_RUN_AS: '1000:1000' }, 1000, inContainer]] as const) {
      const user = fakeUser(uid);
      expect(switchToRunAs(env, where, user)).toBe(uid);
      expect(user.calls).toEqual([]);
    }
  });

  it('refuses a DAN_RUN_AS it cannot honour, saying what to change', () => {
    expect(refusal(() => switchToRunAs({ DAN_RUN_AS: 'node' }, inContainer, fakeUser(0))).message).toMatch(/not uid:gid.*DAN_RUN_AS=1000:1000/);
    expect(refusal(() => switchToRunAs({ DAN_RUN_AS: '0:0' }, inContainer, fakeUser(0))).message).toContain('names root');
    expect(refusal(() => switchToRunAs({ DAN_RUN_AS: '1000:1000' }, inContainer, fakeUser(1001))).message).toContain('start it as root');
    expect(refusal(() => switchToRunAs({ DAN_RUN_AS: '1000:1000' }, inContainer, fakeUser(0, 'EPERM'))).message).toContain('--cap-add SETUID --cap-add SETGID');
  });
});
