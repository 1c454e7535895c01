/** json-file logs read as `docker logs` does: generated logs in moby's exact format, rotation, tail, times, follow. */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  encodeLogLine,
  fixedTime,
  formatLogRecord,
  parseApiTimestamp,
  parseTimeArg,
  parseTimeArgNs,
  readLogs,
  renderLogs,
  rfc3339Nano,
  outputSplit,
  type LogRecord,
  type LogSplit,
  type ReadLogsOptions,
} from "../../src/engine/containers/logs.ts";

const base = mkdtempSync(join(tmpdir(), "bunker-logs-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const newFile = () => join(base, `c${n++}-json.log`);

const T0 = 1_795_842_000_000_000_000n; // 2026-11-28T05:00:00Z
const MS = 1_000_000n;

interface Rec {
  stream: "stdout" | "stderr";
  log: string;
  timeNs: bigint;
}

const recs = (count: number, from = 0, stream: (i: number) => "stdout" | "stderr" = (i) => (i % 3 === 2 ? "stderr" : "stdout")): Rec[] =>
  Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return { stream: stream(i), log: `line ${i}\n`, timeNs: T0 + BigInt(i) * MS + BigInt(i % 7) * 123n };
  });

const text = (rs: Rec[]) => rs.map((r) => encodeLogLine(r.stream, r.log, r.timeNs)).join("");

/** Writes files oldest first: [".2", ".1", current]. */
function writeRotated(file: string, parts: Rec[][]) {
  parts.forEach((p, i) => {
    const k = parts.length - 1 - i;
    writeFileSync(k === 0 ? file : `${file}.${k}`, text(p));
  });
}

async function collect(file: string, opts: ReadLogsOptions = {}): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of readLogs(file, opts)) out.push(r);
  return out;
}

async function render(file: string, opts: ReadLogsOptions & { timestamps?: boolean; split?: LogSplit } = {}) {
  const all: string[] = [];
  const by = { stdout: "", stderr: "" };
  const dec = new TextDecoder();
  for await (const batch of renderLogs(file, opts)) {
    for (let i = 0; i < batch.length; i++) {
      const c = batch[i]!;
      if (i > 0) expect(c.stream).not.toBe(batch[i - 1]!.stream);
      if (opts.split === "merged") expect(c.stream).toBe("stdout");
      const s = dec.decode(c.data);
      by[c.stream] += s;
      all.push(s);
    }
  }
  return { all: all.join(""), ...by };
}

const simple = (rs: LogRecord[] | Rec[]) => rs.map((r) => ({ stream: r.stream, log: r.log, timeNs: r.timeNs }));

