// The Markdown of a model's answer as elements made with h(): fenced code blocks (``` or ~~~,
// with their language), inline code, bold and italic, headings, bullet and numbered lists and
// paragraphs. Nothing of the text is ever read as HTML (no innerHTML): a tag in an answer
// shows as the characters it is, and no link or image is made from it.

import { h } from "./ui.js";

const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^`]*$/;
const HEADING = /^ {0,3}#{1,6}[ \t]+(.*?)[ \t#]*$/;
const BULLET = /^ {0,3}[-*+][ \t]+(.*)$/;
const NUMBERED = /^ {0,3}\d{1,9}[.)][ \t]+(.*)$/;
// Inline code (any run of backticks, closed by the same run), then **bold**, then *italic*.
const INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|\*(?=[^\s*])([^*]*?[^\s*])\*/g;

/** `text` (an answer) as a list of block elements. */
export function markdown(text) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      for (i += 1; i < lines.length && !closes(lines[i], fence[1]); i += 1) body.push(lines[i]);
      i += 1; // past the closing fence (an answer cut short keeps its code to the end)
      blocks.push(codeBlock(body.join("\n"), fence[2]));
    } else if (!line.trim()) {
      i += 1;
    } else if (HEADING.test(line)) {
      blocks.push(h("p", { class: "md-heading" }, h("strong", {}, inline(HEADING.exec(line)[1]))));
      i += 1;
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const kind = BULLET.test(line) ? BULLET : NUMBERED;
      const items = [];
      for (; i < lines.length && lines[i].trim() && !FENCE.test(lines[i]); i += 1) {
        const item = kind.exec(lines[i]);
        if (item) items.push([item[1]]);
        else if (/^\s/.test(lines[i]) && items.length) items[items.length - 1].push(lines[i].trim());
        else break;
      }
      blocks.push(h(kind === BULLET ? "ul" : "ol", { class: "md-list" }, items.map((item) => h("li", {}, inline(item.join("\n"))))));
    } else {
      const kept = [];
      for (; i < lines.length && lines[i].trim() && !startsBlock(lines[i]); i += 1) kept.push(lines[i]);
      blocks.push(h("p", {}, inline(kept.join("\n"))));
    }
  }
  return blocks;
}

function closes(line, opening) {
  const trimmed = line.trim();
  return trimmed.length >= opening.length && trimmed === opening[0].repeat(trimmed.length);
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || BULLET.test(line) || NUMBERED.test(line);
}

function codeBlock(code, language) {
  return h("pre", { class: "md-code", dataset: language ? { language } : {} }, h("code", {}, code));
}

/** A line's inline code, bold and italic as elements; the rest as text. */
function inline(text) {
  const parts = [];
  let at = 0;
  for (const match of text.matchAll(INLINE)) {
    parts.push(text.slice(at, match.index));
    if (match[1]) parts.push(h("code", {}, match[2]));
    else if (match[3] !== undefined) parts.push(h("strong", {}, inline(match[3])));
    else parts.push(h("em", {}, match[4]));
    at = match.index + match[0].length;
  }
  parts.push(text.slice(at));
  return parts.filter((part) => part !== "");
}
