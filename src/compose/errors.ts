/** A compose project that cannot be run as asked: printed as docker compose prints it (the message, exit 1). */
export class ComposeError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "ComposeError";
  }
}
