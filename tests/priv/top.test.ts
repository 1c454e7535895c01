/**
 * `docker top` against processes in a real pid namespace (root only): `unshare --pid --fork --mount-proc
 * --kill-child` runs a shell as the namespace's init with two sleeps under it. Every process started here
 * is killed by pid in afterEach, even when a test fails (killing the namespace's init kills the rest).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { containerPids, containerTop, parsePsOutput } from "../../src/engine/containers/top.ts";

const root = process.getuid?.() === 0 && Bun.which("unshare") !== null && Bun.which("ps") !== null;
const started: number[] = [];

afterEach(() => {
  for (const pid of started.splice(0).reverse()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
});

const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/** Starts a pid namespace whose init runs `script`; returns the init's and its children's host pids. */
async function namespace(script: string, kids: number): Promise<{ init: number; children: number[] }> {
  const p = Bun.spawn(["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script], { stdout: "ignore", stderr: "ignore" });
  started.push(p.pid);
  for (let i = 0; i < 200; i++) {
    const [init] = childrenOf(p.pid);
    if (init) {
      started.push(init);
      const children = childrenOf(init);
      if (children.length >= kids) {
        started.push(...children);
        return { init, children: children.sort((a, b) => a - b) };
      }
    }
    await Bun.sleep(10);
  }
  throw new Error("namespace did not start");
}

describe.skipIf(!root)("top", () => {
  test("lists exactly the namespace's processes (ps -ef)", async () => {
    const { init, children } = await namespace("sleep 30 & sleep 31 & wait", 2);
    expect(containerPids(init)).toEqual([init, ...children]);
    const top = containerTop(init);
    expect(top.Titles).toEqual(["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]);
    expect(top.Processes.map((p) => Number(p[1]))).toEqual([init, ...children]);
    expect(top.Processes.map((p) => p[7])).toEqual(["sh -c sleep 30 & sleep 31 & wait", "sleep 30", "sleep 31"]);
    expect(top.Processes.every((p) => p.length === 8)).toBe(true);
  });

  test("custom ps args", async () => {
    const { init, children } = await namespace("sleep 32 & wait", 1);
    expect(containerTop(init, "-o pid,comm")).toEqual({
      Titles: ["PID", "COMMAND"],
      Processes: [
        [String(init), "sh"],
        [String(children[0]), "sleep"],
      ],
    });
    const aux = containerTop(init, "aux");
    expect(aux.Titles[1]).toBe("PID");
    expect(aux.Processes.map((p) => p[10])).toEqual(["sh -c sleep 32 & wait", "sleep 32"]);
    // f cannot be combined with -q: the retry without it still filters to the container
    expect(containerTop(init, "axf").Processes.map((p) => Number(p[0]))).toEqual([init, children[0]]);
  });

  test("Docker's errors", async () => {
    const { init } = await namespace("sleep 33 & wait", 1);
    expect(() => containerTop(init, "--bogus")).toThrow(/^ps: /);
    expect(() => containerTop(init, "-o comm")).toThrow("Couldn't find PID field in ps output");
    expect(() => containerTop(init, "-o pid,comm -o user=PID")).toThrow('specifying "user=PID" is not allowed');
    expect(() => containerTop(999_999_999, "", "abc")).toThrow("Container abc is not running");
  });
});

test("parsePsOutput: overhanging fields join the last column; thread rows follow their process", () => {
  const out = "  PID TTY STAT TIME COMMAND\n    7 ?   Ss   0:00 sh -c x y\n    - -   Sl   0:00 -\n    8 ?   S    0:00 other\n    - -   S    0:00 -\n";
  expect(parsePsOutput(out, [7])).toEqual({
    Titles: ["PID", "TTY", "STAT", "TIME", "COMMAND"],
    Processes: [
      ["7", "?", "Ss", "0:00", "sh -c x y"],
      ["-", "-", "Sl", "0:00", "-"],
    ],
  });
  expect(() => parsePsOutput("  PID CMD\n  x y\n", [1])).toThrow("Unexpected pid 'x': strconv.Atoi: parsing \"x\": invalid syntax");
});
