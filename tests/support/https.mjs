// HTTPS pages without a certificate: requests to https://<host>/... are answered in the browser
// with what the local test server returns for the same path (fetched over plain HTTP). The page
// runs with an https: origin (secure context, `Secure` cookies), and its beacons to
// https://<host>/tr/ reach the test server and are recorded there like any other.
export async function serveOverHttps(context, server, host) {
  await context.route(
    (url) => url.protocol === 'https:' && url.host === host,
    async (route) => {
      const u = new URL(route.request().url());
      const response = await route.fetch({ url: server.url(u.pathname + u.search) });
      await route.fulfill({ response });
    },
  );
  return `https://${host}`;
}
