import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.js';
import { DanError } from '../../lib/errors.js';
import { tokenHoldsTask } from '../../lib/redis/gateway-tokens.js';
import { domainAgentId } from '../../lib/runtime/agent-id.js';

const POD_UID = '3f2c1a9e-7b4d-4c1e-9a8f-0d2e5b6c7a81';
const CONTAINER_ID = 'a1b2c3d4'.padEnd(64, '0');

describe('domainAgentId: the id a domain agent without AGENT_ID gives itself', () => {
  it("takes a pod's UID's first 8 hex with pod-uid, whatever the container", () => {
    expect(domainAgentId('backend', 'pod-uid', { podUid: POD_UID })).toBe('backend-3f2c1a9e');
    expect(domainAgentId('backend', 'pod-uid', { podUid: POD_UID, containerId: CONTAINER_ID })).toBe('backend-3f2c1a9e');
    expect(domainAgentId('backend', 'pod-uid', { podUid: POD_UID.toUpperCase() })).toBe('backend-3f2c1a9e');
  });

  it("takes the container id's first 8 hex with container, and draws them outside a container", () => {
    expect(domainAgentId('frontend', 'container', { containerId: CONTAINER_ID })).toBe('frontend-a1b2c3d4');
    expect(domainAgentId('frontend', 'container', {})).toMatch(/^frontend-[0-9a-f]{8}$/);
    const drawn = domainAgentId('frontend', 'random', { containerId: CONTAINER_ID, podUid: POD_UID });
    expect(drawn).toMatch(/^frontend-[0-9a-f]{8}$/);
    expect(drawn).not.toBe('frontend-a1b2c3d4');
  });

  it("is an id whose holder a group token's calls are charged for (the standing token's rule)", () => {
    const standing = { agentId: 'compose-standing', domains: ['backend', 'frontend'] };
    const owner = domainAgentId('backend', 'pod-uid', { podUid: POD_UID });
    expect(tokenHoldsTask(standing, { owner, domain: 'backend' })).toBe(true);
    // What the manifests set before: the pod's name, charged to no task.
    expect(tokenHoldsTask(standing, { owner: 'dan-backend-7d9f8c6b5-x2k4q', domain: 'backend' })).toBe(false);
  });

  it('refuses pod-uid without a pod UID, saying where one comes from', () => {
    for (const podUid of [undefined, '', 'dan-backend-7d9f8c6b5-x2k4q']) {
      const attempt = () => domainAgentId('backend', 'pod-uid', { podUid });
      expect(attempt).toThrow(DanError);
      expect(attempt).toThrow(/DAN_POD_UID.*metadata\.uid/);
    }
  });

  it('reads DAN_AGENT_ID_FROM=pod-uid and DAN_POD_UID, and refuses a UID that is not one', () => {
    const config = loadConfig({ DAN_AGENT_ID_FROM: 'pod-uid', DAN_POD_UID: POD_UID });
    expect(config).toMatchObject({ agentIdFrom: 'pod-uid', podUid: POD_UID });
    expect(() => loadConfig({ DAN_POD_UID: 'not-a-uid' })).toThrow(/DAN_POD_UID.*8 hex digits/);
  });
});