describe("reading", () => {
  test("escapes, unicode, partial records and both streams come back exactly", async () => {
    const f = newFile();
    const logs: Rec[] = [
      { stream: "stdout", log: 'quote " backslash \\ tab \t cr \r\n', timeNs: T0 },
      { stream: "stderr", log: "html <b>&amp;</b> ctl \u0001\u001f del \u007f\n", timeNs: T0 + 1n },
      { stream: "stdout", log: "é ü 中文 😀 \u2028 \u2029\n", timeNs: T0 + 1000n },
      { stream: "stdout", log: "partial without newline", timeNs: T0 + 2000n },
      { stream: "stderr", log: "", timeNs: T0 + 3000n },
      { stream: "stdout", log: "x".repeat(16384), timeNs: T0 + 4000n },
      { stream: "stdout", log: "\n", timeNs: T0 + 5000n },
    ];
    let body = text(logs);
    // invalid UTF-8 as Go writes it (U+FFFD), an escaped surrogate pair, a record with attrs, and garbage
    body += encodeLogLine("stdout", new Uint8Array([0x61, 0xff, 0x62, 0x0a]), T0 + 6000n);
    body += `{"log":"\\ud83d\\ude00 \\/ \\b\\f\\n","stream":"stderr","time":"${rfc3339Nano(T0 + 7000n)}"}\n`;
    body += `{"log":"with attrs\\n","stream":"stdout","attrs":{"a":"b"},"time":"${rfc3339Nano(T0 + 8000n)}"}\n`;
    body += "not json at all\n";
    writeFileSync(f, body);
    const expected = [
      ...logs,
      { stream: "stdout", log: "a\ufffdb\n", timeNs: T0 + 6000n },
      { stream: "stderr", log: "😀 / \b\f\n", timeNs: T0 + 7000n },
      { stream: "stdout", log: "with attrs\n", timeNs: T0 + 8000n },
    ];
    const got = await collect(f);
    expect(simple(got)).toEqual(simple(expected as Rec[]));
    expect(got[1]!.time).toBe(rfc3339Nano(T0 + 1n));
    const r = await render(f);
    expect(r.all).toBe(expected.map((e) => e.log).join(""));
    expect(r.stderr).toBe(expected.filter((e) => e.stream === "stderr").map((e) => e.log).join(""));
  });

  test("moby's stored times: trailing zeros trimmed, -t pads to RFC3339NanoFixed", async () => {
    expect(rfc3339Nano(T0)).toBe("2026-11-28T05:00:00Z");
    expect(rfc3339Nano(T0 + 120_000_000n)).toBe("2026-11-28T05:00:00.12Z");
    expect(fixedTime("2026-11-28T05:00:00Z")).toBe("2026-11-28T05:00:00.000000000Z");
    expect(fixedTime("2026-11-28T05:00:00.12Z")).toBe("2026-11-28T05:00:00.120000000Z");
    expect(fixedTime("2026-11-28T05:00:00.123456789Z")).toBe("2026-11-28T05:00:00.123456789Z");
    expect(fixedTime("2026-11-28T06:00:00.5+01:00")).toBe("2026-11-28T06:00:00.500000000+01:00");
    const f = newFile();
    writeFileSync(f, text([{ stream: "stdout", log: "a\n", timeNs: T0 }]) + `{"log":"b\\n","stream":"stderr","time":"2026-11-28T05:00:00.123456789Z"}\n`);
    const got = await collect(f);
    expect(got.map((r) => formatLogRecord(r, { timestamps: true }))).toEqual(["2026-11-28T05:00:00.000000000Z a\n", "2026-11-28T05:00:00.123456789Z b\n"]);
    expect(formatLogRecord(got[0]!, { timestamps: false })).toBe("a\n");
    expect(got[1]!.timeNs).toBe(T0 + 123_456_789n);
    const r = await render(f, { timestamps: true });
    expect(r.all).toBe("2026-11-28T05:00:00.000000000Z a\n2026-11-28T05:00:00.123456789Z b\n");
  });

  test("rotated files are read oldest first", async () => {
    const f = newFile();
    const all = recs(30);
    writeRotated(f, [all.slice(0, 10), all.slice(10, 20), all.slice(20)]);
    expect(simple(await collect(f))).toEqual(simple(all));
    expect(simple(await collect(f, { maxFiles: 2 }))).toEqual(simple(all.slice(10)));
    expect((await render(f)).all).toBe(all.map((r) => r.log).join(""));
  });

  test("stream splits: ordered, merged (same file) and grouped (per stream) print the same text", async () => {
    const f = newFile();
    const all = recs(3000, 0, (i) => (i % 2 ? "stderr" : "stdout"));
    writeFileSync(f, text(all));
    const inOrder = all.map((r) => r.log).join("");
    const outs = all.filter((r) => r.stream === "stdout").map((r) => r.log).join("");
    const errs = all.filter((r) => r.stream === "stderr").map((r) => r.log).join("");
    for (const split of ["ordered", "grouped"] as const) {
      const r = await render(f, { split });
      expect([r.stdout, r.stderr]).toEqual([outs, errs]);
    }
    expect((await render(f, { split: "ordered" })).all).toBe(inOrder);
    expect((await render(f, { split: "merged" })).all).toBe(inOrder);
    expect(["merged", "grouped", "ordered"]).toContain(outputSplit());
  });

  test("a line still being written is not read", async () => {
    const f = newFile();
    writeFileSync(f, text(recs(3)) + '{"log":"half');
    expect((await collect(f)).length).toBe(3);
    expect((await collect(f, { tail: 1 })).map((r) => r.log)).toEqual(["line 2\n"]);
  });

  test("a missing log is empty", async () => {
    expect(await collect(join(base, "nope.log"))).toEqual([]);
  });
});

