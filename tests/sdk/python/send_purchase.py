"""Runs README.md's Python recipe for tests/sdk/python.test.mjs.

    .venv/bin/python tests/sdk/python/send_purchase.py RECIPE.py < {"order": {...}, "test_event_code": ...}

RECIPE.py is the recipe as README.md has it (the test writes it out); it reads COLLECTOR_URL,
PIXEL_ID and COLLECTOR_KEY from the environment. Prints the SDK's EventResponse as JSON, or
{"error": ...} and exits 1 when the recipe raises.
"""
import importlib.util
import json
import sys

spec = importlib.util.spec_from_file_location('purchase', sys.argv[1])
purchase = importlib.util.module_from_spec(spec)
spec.loader.exec_module(purchase)

args = json.load(sys.stdin)
try:
    response = purchase.send_purchase(args['order'], test_event_code=args.get('test_event_code'))
except Exception as e:  # the test asserts on the message
    json.dump({'error': '%s: %s' % (type(e).__name__, e)}, sys.stdout)
    sys.exit(1)
json.dump({'events_received': response.events_received, 'messages': response.messages,
           'fbtrace_id': response.fbtrace_id}, sys.stdout)
