/** The header a worker names its task in; the model gateway believes it only for a task the caller's agent holds. */
export const TASK_HEADER = 'x-dan-task-id';
/** The header a worker names itself in (its name in the domain), for the per-worker cost of a task. */
export const WORKER_HEADER = 'x-dan-worker';