describe("tail", () => {
  const f = newFile();
  const all = recs(25);
  writeRotated(f, [all.slice(0, 10), all.slice(10, 18), all.slice(18)]);

  test("counts from the end across rotated files", async () => {
    for (const t of [1, 3, 7, 8, 12, 15, 18, 24, 25, 26, 1000]) {
      expect(simple(await collect(f, { tail: t }))).toEqual(simple(all.slice(Math.max(0, 25 - t))));
      expect((await render(f, { tail: t })).all).toBe(all.slice(Math.max(0, 25 - t)).map((r) => r.log).join(""));
    }
  });
  test("0 prints nothing, -1 everything", async () => {
    expect(await collect(f, { tail: 0 })).toEqual([]);
    expect((await collect(f, { tail: -1 })).length).toBe(25);
  });
  test("counts every record before the stream selection and since (as moby)", async () => {
    const last6 = all.slice(19);
    expect(simple(await collect(f, { tail: 6, stderr: true }))).toEqual(simple(last6.filter((r) => r.stream === "stderr")));
    const since = all[22]!.timeNs;
    expect(simple(await collect(f, { tail: 6, since }))).toEqual(simple(all.slice(22)));
  });
  test("reads backwards in chunks over large files", async () => {
    const g = newFile();
    const many = recs(20000);
    writeRotated(g, [many.slice(0, 9000), many.slice(9000)]);
    expect(simple(await collect(g, { tail: 11500 }))).toEqual(simple(many.slice(8500)));
    expect((await render(g, { tail: 3 })).all).toBe("line 19997\nline 19998\nline 19999\n");
  });
});

describe("since, until, streams", () => {
  const f = newFile();
  const all = recs(20);
  writeRotated(f, [all.slice(0, 8), all.slice(8)]);

  test("since keeps records at or after it, until those at or before it (ns bigint)", async () => {
    expect(simple(await collect(f, { since: all[5]!.timeNs }))).toEqual(simple(all.slice(5)));
    expect(simple(await collect(f, { since: all[5]!.timeNs + 1n }))).toEqual(simple(all.slice(6)));
    expect(simple(await collect(f, { until: all[12]!.timeNs }))).toEqual(simple(all.slice(0, 13)));
    expect(simple(await collect(f, { since: all[3]!.timeNs, until: all[9]!.timeNs - 1n }))).toEqual(simple(all.slice(3, 9)));
  });
  test("epoch ms numbers, and relative values through parseTimeArg", async () => {
    const ms = Number((T0 + 10n * MS) / MS); // record 10 is at T0+10ms+3*123ns
    expect(simple(await collect(f, { since: ms }))).toEqual(simple(all.slice(10)));
    expect(simple(await collect(f, { until: ms }))).toEqual(simple(all.slice(0, 10)));
    const now = Number(T0 / MS) + 60_000;
    expect((await collect(f, { since: parseTimeArg("2m", now) })).length).toBe(20);
    expect((await collect(f, { since: parseTimeArg("30s", now) })).length).toBe(0);
    expect((await collect(f, { until: parseTimeArg("1m", now) })).map((r) => r.log)).toEqual(["line 0\n"]);
  });
  test("stream selection", async () => {
    expect(simple(await collect(f, { stdout: true }))).toEqual(simple(all.filter((r) => r.stream === "stdout")));
    expect(simple(await collect(f, { stderr: true, stdout: false }))).toEqual(simple(all.filter((r) => r.stream === "stderr")));
    const r = await render(f, { stderr: true });
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(all.filter((x) => x.stream === "stderr").map((x) => x.log).join(""));
    expect(collect(f, { stdout: false, stderr: false })).rejects.toThrow("You must choose at least one stream");
  });
});

