// Characters XML 1.0 cannot hold at all, not even as a character reference: C0 controls other than
// tab, newline and carriage return, lone surrogates (the `u` flag leaves pairs whole), U+FFFE and
// U+FFFF. One of them in a word would make the whole SVG or page ill-formed.
const NOT_XML = /[\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/gu;

/** Escapes text for HTML and SVG content and attribute values; characters XML cannot hold become U+FFFD. */
export function escapeXml(text: string): string {
  return text.replace(NOT_XML, '\uFFFD').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
