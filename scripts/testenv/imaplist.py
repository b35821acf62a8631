#!/usr/bin/env python3
"""Independent listing of everything an IMAP account holds (python3 standard library only).

Prints one line per message, sorted by folder then UID:

    <folder>\t<uidvalidity>\t<uid>\t<size>\t<sha256 of BODY.PEEK[]>\t<flags sorted, space-separated>

<folder> is the UTF-8 name (modified UTF-7 decoded), with the personal namespace prefix
stripped ("INBOX.Sent" -> "Sent"; "INBOX" stays "INBOX") and the server's hierarchy
delimiter replaced by "/". \\Noselect / \\NonExistent folders are skipped. \\Recent is left
out of the flags (it depends on which session saw the message first). <size> is
RFC822.SIZE; a mismatch with the number of BODY[] bytes received is reported as an error.

With --folders it prints one line per selectable folder instead:
    <folder>\t<uidvalidity>\t<message count>
"""
import argparse
import base64
import hashlib
import imaplib
import re
import ssl
import sys

PROG = "imaplist"
BATCH_BYTES = 16 << 20  # bodies fetched per UID FETCH, roughly
BATCH_MAX = 500  # messages per UID FETCH at most


class ListError(Exception):
    pass


def die(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(1)


def mutf7_decode(s):
    """RFC 3501 modified UTF-7 -> str."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "&":
            out.append(c)
            i += 1
            continue
        j = s.find("-", i)
        if j < 0:
            raise ListError("bad modified UTF-7 in mailbox name %r" % s)
        chunk = s[i + 1:j]
        if chunk == "":
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                out.append(base64.b64decode(b64, validate=True).decode("utf-16-be"))
            except Exception as e:
                raise ListError("bad modified UTF-7 in mailbox name %r: %s" % (s, e))
        i = j + 1
    return "".join(out)


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check(typ, data, what):
    if typ != "OK":
        raise ListError("%s failed: %s %r" % (what, typ, data))
    return data


# ---------------------------------------------------------------- response parsing

_TOKEN = re.compile(rb'\s*(\(|\)|"(?:[^"\\]|\\.)*"|NIL|[^\s()"]+)')


def parse_list_line(item):
    """One LIST response item -> (attributes, delimiter or None, raw mailbox name str)."""
    if isinstance(item, tuple):  # name sent as a literal
        head, lit = item
        m = re.match(rb"\((.*?)\)\s+(NIL|\"(?:[^\"\\]|\\.)*\")\s+\{\d+\}$", head.strip())
        if not m:
            raise ListError("cannot parse LIST response %r" % (item,))
        attrs, delim = m.group(1), m.group(2)
        name = lit
    else:
        m = re.match(rb"\((.*?)\)\s+(NIL|\"(?:[^\"\\]|\\.)*\")\s+(.*)$", item.strip())
        if not m:
            raise ListError("cannot parse LIST response %r" % (item,))
        attrs, delim, name = m.group(1), m.group(2), m.group(3)
        if name.startswith(b'"'):
            if not name.endswith(b'"') or len(name) < 2:
                raise ListError("cannot parse mailbox name in %r" % (item,))
            name = re.sub(rb"\\(.)", rb"\1", name[1:-1])
    d = None
    if delim != b"NIL":
        d = re.sub(rb"\\(.)", rb"\1", delim[1:-1]).decode("ascii")
    return ([a.lower() for a in attrs.decode("ascii", "replace").split()], d,
            name.decode("utf-8", "surrogateescape"))


def parse_namespace(data):
    """NAMESPACE response -> (prefix, delimiter) of the first personal namespace."""
    raw = data[0] if data else b""
    if isinstance(raw, tuple):
        raise ListError("NAMESPACE with literals is not supported: %r" % (data,))
    m = re.match(rb'\s*\(\(\s*"((?:[^"\\]|\\.)*)"\s+(NIL|"(?:[^"\\]|\\.)*")', raw)
    if not m:
        if raw.strip().upper().startswith(b"NIL"):
            return "", None
        raise ListError("cannot parse NAMESPACE response %r" % raw)
    prefix = re.sub(rb"\\(.)", rb"\1", m.group(1)).decode("utf-8", "surrogateescape")
    d = None if m.group(2) == b"NIL" else re.sub(rb"\\(.)", rb"\1", m.group(2)[1:-1]).decode("ascii")
    return prefix, d


def parse_fetch_attrs(text):
    """Parse the non-literal parts of one FETCH response into UID, RFC822.SIZE, FLAGS."""
    res = {}
    m = re.search(rb"\bUID\s+(\d+)", text)
    if m:
        res["uid"] = int(m.group(1))
    m = re.search(rb"\bRFC822\.SIZE\s+(\d+)", text)
    if m:
        res["size"] = int(m.group(1))
    m = re.search(rb"\bFLAGS\s+\(([^)]*)\)", text)
    if m:
        res["flags"] = m.group(1).decode("utf-8", "replace").split()
    return res


def iter_fetch(data):
    """imaplib FETCH data -> list of (attrs dict, literal bytes or None)."""
    out = []
    i = 0
    while i < len(data):
        item = data[i]
        if item is None:
            i += 1
            continue
        if isinstance(item, tuple):
            head, lit = item
            text = head
            # the rest of the response (e.g. ' FLAGS (...))' or ')') follows as bytes
            if i + 1 < len(data) and isinstance(data[i + 1], bytes):
                text += b" " + data[i + 1]
                i += 1
            out.append((parse_fetch_attrs(text), lit))
        else:
            if item.strip() != b")":
                out.append((parse_fetch_attrs(item), None))
        i += 1
    return out


def seqset(uids):
    uids = sorted(uids)
    parts = []
    start = prev = uids[0]
    for u in uids[1:]:
        if u == prev + 1:
            prev = u
            continue
        parts.append(str(start) if start == prev else "%d:%d" % (start, prev))
        start = prev = u
    parts.append(str(start) if start == prev else "%d:%d" % (start, prev))
    return ",".join(parts)


# ---------------------------------------------------------------- main logic

def connect(a):
    if a.ssl or a.starttls:
        ctx = ssl.create_default_context(cafile=a.ca) if a.ca else ssl.create_default_context()
        if a.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    if a.ssl:
        c = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx, timeout=a.timeout)
    else:
        c = imaplib.IMAP4(a.host, a.port, timeout=a.timeout)
        if a.starttls:
            check(*c.starttls(ssl_context=ctx), what="STARTTLS")
    check(*c.login(a.user, a.password), what="LOGIN")
    return c


def folder_display(raw, prefix, delim):
    name = raw
    if name.upper() != "INBOX" and prefix and name.startswith(prefix):
        name = name[len(prefix):]
    name = mutf7_decode(name)
    if name.upper() == "INBOX":
        return "INBOX"
    if delim and delim != "/":
        # a literal '/' inside a component is left as is (ambiguous, but rare)
        name = name.replace(delim, "/")
    return name


def list_folder(c, raw, a):
    typ, data = c.select(quote(raw), readonly=True)
    check(typ, data, "EXAMINE %s" % raw)
    typ, uv = c.response("UIDVALIDITY")
    if not uv or uv[0] is None:
        raise ListError("no UIDVALIDITY for %s" % raw)
    uidvalidity = int(uv[0])
    exists = int(data[0]) if data and data[0] else 0
    msgs = []
    if exists:
        typ, data = c.uid("FETCH", "1:*", "(UID RFC822.SIZE FLAGS)")
        check(typ, data, "UID FETCH sizes in %s" % raw)
        meta = {}
        for attrs, _ in iter_fetch(data):
            if "uid" in attrs:
                meta[attrs["uid"]] = attrs
        if len(meta) != exists:
            raise ListError("%s: EXISTS %d but %d messages fetched" % (raw, exists, len(meta)))
        uids = sorted(meta)
        batch = []
        batch_bytes = 0
        batches = []
        for u in uids:
            if batch and (batch_bytes + meta[u].get("size", 0) > BATCH_BYTES or len(batch) >= BATCH_MAX):
                batches.append(batch)
                batch, batch_bytes = [], 0
            batch.append(u)
            batch_bytes += meta[u].get("size", 0)
        if batch:
            batches.append(batch)
        for b in batches:
            if a.folders:
                break
            typ, data = c.uid("FETCH", seqset(b), "(UID RFC822.SIZE FLAGS BODY.PEEK[])")
            check(typ, data, "UID FETCH bodies in %s" % raw)
            got = set()
            for attrs, lit in iter_fetch(data):
                u = attrs.get("uid")
                if u is None or lit is None:
                    continue
                m = meta[u]
                if "flags" in attrs:  # latest flags win
                    m["flags"] = attrs["flags"]
                if len(lit) != m["size"]:
                    raise ListError("%s UID %d: RFC822.SIZE %d but BODY[] has %d bytes"
                                    % (raw, u, m["size"], len(lit)))
                m["sha"] = hashlib.sha256(lit).hexdigest()
                got.add(u)
            missing = set(b) - got
            if missing:
                raise ListError("%s: no body returned for UIDs %s" % (raw, seqset(missing)))
        for u in uids:
            m = meta[u]
            flags = sorted(f for f in m.get("flags", []) if f.lower() != "\\recent")
            msgs.append((u, m["size"], m.get("sha", ""), " ".join(flags)))
    c.close()
    return uidvalidity, msgs


def main():
    ap = argparse.ArgumentParser(description="List every message of an IMAP account (independent reference).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=None)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--ssl", action="store_true", help="implicit TLS")
    ap.add_argument("--starttls", action="store_true", help="STARTTLS on the plaintext port")
    ap.add_argument("--ca", help="CA certificate file for TLS verification")
    ap.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--folders", action="store_true", help="print folders only (name, uidvalidity, count)")
    a = ap.parse_args()
    if a.port is None:
        a.port = 993 if a.ssl else 143
    imaplib._MAXLINE = max(imaplib._MAXLINE, 10 << 20)
    try:
        c = connect(a)
        prefix, delim = "", None
        # imaplib keeps the pre-login capabilities; ask again now that we are logged in.
        typ, data = c.capability()
        check(typ, data, "CAPABILITY")
        caps = set(data[0].decode("ascii", "replace").upper().split()) if data and data[0] else set()
        if "NAMESPACE" in caps:
            prefix, delim = parse_namespace(check(*c.namespace(), what="NAMESPACE"))
        typ, data = c.list('""', "*")
        check(typ, data, "LIST")
        folders = []
        for item in data:
            if item is None:
                continue
            attrs, d, raw = parse_list_line(item)
            if "\\noselect" in attrs or "\\nonexistent" in attrs:
                continue
            disp = folder_display(raw, prefix, d if d is not None else delim)
            folders.append((disp, raw))
        names = [f[0] for f in folders]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ListError("folders collide after prefix stripping: %s" % ", ".join(sorted(dup)))
        lines = []
        for disp, raw in sorted(folders, key=lambda f: f[0].encode("utf-8", "surrogateescape")):
            uidvalidity, msgs = list_folder(c, raw, a)
            if a.folders:
                lines.append("%s\t%d\t%d" % (disp, uidvalidity, len(msgs)))
                continue
            for u, size, sha, flags in msgs:
                lines.append("%s\t%d\t%d\t%d\t%s\t%s" % (disp, uidvalidity, u, size, sha, flags))
        c.logout()
    except ListError as e:
        die(str(e))
    except (imaplib.IMAP4.error, OSError, ssl.SSLError, EOFError) as e:
        die("%s:%d: %s: %s" % (a.host, a.port, type(e).__name__, e))
    out = sys.stdout
    for l in lines:
        out.write(l + "\n")
    out.flush()


if __name__ == "__main__":
    main()