describe("follow", () => {
  const tick = () => Bun.sleep(30);
  /** Waits (up to 5 s, for loaded machines) until cond holds. */
  const waitFor = async (cond: () => boolean) => {
    for (let i = 0; i < 500 && !cond(); i++) await Bun.sleep(10);
    expect(cond()).toBe(true);
  };

  test("picks up appended lines and a rotation, and stops once the container stopped", async () => {
    const f = newFile();
    const all = recs(12);
    writeFileSync(f, text(all.slice(0, 3)));
    let running = true;
    const got: LogRecord[] = [];
    const done = (async () => {
      for await (const r of readLogs(f, { follow: true, isRunning: () => running, pollMs: 10 })) got.push(r);
    })();
    await waitFor(() => got.length === 3);
    appendFileSync(f, text(all.slice(3, 5)));
    const line5 = text(all.slice(5, 6));
    appendFileSync(f, line5.slice(0, 30)); // a line written in two steps
    await waitFor(() => got.length === 5);
    await tick();
    expect(got.length).toBe(5);
    appendFileSync(f, line5.slice(30));
    await waitFor(() => got.length === 6);
    // rotation: the writer renames the file, keeps writing to a new one
    appendFileSync(f, text(all.slice(6, 7)));
    renameSync(f, `${f}.1`);
    writeFileSync(f, text(all.slice(7, 10)));
    await waitFor(() => got.length === 10);
    expect(simple(got)).toEqual(simple(all.slice(0, 10)));
    appendFileSync(f, text(all.slice(10)));
    running = false; // the last lines written before the stop are still read
    await done;
    expect(simple(got)).toEqual(simple(all));
  });

  test("with tail 0 only new lines; a signal ends it", async () => {
    const f = newFile();
    writeFileSync(f, text(recs(5)));
    const ac = new AbortController();
    const got: string[] = [];
    let following = false; // isRunning is asked once the reader follows: the hook to append after that
    const isRunning = () => ((following = true), true);
    const done = (async () => {
      for await (const batch of renderLogs(f, { follow: true, tail: 0, signal: ac.signal, isRunning, pollMs: 10 })) for (const c of batch) got.push(new TextDecoder().decode(c.data));
    })();
    await waitFor(() => following);
    appendFileSync(f, text(recs(2, 5)));
    await waitFor(() => got.join("").length === 14);
    ac.abort();
    await done;
    expect(got.join("")).toBe("line 5\nline 6\n");
  });

  test("waits for a log file that does not exist yet; ends at until", async () => {
    const f = newFile();
    const all = recs(6);
    const got: LogRecord[] = [];
    const done = (async () => {
      for await (const r of readLogs(f, { follow: true, until: all[3]!.timeNs, pollMs: 10 })) got.push(r);
    })();
    await tick();
    writeFileSync(f, text(all));
    await done;
    expect(simple(got)).toEqual(simple(all.slice(0, 4)));
  });

  test("a container that is not running: reads what is there and ends", async () => {
    const f = newFile();
    writeFileSync(f, text(recs(4)));
    expect((await collect(f, { follow: true, isRunning: () => false })).length).toBe(4);
  });
});

