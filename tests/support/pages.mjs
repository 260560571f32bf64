// Test pages: Meta's standard base code, as stores paste it, pointing at our script.

/**
 * The JavaScript of Meta's base code (the stub that queues calls and loads the library), loading
 * `pixelScriptUrl`, followed by `extraJs` (the page's fbq calls).
 */
export function baseCodeJs(pixelScriptUrl, extraJs = '') {
  return (
    `!function(f,b,e,v,n,t,s)\n` +
    `{if(f.fbq)return;n=f.fbq=function(){n.callMethod?\n` +
    `n.callMethod.apply(n,arguments):n.queue.push(arguments)};\n` +
    `if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';\n` +
    `n.queue=[];t=b.createElement(e);t.async=!0;\n` +
    `t.src=v;s=b.getElementsByTagName(e)[0];\n` +
    `s.parentNode.insertBefore(t,s)}(window, document,'script',\n` +
    `${JSON.stringify(pixelScriptUrl)});\n` +
    extraJs
  );
}

/**
 * Meta's base code as the `<script>` element a store pastes into its `<head>`. `nonce` adds a
 * CSP nonce attribute.
 */
export function baseCode(pixelScriptUrl, extraJs = '', { nonce } = {}) {
  const attr = nonce ? ` nonce="${nonce}"` : '';
  return `<!-- Meta Pixel Code -->\n<script${attr}>\n${baseCodeJs(pixelScriptUrl, extraJs)}\n</script>\n<!-- End Meta Pixel Code -->`;
}

/** A whole HTML document. */
export function html({ head = '', body = '', title = 'test' } = {}) {
  return `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${title}</title>\n${head}\n</head>\n<body>\n${body}\n</body>\n</html>\n`;
}
