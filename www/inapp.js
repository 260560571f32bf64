// dist/fbevents.inapp.js: the click ID of Facebook's and Instagram's in-app browsers (issue #13),
// asked the way Meta's own library asks: iOS through the app's browserProperties message handler,
// Android (Facebook 397+, Instagram 264+) with a request to properties://browser/clickID. The
// loader fetches this script only inside those apps, when the URL has no fbclid (src/host.js,
// `inApp`), and calls what it leaves on its own <script> element: no global, no eval.
document.currentScript.e = function () {
  var ios = window.webkit?.messageHandlers?.browserProperties;
  if (ios) return ios.postMessage('clickID');
  if (/Android/.test(navigator.userAgent)) {
    return fetch('properties://browser/clickID').then(function (r) {
      return r.text();
    });
  }
};