describe("parseTimeArg", () => {
  const now = Date.UTC(2026, 10, 28, 5, 0, 0, 250);
  const sec = (iso: string) => BigInt(Date.parse(iso)) * MS;

  test("durations count back from now in whole seconds", () => {
    expect(parseTimeArgNs("10m", now)).toBe(sec("2026-11-28T04:50:00Z"));
    expect(parseTimeArgNs("1h30m", now)).toBe(sec("2026-11-28T03:30:00Z"));
    expect(parseTimeArgNs("1.5h", now)).toBe(sec("2026-11-28T03:30:00Z"));
    expect(parseTimeArgNs("-5s", now)).toBe(sec("2026-11-28T05:00:05Z"));
    expect(parseTimeArgNs("500ms", now)).toBe(sec("2026-11-28T04:59:59Z"));
    expect(parseTimeArg("10m", now)).toBe(Date.parse("2026-11-28T04:50:00Z"));
  });
  test("RFC 3339 with and without nanoseconds and zones", () => {
    expect(parseTimeArgNs("2026-11-28T05:00:00Z", now)).toBe(sec("2026-11-28T05:00:00Z"));
    expect(parseTimeArgNs("2026-11-28T05:00:00.123456789Z", now)).toBe(sec("2026-11-28T05:00:00Z") + 123_456_789n);
    expect(parseTimeArgNs("2026-11-28T05:00:00.5+01:00", now)).toBe(sec("2026-11-28T04:00:00Z") + 500_000_000n);
    expect(parseTimeArgNs("2026-11-28T05:00+02:00", now)).toBe(sec("2026-11-28T03:00:00Z"));
    expect(parseTimeArgNs("2026-11-28Z", now)).toBe(sec("2026-11-28T00:00:00Z"));
    const local = -new Date(now).getTimezoneOffset() * 60_000;
    expect(parseTimeArgNs("2026-11-28T05:00:00", now)).toBe(BigInt(Date.parse("2026-11-28T05:00:00Z") - local) * MS);
    expect(parseTimeArgNs("2026-11-28T05", now)).toBe(BigInt(Date.parse("2026-11-28T05:00:00Z") - local) * MS);
    expect(parseTimeArgNs("2026-11-28", now)).toBe(BigInt(Date.parse("2026-11-28T00:00:00Z") - local) * MS);
  });
  test("Unix timestamps with fractions", () => {
    expect(parseTimeArgNs("1700000000", now)).toBe(1_700_000_000_000_000_000n);
    expect(parseTimeArgNs("1700000000.5", now)).toBe(1_700_000_000_500_000_000n);
    expect(parseTimeArgNs("1700000000.000000001", now)).toBe(1_700_000_000_000_000_001n);
    expect(parseTimeArgNs("0", now)).toBe(0n);
    expect(parseApiTimestamp("1700000000.123456789")).toBe(1_700_000_000_123_456_789n);
    expect(parseApiTimestamp("")).toBeUndefined();
  });
  test("Docker's errors", () => {
    expect(() => parseTimeArg("abc", now)).toThrow('failed to parse value as time or duration: "abc"');
    expect(() => parseTimeArg("10x", now)).toThrow('failed to parse value as time or duration: "10x"');
    expect(() => parseTimeArg("2026-13-01", now)).toThrow('parsing time "2026-13-01": month out of range');
    expect(() => parseTimeArg("2026-02-30", now)).toThrow('parsing time "2026-02-30": day out of range');
    expect(() => parseTimeArg("2026-01-01Tx", now)).toThrow('parsing time "2026-01-01Tx" as "2006-01-02T15": cannot parse "x" as "15"');
    expect(() => parseTimeArg("2026-1-01", now)).toThrow('parsing time "2026-1-01" as "2006-01-02": cannot parse "1-01" as "01"');
    expect(() => parseTimeArg("2026-01-01T10:00:00Zjunk", now)).toThrow('parsing time "2026-01-01T10:00:00Zjunk": extra text: "junk"');
    expect(() => parseApiTimestamp("x")).toThrow('strconv.ParseInt: parsing "x": invalid syntax');
  });
});
