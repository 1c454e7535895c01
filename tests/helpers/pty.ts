/** Commands in a real pseudo-terminal, through script(1), for what only a terminal shows (detach keys, redraws). */

/** A word quoted for sh -c. */
const shellQuote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;

/**
 * Runs `argv` in a pty with `env` (the whole environment); `steps` are written to it in turn, `pause` ms apart.
 * A command still running 20 s after the last step is killed and reported. Returns what the terminal showed
 * and the exit code.
 */
export async function inPty(argv: string[], steps: (string | Uint8Array)[], env: Record<string, string | undefined>, pause = 700): Promise<{ out: string; code: number }> {
  const p = Bun.spawn(["script", "-qfec", argv.map(shellQuote).join(" "), "/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env });
  for (const s of steps) {
    await Bun.sleep(pause);
    p.stdin.write(s);
    await p.stdin.flush();
  }
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    p.kill();
  }, 20_000);
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  clearTimeout(timer);
  p.stdin.end();
  if (hung) throw new Error(`${argv.join(" ")} did not end within 20 s:\n${out}`);
  return { out, code };
}
