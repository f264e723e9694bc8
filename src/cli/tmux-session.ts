/**
 * tmux's arguments that make detached session `session` (200x50, tiled) with one read-only pane per
 * command, each started in `cwd` and kept, output and all, after its command exits.
 *
 * One tmux invocation, `;` between its commands: tmux runs a command list through before it handles
 * any pane's exit, and `remain-on-exit` is set on the window right after the first pane and before the
 * next, so no pane can close before it is kept. (Set by a later tmux call, a pane whose command had
 * already ended, such as one showing a finished farm, was gone, and with every pane gone the session.)
 */
export function readOnlySessionArgs(session: string, cwd: string, paneCommands: readonly string[]): string[] {
  const [first, ...rest] = paneCommands;
  if (first === undefined) throw new Error('a tmux session needs at least one pane command');
  // A new pane is the active one, which `-t session` names; `select-pane -d` stops it taking input.
  const args = [
    'new-session', '-d', '-s', session, '-c', cwd, '-x', '200', '-y', '50', first, ';',
    'set-option', '-w', '-t', session, 'remain-on-exit', 'on', ';',
    'select-pane', '-d', '-t', session,
  ];
  for (const command of rest) {
    // Tiled again after each split, so the next split has room.
    args.push(';', 'split-window', '-t', session, '-c', cwd, command, ';', 'select-pane', '-d', '-t', session, ';', 'select-layout', '-t', session, 'tiled');
  }
  return args;
}
