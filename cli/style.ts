// Colour only when stdout is a terminal (and NO_COLOR is unset): pipes and files get plain text.
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const sgr = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const plain = (text: string) => text;

export function makeStyle(colour: boolean): Style {
  if (!colour) return { bold: plain, dim: plain, green: plain, red: plain, yellow: plain, cyan: plain };
  return {
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    green: sgr(32, 39),
    red: sgr(31, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

/** A phase in its colour: done green, failed red, paused yellow. */
export function phaseText(style: Style, phase: string): string {
  if (phase === "RolloutDone") return style.green(phase);
  if (phase === "RolloutFailed") return style.red(phase);
  if (phase === "Paused") return style.yellow(phase);
  return phase;
}
