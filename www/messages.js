// dist/fbevents.messages.js: the texts of the engine's console messages, fetched by src/host.js
// the first time the engine says anything (a page that never warns never downloads it). The
// table is core's (core/src/console.rs), copied to messages.json and kept equal by a test there;
// the formatting is the same as `console::render`: `$1`, `$2`, … are the arguments, and message
// 0 (a beacon, in debug mode) is followed by one `name: value` line per parameter of its wire
// text, decoded. No eval; the function is left on this script's element for the loader.
import TEXTS from './messages.json';

document.currentScript.e = function (msg, args) {
  var text = String(TEXTS[msg]).replace(/\$(\d)/g, function (_, n) {
    return args[n - 1] || '';
  });
  if (!msg) {
    (args[3] || '').split('&').forEach(function (pair) {
      if (!pair) return;
      var at = pair.indexOf('=');
      var d = function (s) {
        try { return decodeURIComponent(s); } catch (e) { return ''; }
      };
      text += '\n  ' + d(at < 0 ? pair : pair.slice(0, at)) + ': ' + d(at < 0 ? '' : pair.slice(at + 1));
    });
  }
  return text;
};
