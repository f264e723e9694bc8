import { DanError } from '../errors.js';

/** What a Swarm error message names: the service, its domain and the settings a person would check. */
export interface SwarmServiceRef {
  name: string;
  domain: string;
  image: string;
  network: string;
}

/** A service Swarm refused to create, with the fix its status code points at. */
export function serviceCreateError(error: unknown, ref: SwarmServiceRef): DanError {
  const e = error as { statusCode?: number; message: string };
  const fix = e.statusCode === 503 ? "the engine is no longer a Swarm manager: run 'docker swarm init', or point DOCKER_HOST at a manager"
    : e.statusCode === 409 ? `a service named ${ref.name} exists but is not labelled for this network: remove it (docker service rm ${ref.name})`
      : `check DAN_AGENT_IMAGE (${ref.image}), DAN_SWARM_NETWORK (${ref.network}) and the limits`;
  return new DanError('spawn_failed', `cannot create Swarm service ${ref.name} for domain ${ref.domain}: ${e.message}; ${fix}`, { cause: error });
}

/** A replica Swarm could not start (`why` is its task's state and error), with the fix that reason points at. */
export function replicaStartError(why: string, ref: SwarmServiceRef): DanError {
  const fix = /image|manifest|pull|repository/i.test(why)
    ? `build or load the image ${ref.image} on every node of the swarm (scripts/build-local-images.sh), or push it to a registry the nodes can pull from, or set DAN_AGENT_IMAGE`
    : /suitable node|no node|availability/i.test(why)
      ? "no node can take the replica: make a node available (docker node update --availability active <node>) or lower the domain's limits"
      : `see 'docker service ps --no-trunc ${ref.name}'`;
  return new DanError('spawn_failed', `Swarm could not start a replica of ${ref.name} (domain ${ref.domain}, image ${ref.image}): ${why}; ${fix}. Its tasks stay queued`);
}
