/** `bunker logs`: a container's json-file log, as `docker logs` prints it. */
import { defineCommand } from "./_cli.ts";
import { openBackend } from "./_backend.ts";
import { stdSink } from "./_stdio.ts";
import { strconvError } from "../go/strconv.ts";

export default defineCommand({
  meta: { name: "logs", description: "Fetch the logs of a container", usage: "[OPTIONS] CONTAINER", aliases: ["bunker container logs", "bunker logs"] },
  flags: {
    details: { type: "boolean", description: "Show extra details provided to logs" },
    follow: { type: "boolean", alias: "f", description: "Follow log output" },
    since: { type: "string", description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)', valueHint: "string" },
    tail: { type: "string", alias: "n", description: 'Number of lines to show from the end of the logs (default "all")', valueHint: "string" },
    timestamps: { type: "boolean", alias: "t", description: "Show timestamps" },
    until: { type: "string", description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)', valueHint: "string" },
  },
  args: { exact: 1 },
  async run({ flags, args, global }) {
    (await import("../jit.ts")).fullJit(); // 100k lines of JSON are a hot loop
    const { parseTimeArgNs } = await import("../engine/containers/logs.ts");
    const { invalidParameter } = await import("../engine/errors.ts");
    const backend = await openBackend(global);
    const tailArg: string = flags.tail ?? "all";
    const tail = tailArg === "all" ? -1 : /^-?\d+$/.test(tailArg) ? Number(tailArg) : NaN;
    if (Number.isNaN(tail)) throw invalidParameter(`invalid value for "tail": ${strconvError("Atoi", tailArg)}`);
    const since = flags.since ? parseTimeArgNs(flags.since) : undefined;
    const until = flags.until ? parseTimeArgNs(flags.until) : undefined;
    const out = stdSink(1);
    const err = stdSink(2);
    for await (const batch of backend.logs(args[0]!, { tail, since, until, follow: !!flags.follow, timestamps: !!flags.timestamps })) {
      for (const chunk of batch) (chunk.stream === "stderr" ? err : out).write(chunk.data);
      out.flush();
      err.flush();
    }
    return 0;
  },
});
