"""Prints N signed Stripe events for the stripe load script, one per line: the
`Stripe-Signature` header, a tab, the raw body. Usage: stripe_events.py SECRET N"""
import hashlib
import hmac
import json
import sys
import time

secret, count = sys.argv[1].encode(), int(sys.argv[2])
now = int(time.time())
for n in range(count):
    body = json.dumps(
        {
            "id": f"evt_load_{now}_{n}",
            "object": "event",
            "type": "charge.succeeded" if n % 10 else "charge.failed",
            "created": now,
            "livemode": False,
            "data": {"object": {"id": f"ch_{n}", "amount": 4200, "currency": "usd"}},
        },
        separators=(",", ":"),
    )
    mac = hmac.new(secret, f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    sys.stdout.write(f"t={now},v1={mac}\t{body}\n")
