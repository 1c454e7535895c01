/**
 * COPY/ADD `--chmod` as BuildKit reads it: an octal mode (at most 07777), or the symbolic forms of chmod(1)
 * (`u+x`, `go-w`, `a=rX`, `u=g`, comma-separated clauses) parsed by tonistiigi/dchapes-mode, a port of BSD's
 * setmode(3) with a zero umask. A value that looks numeric but is not octal gets BuildKit's octal error.
 */

const ISUID = 0o4000;
const ISGID = 0o2000;
const ISTXT = 0o1000;
const RWXU = 0o700;
const RWXG = 0o070;
const RWXO = 0o007;
const STANDARD = ISUID | ISGID | RWXU | RWXG | RWXO;
const R_ALL = 0o444;
const W_ALL = 0o222;
const X_ALL = 0o111;
// Which bits a copy command ("u", "g", "o" on the right of an operator) reads and writes.
const CLEAR = 1;
const SET = 2;
const GBITS = 4;
const OBITS = 8;
const UBITS = 16;

interface BitCommand {
  cmd: string;
  cmd2: number;
  bits: number;
}

/** How `--chmod` changes a copied node's permission bits. */
export type ChmodSpec = { octal: number } | { symbolic: BitCommand[] };

/** Parses `--chmod`; throws BuildKit's error texts. */
export function parseChmod(text: string): ChmodSpec {
  const nonOctal = new Error(`invalid chmod parameter: '${text}'. it should be octal string and between 0 and 07777`);
  if (/^[0-9]/.test(text)) {
    // strconv.ParseUint(s, 8, 32) then dchapes-mode's numeric branch: anything numeric-looking must be octal.
    if (!/^[0-7]+$/.test(text)) throw nonOctal;
    const v = Number.parseInt(text, 8);
    if (v > 0o7777) throw nonOctal;
    return { octal: v };
  }
  return { symbolic: parseSymbolic(text) };
}

/** The mode a node gets: `mode` is its current permission bits (07777), `isDir` matters for `X`. */
export function applyChmod(spec: ChmodSpec, mode: number, isDir: boolean): number {
  if ("octal" in spec) return spec.octal;
  const old = mode & 0o7777;
  let m = old;
  const common = (c: BitCommand, value: number) => {
    if (c.cmd2 & CLEAR) {
      const clr = c.cmd2 & SET ? RWXO : value;
      if (c.cmd2 & UBITS) m &= ~((clr << 6) & c.bits);
      if (c.cmd2 & GBITS) m &= ~((clr << 3) & c.bits);
      if (c.cmd2 & OBITS) m &= ~(clr & c.bits);
    }
    if (c.cmd2 & SET) {
      if (c.cmd2 & UBITS) m |= (value << 6) & c.bits;
      if (c.cmd2 & GBITS) m |= (value << 3) & c.bits;
      if (c.cmd2 & OBITS) m |= value & c.bits;
    }
  };
  for (const c of spec.symbolic) {
    if (c.cmd === "u") common(c, (m & RWXU) >> 6);
    else if (c.cmd === "g") common(c, (m & RWXG) >> 3);
    else if (c.cmd === "o") common(c, m & RWXO);
    else if (c.cmd === "+") m |= c.bits;
    else if (c.cmd === "-") m &= ~c.bits;
    else if (c.cmd === "X" && (old & X_ALL || isDir)) m |= c.bits;
  }
  return m & 0o7777;
}

/** setmode(3)'s grammar: [ugoa]*([-+=]([rwxXst]*|[ugo]))+ clauses separated by commas. */
function parseSymbolic(s: string): BitCommand[] {
  const syntax = () => new Error("invalid syntax");
  const cmds: BitCommand[] = [];
  const mask = ~0; // umask 0
  const add = (op: string, who: number, oparg: number | string) => {
    if (op === "=" || op === "+" || op === "-" || op === "X") {
      if (op === "=") {
        cmds.push({ cmd: "-", cmd2: 0, bits: who ? who : STANDARD });
        op = "+";
      }
      cmds.push({ cmd: op, cmd2: 0, bits: (who ? who : mask) & (oparg as number) });
      return;
    }
    let cmd2 = 0;
    let bits: number;
    if (who) {
      if (who & 0o400) cmd2 |= UBITS;
      if (who & 0o040) cmd2 |= GBITS;
      if (who & 0o004) cmd2 |= OBITS;
      bits = ~0;
    } else {
      cmd2 = UBITS | GBITS | OBITS;
      bits = mask;
    }
    cmd2 |= oparg === "+" ? SET : oparg === "-" ? CLEAR : SET | CLEAR;
    cmds.push({ cmd: op, cmd2, bits });
  };
  let i = 0;
  let equalOpDone = false;
  for (;;) {
    let who = 0;
    for (;; i++) {
      if (i >= s.length) throw syntax();
      const c = s[i];
      if (c === "a") who |= STANDARD;
      else if (c === "u") who |= ISUID | RWXU;
      else if (c === "g") who |= ISGID | RWXG;
      else if (c === "o") who |= RWXO;
      else break;
    }
    for (;;) {
      const op = s[i++];
      if (op === "=") equalOpDone = false;
      else if (op !== "+" && op !== "-") throw syntax();
      who &= ~ISTXT;
      let perm = 0;
      let permX = 0;
      for (;; i++) {
        const b = s[i] ?? "";
        if (b === "r") perm |= R_ALL;
        else if (b === "s") {
          if (who === 0 || who & ~RWXO) perm |= ISUID | ISGID;
        } else if (b === "t") {
          if (who === 0 || who & ~RWXO) {
            who |= ISTXT;
            perm |= ISTXT;
          }
        } else if (b === "w") perm |= W_ALL;
        else if (b === "X") {
          if (op === "+") permX = X_ALL;
        } else if (b === "x") perm |= X_ALL;
        else if (b === "u" || b === "g" || b === "o") {
          if (perm) {
            add(op, who, perm);
            perm = 0;
          }
          if (op === "=") equalOpDone = true;
          if (permX) {
            add("X", who, permX);
            permX = 0;
          }
          add(b, who, op);
        } else {
          if (perm || (op === "=" && !equalOpDone)) {
            if (op === "=") equalOpDone = true;
            add(op, who, perm);
          }
          if (permX) add("X", who, permX);
          break;
        }
      }
      if (i >= s.length) return cmds;
      if (s[i] !== ",") continue; // another operator for the same "who"
      i++;
      break;
    }
  }
}
