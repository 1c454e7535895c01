/**
 * Text from images (labels, history, configs: whatever the image's author wrote) on its way to a terminal.
 * On a terminal, control characters would be obeyed (clear the screen, set the title, move the cursor,
 * hide lines), so they are shown escaped, as Go's %q writes them; into a pipe the bytes go unchanged, as
 * the docker CLI writes them, so scripts still see exact values.
 */

/**
 * isatty(3) for `fd`, without node:tty: importing node:tty loads Node's net and stream modules, 6-11 ms of
 * CPU at start-up here (a compiled hello-world calling `tty.isatty(1)` took 24-34 ms against 16-22 ms;
 * with this, 16-17 ms), more than the rest of a `run -d`. Bun's tty_wrap binding asks the kernel directly.
 */
export function isTerminal(fd: number): boolean {
  return (process as unknown as { binding(name: "tty_wrap"): { isTTY(fd: number): boolean } }).binding("tty_wrap").isTTY(fd);
}

/** `s` made safe for `stream` when it is a terminal: C0 (but tab and newline), DEL and C1 escaped. */
export function forTerminal(s: string, stream: { isTTY?: boolean } = process.stdout): string {
  if (!stream.isTTY) return s;
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x80 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}
