// A line diff for showing two schema versions side by side: the longest
// common subsequence of lines, after trimming the common head and tail
// (which is most of a schema's next version).

export type Op = { kind: "same" | "del" | "add"; line: string };

// maxCells bounds the LCS table (lines left × lines right after trimming):
// 4M 32-bit cells, 16 MiB, a fraction of a second.
export const maxCells = 4_000_000;

// diffLines returns the edit from a to b, or null when the part that
// differs is over maxCells (the page then says the versions are too large).
export function diffLines(a: string[], b: string[]): Op[] | null {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const n = x.length;
  const m = y.length;
  if ((n + 1) * (m + 1) > maxCells) return null;
  // len[i*(m+1)+j] is the LCS length of x[i:] and y[j:].
  const w = m + 1;
  const len = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      len[i * w + j] = x[i] === y[j] ? len[(i + 1) * w + j + 1] + 1 : Math.max(len[(i + 1) * w + j], len[i * w + j + 1]);
    }
  }
  const ops: Op[] = a.slice(0, head).map((line) => ({ kind: "same", line }));
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      ops.push({ kind: "same", line: x[i++] });
      j++;
    } else if (j < m && (i === n || len[i * w + j + 1] >= len[(i + 1) * w + j])) {
      ops.push({ kind: "add", line: y[j++] });
    } else {
      ops.push({ kind: "del", line: x[i++] });
    }
  }
  for (const line of a.slice(a.length - tail)) ops.push({ kind: "same", line });
  return ops;
}

// Row is one line of a side-by-side view: left and right line numbers (1
// based) and text; a missing side is null.
export interface Row {
  kind: "same" | "change" | "del" | "add";
  left: { n: number; line: string } | null;
  right: { n: number; line: string } | null;
}

// sideBySide pairs the deletions and additions of each changed run, so a
// changed line sits beside its replacement.
export function sideBySide(ops: Op[]): Row[] {
  const rows: Row[] = [];
  let ln = 0;
  let rn = 0;
  for (let k = 0; k < ops.length; ) {
    if (ops[k].kind === "same") {
      rows.push({ kind: "same", left: { n: ++ln, line: ops[k].line }, right: { n: ++rn, line: ops[k].line } });
      k++;
      continue;
    }
    const dels: string[] = [];
    const adds: string[] = [];
    for (; k < ops.length && ops[k].kind !== "same"; k++) (ops[k].kind === "del" ? dels : adds).push(ops[k].line);
    for (let r = 0; r < Math.max(dels.length, adds.length); r++) {
      const left = r < dels.length ? { n: ++ln, line: dels[r] } : null;
      const right = r < adds.length ? { n: ++rn, line: adds[r] } : null;
      rows.push({ kind: left && right ? "change" : left ? "del" : "add", left, right });
    }
  }
  return rows;
}
