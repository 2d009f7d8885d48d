/**
 * The page at "/": a link to the metrics and the settings in force. A
 * setting given as a function is what it returns now (a kernel setting
 * that can change while the exporter runs).
 */
export function landingPage(
  title: string,
  metricsPath: string,
  settings: Record<string, unknown>,
): string {
  const rows = Object.entries(settings)
    .map(([name, value]) => `<tr><th>${escape(name)}</th><td>${escape(format(value))}</td></tr>`)
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body>
<h1>${escape(title)}</h1>
<p><a href="${escape(metricsPath)}">Metrics</a></p>
${rows === '' ? '' : `<h2>Settings</h2>\n<table>\n${rows}\n</table>`}
</body>
</html>
`;
}

function format(value: unknown): string {
  if (typeof value === 'function') return format((value as () => unknown)());
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
