/** A project compose refuses, in compose's own words (the CLI prints the message, exit 1 unless `exitCode`). */
export class ComposeError extends Error {
  override name = "ComposeError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
