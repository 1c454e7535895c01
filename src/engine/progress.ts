/** Docker's JSON progress message (pkg/jsonmessage), shared by pull's events, the CLI renderer and the API. */
export interface JsonMessage {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  stream?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { code?: number; message: string };
}
