/** `bunker login`: check credentials against a registry and store them in Docker's config.json. */
import { CliError, defineCommand } from "./_cli.ts";
import { openEngine } from "./_engine.ts";

export default defineCommand({
  meta: { name: "login", description: "Authenticate to a registry", usage: "[OPTIONS] [SERVER]", aliases: ["bunker login"] },
  flags: {
    username: { type: "string", alias: "u", description: "Username", valueHint: "string" },
    password: { type: "string", alias: "p", description: "Password or Personal Access Token (PAT)", valueHint: "string" },
    "password-stdin": { type: "boolean", description: "Take the Password or Personal Access Token (PAT) from stdin" },
  },
  args: { max: 1 },
  async run({ flags, args, global }) {
    const { INDEX_SERVER, configDir, saveCredentials } = await import("../engine/registry/credentials.ts");
    let username: string | undefined = flags.username;
    let password: string | undefined = flags.password;
    if (password !== undefined) {
      console.error("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
      if (flags["password-stdin"]) throw new CliError("--password and --password-stdin are mutually exclusive", 1);
    }
    if (flags["password-stdin"]) {
      if (!username) throw new CliError("Must provide --username with --password-stdin", 1);
      // As the docker CLI: the whole of stdin, minus one trailing newline (and a CR before it).
      password = (await Bun.stdin.text()).replace(/\n$/, "").replace(/\r$/, "");
    }
    const server = args[0] ?? INDEX_SERVER;
    if (username === undefined || password === undefined) {
      if (!process.stdin.isTTY) throw new CliError("Error: Cannot perform an interactive login from a non TTY device", 1);
      username ??= await prompt(server === INDEX_SERVER ? "Username: " : `Username: `, false);
      password ??= await prompt("Password: ", true);
    }
    username = username.trim();
    if (!username) throw new CliError("Error: Non-null Username Required", 1);
    if (!password) throw new CliError("Error: Password Required", 1);
    const engine = await openEngine(global);
    await engine.registry().login(server, username, password);
    saveCredentials(server, { username, password });
    console.error(
      `WARNING! Your credentials are stored unencrypted in '${configDir()}/config.json'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n`,
    );
    console.log("Login Succeeded");
    return 0;
  },
});

/** Reads one line from the terminal; `secret` keeps the typed characters off the screen. */
async function prompt(question: string, secret: boolean): Promise<string> {
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  if (secret) {
    // readline echoes through _writeToOutput; print the question only.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
      if (s.startsWith(question)) process.stdout.write(question);
    };
  }
  const answer = await new Promise<string>((resolve) => rl.question(question, resolve));
  rl.close();
  if (secret) process.stdout.write("\n");
  return answer;
}
