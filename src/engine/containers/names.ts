/** Container names as Docker makes and checks them. */
import { randomInt } from "../random.ts";
import { invalidParameter } from "../errors.ts";

const left = [
  "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "boring",
  "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending", "confident", "cool", "cranky",
  "crazy", "dazzling", "determined", "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant",
  "eloquent", "epic", "exciting", "fervent", "festive", "flamboyant", "focused", "friendly", "frosty", "funny",
  "gallant", "gifted", "goofy", "gracious", "great", "happy", "hardcore", "heuristic", "hopeful", "hungry",
  "infallible", "inspiring", "intelligent", "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving",
  "lucid", "magical", "modest", "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic",
  "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
  "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
  "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant", "vigilant",
  "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
];
const right = [
  "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage", "banach",
  "bardeen", "bartik", "bassi", "bell", "bhabha", "bhaskara", "black", "blackwell", "bohr", "booth",
  "borg", "bose", "boyd", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar", "clarke",
  "colden", "cori", "cray", "curie", "darwin", "davinci", "dijkstra", "dubinsky", "easley", "edison",
  "einstein", "elion", "engelbart", "euclid", "euler", "fermat", "fermi", "feynman", "franklin", "galileo",
  "gates", "goldberg", "goldstine", "goodall", "hamilton", "hawking", "heisenberg", "hermann", "hodgkin", "hoover",
  "hopper", "hugle", "hypatia", "jackson", "jang", "jennings", "jepsen", "johnson", "joliot", "kalam",
  "kapitsa", "keldysh", "keller", "kepler", "khorana", "knuth", "kowalevski", "lalande", "lamarr", "lamport",
  "leakey", "leavitt", "lehmann", "lichterman", "liskov", "lovelace", "lumiere", "mahavira", "mayer", "mccarthy",
  "mclean", "meitner", "mendel", "mirzakhani", "montalcini", "moore", "morse", "napier", "nash", "neumann",
  "newton", "nobel", "noether", "northcutt", "noyce", "panini", "pare", "pasteur", "payne", "perlman",
  "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shamir",
  "shannon", "shaw", "shockley", "sinoussi", "snyder", "stonebraker", "swanson", "tesla", "thompson", "torvalds",
  "turing", "varahamihira", "visvesvaraya", "volhard", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak",
  "wright", "wu", "yalow", "yonath",
];

/** A random "adjective_scientist" name (with a digit appended on retries, as Docker does). */
export function randomName(retry = 0): string {
  const name = `${left[randomInt(left.length)]}_${right[randomInt(right.length)]}`;
  if (name === "boring_wozniak") return randomName(retry); // Steve Wozniak is not boring (moby's rule)
  return retry ? `${name}${randomInt(10)}` : name;
}

const VALID = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Checks a --name as moby does; returns it without a leading "/". */
export function validateName(name: string): string {
  if (!VALID.test(name)) throw invalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, "");
}
