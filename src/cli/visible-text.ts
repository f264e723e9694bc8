// Terminal controls a task's text may carry: C0 (ESC starts ANSI/OSC sequences, BEL ends OSC) but
// tab and newline, DEL, C1 (0x9b is a one-byte CSI), and the bidirectional and zero-width marks that
// reorder or hide what a person reads (U+202E turns the rest of a line around).
// eslint-disable-next-line no-control-regex -- control characters are exactly what this shows
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * The text with every terminal control written out as `\xNN` or `\uNNNN`, for printing text that
 * anyone who can submit a task wrote (task log lines, descriptions): printed raw, such text could
 * clear the screen, retitle the terminal or reverse a line. Called before our own colours are added.
 */
export function visibleText(text: string): string {
  return text.replace(TERMINAL_CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
