#!/usr/bin/env python3
"""Checks a webhook signature the way a Standard Webhooks receiver does, with Python's own
hmac, hashlib and base64 (an implementation independent of notifiers/webhook_signature.cpp).

Usage: webhook_verify.py SECRET MSG_ID TIMESTAMP BODY_FILE SIGNATURE_HEADER

SECRET is "whsec_" + base64 of the key; the signed content is "MSG_ID.TIMESTAMP.BODY"; the
header holds space-separated "v1,<base64>" entries. Prints the expected "v1,..." and exits 0
when some entry matches, 1 when none does, 2 on bad usage.
"""
import base64
import hashlib
import hmac
import sys


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    secret, msg_id, timestamp, body_file, header = argv[1:]
    if not secret.startswith("whsec_"):
        return 1
    key = base64.b64decode(secret[len("whsec_"):], validate=True)
    with open(body_file, "rb") as f:
        body = f.read()
    content = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    print(expected)
    for entry in header.split(" "):
        if hmac.compare_digest(entry, expected):
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
