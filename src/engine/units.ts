/** go-units formatting, as Docker prints sizes and durations. */

/** go-units HumanSizeWithPrecision(size, 3): decimal units, "%.3g" formatting ("77.9MB", "1.23kB"). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
  let i = 0;
  let n = bytes;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${goG(n, 3)}${units[i]}`;
}

/** go-units BytesSize: binary units, "%.4g" ("1.5MiB"), as `history -H=false`... and `system df` use. */
export function binarySize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  let n = bytes;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${goG(n, 4)}${units[i]}`;
}

/** Go's %.Ng: shortest of %e/%f at N significant digits, trailing zeros removed. */
export function goG(x: number, prec: number): string {
  if (x === 0) return "0";
  const exp = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(prec)))));
  if (exp < -4 || exp >= prec) {
    const [m, e] = x.toExponential(prec - 1).split("e");
    const mant = m!.includes(".") ? m!.replace(/\.?0+$/, "") : m!;
    const ev = Number(e);
    return `${mant}e${ev < 0 ? "-" : "+"}${String(Math.abs(ev)).padStart(2, "0")}`;
  }
  const s = x.toFixed(Math.max(0, prec - 1 - exp));
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** go-units HumanDuration: "Less than a second", "About a minute", "3 weeks"... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(ms / 3600000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3600000 / 24 / 365)} years`;
}
