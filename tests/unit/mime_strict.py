#!/usr/bin/env python3
"""Reads a composed email with an independent MIME parser (Python's email package,
policy.strict) and prints what it found as JSON, for notifiers' email tests.

Usage: mime_strict.py FILE    (or "-" for stdin)

Raw checks: only ASCII bytes, CRLF line ends (no bare CR or LF), lines of at most 998 octets
(the longest line, and the longest header line, whose 78 is only a SHOULD, are reported for
the caller to judge). Parse checks: policy.strict raises on any message defect, and
every header's own defects are reported. Prints one JSON object:
  {"problems": [...], "headers": [[name, decoded value], ...], "rfc2047": {name: decoded},
   "from": {...}, "to": {...},
   "subject": ..., "content_type": ..., "parts": [{content_type, params, charset, disposition,
   filename, transfer_encoding, content}], "max_line": n, "max_header_line": n}
and exits 0 when there are no problems, 1 otherwise, 2 on bad usage.
"""
import email
import email.header
import email.policy
import json
import sys


def raw_problems(raw):
    problems = []
    if any(b > 0x7F for b in raw):
        problems.append("non-ASCII byte in the message")
    body_start = raw.find(b"\r\n\r\n")
    if body_start < 0:
        problems.append("no blank line after the header")
    stripped = raw.replace(b"\r\n", b"")
    if b"\r" in stripped or b"\n" in stripped:
        problems.append("bare CR or LF")
    if not raw.endswith(b"\r\n"):
        problems.append("does not end with CRLF")
    lines = raw.split(b"\r\n")
    header_lines = raw[:body_start].split(b"\r\n") if body_start >= 0 else lines
    max_line = max(len(line) for line in lines)
    max_header_line = max(len(line) for line in header_lines)
    if max_line > 998:
        problems.append("a line of %d octets" % max_line)
    return problems, max_line, max_header_line


def mailbox(header):
    if header is None:
        return None
    addresses = getattr(header, "addresses", ())
    if len(addresses) != 1:
        return {"count": len(addresses)}
    a = addresses[0]
    return {"display_name": a.display_name, "addr_spec": a.addr_spec}


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    raw = sys.stdin.buffer.read() if argv[1] == "-" else open(argv[1], "rb").read()
    problems, max_line, max_header_line = raw_problems(raw)
    out = {"problems": problems, "max_line": max_line, "max_header_line": max_header_line}
    try:
        message = email.message_from_bytes(raw, policy=email.policy.strict)
    except Exception as e:  # policy.strict raises the first defect
        problems.append("parse: %s: %s" % (type(e).__name__, e))
        print(json.dumps(out))
        return 1

    headers = []
    for part in message.walk():
        for name, value in part.items():
            for defect in getattr(value, "defects", ()):
                problems.append("%s: %s" % (name, defect))
            if part is message:
                headers.append([name, str(value)])
    out["headers"] = headers
    # The RFC 2047 decoding of each raw (unfolded) top-level header by the legacy decoder, which
    # drops white space between adjacent encoded-words as §6.2 says; the policy's address
    # parser keeps it (so a display name split into several words gains spaces there).
    out["rfc2047"] = {
        name: str(email.header.make_header(email.header.decode_header(value.replace("\r\n", ""))))
        for name, value in message.raw_items()
    }
    out["from"] = mailbox(message["From"])
    out["to"] = mailbox(message["To"])
    out["subject"] = str(message["Subject"]) if message["Subject"] is not None else None
    out["content_type"] = message.get_content_type()
    parts = []
    for part in message.walk():
        if part.is_multipart():
            parts.append({"content_type": part.get_content_type(), "boundary": part.get_boundary()})
            continue
        entry = {
            "content_type": part.get_content_type(),
            "params": {k: v for k, v in part["Content-Type"].params.items()},
            "charset": part.get_content_charset(),
            "disposition": part.get_content_disposition(),
            "filename": part.get_filename(),
            "transfer_encoding": part.get("Content-Transfer-Encoding"),
        }
        try:
            content = part.get_content()
            entry["content"] = content.decode("utf-8") if isinstance(content, bytes) else content
        except Exception as e:
            problems.append("content of %s: %s" % (entry["content_type"], e))
        parts.append(entry)
    out["parts"] = parts
    print(json.dumps(out))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
