import Docker from 'dockerode';
import { DanError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';

// The one place dockerode is loaded: the Docker and Swarm spawners (and `dan logs`) reach the engine
// through `connectDocker`, and use dockerode's types only.

/** How to reach the Docker engine; by default what DOCKER_HOST says, else /var/run/docker.sock. */
export interface DockerEndpoint {
  socketPath?: string;
}

/** Opens the Docker API and checks that an engine answers; exit code 3 with what to do when none does. */
export async function connectDocker(endpoint: DockerEndpoint = {}, logger: Logger = silentLogger): Promise<Docker> {
  const docker = new Docker(endpoint.socketPath ? { socketPath: endpoint.socketPath } : undefined);
  const where = endpoint.socketPath ?? process.env['DOCKER_HOST'] ?? '/var/run/docker.sock';
  try {
    await docker.ping();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'EACCES'
      ? `permission denied on ${where}: run as a user in the socket's group (compose: set DOCKER_GID to its group id)`
      : `no Docker engine answers at ${where} (${code ?? (error as Error).message})`;
    throw new DanError('docker_unreachable', `${why}; start the engine, or run domains as local processes: DAN_SPAWNER=process (dan up --spawner process)`, { exitCode: 3, cause: error });
  }
  logger.debug({ endpoint: where }, 'docker: ping ok');
  return docker;
}

