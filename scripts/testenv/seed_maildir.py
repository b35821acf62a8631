#!/usr/bin/env python3
"""Import a Maildir tree into a user's mailbox on the test Dovecot (used by dovecot.sh seed).

The tree:  TREE/<folder>/{cur,new,tmp}/<file>   folders nested as directories, UTF-8 names,
           '/' hierarchy, TREE/INBOX is the inbox, plus an optional TREE/keywords.tsv with
           lines "<folder>/cur/<file>\t<kw> <kw>...".

How: mailboxes are created with `doveadm mailbox create` (Dovecot picks the on-disk name:
modified UTF-7, fs layout or Maildir++ dots), `doveadm mailbox path` tells where they
live, the message files are copied there byte-for-byte into cur/ with a Dovecot-style name
carrying the flags (":2,<SRFTD><keyword letters>"), a dovecot-keywords file maps keyword
letters, the mtime is kept (Dovecot's Maildir INTERNALDATE is the file's mtime), and
`doveadm force-resync` makes Dovecot index everything. UIDs are assigned in the order of the
source file names (cur/ before new/) within each folder. Afterwards the per-folder message
counts and flag sets are read back with doveadm and compared; any mismatch is fatal.
Must run as root (files are chowned to the mail owner).
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys
import time

PROG = "dovecot.sh seed"
FLAG_LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
SUBDIRS = ("cur", "new", "tmp")
ATOM_SPECIALS = set('(){ %*"\\]')


def die(msg):
    print("%s: error: %s" % (PROG, msg), file=sys.stderr)
    sys.exit(1)


class Doveadm:
    def __init__(self, conf, user):
        self.base = ["doveadm", "-c", conf]
        self.user = user

    def run(self, *args, fmt=None, check=True):
        """args: the command words, then its arguments; -u USER goes after the words."""
        words = 2 if args[0] in ("mailbox", "flags") else 1
        cmd = list(self.base)
        if fmt:
            cmd += ["-f", fmt]
        cmd += list(args[:words]) + ["-u", self.user] + list(args[words:])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if check and p.returncode != 0:
            die("%s failed (exit %d): %s" % (" ".join(cmd[3:]), p.returncode,
                                           p.stderr.decode("utf-8", "replace").strip()))
        return p

    def lines(self, *args, fmt=None):
        out = self.run(*args, fmt=fmt).stdout.decode("utf-8")
        return [l for l in out.split("\n") if l != ""]


def user_settings(conf, user):
    """prefix and separator of the user's inbox namespace (userdb override or config)."""
    p = subprocess.run(["doveadm", "-c", conf, "user", "-u", user],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        die("unknown user %r: %s" % (user, p.stderr.decode("utf-8", "replace").strip()
                                      or p.stdout.decode("utf-8", "replace").strip()))
    fields = {}
    for line in p.stdout.decode("utf-8").split("\n"):
        if ":" in line and line.startswith("  "):
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()

    def conf_value(key):
        q = subprocess.run(["doveconf", "-c", conf, "-h", key], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if q.returncode != 0:
            die("doveconf %s failed" % key)
        return q.stdout.decode("utf-8").rstrip("\n")

    prefix = fields.get("namespace/inbox/prefix")
    if prefix is None:
        prefix = conf_value("namespace/inbox/prefix")
    sep = fields.get("namespace/inbox/separator")
    if sep is None:
        sep = conf_value("namespace/inbox/separator")
    if not sep:
        die("cannot determine the hierarchy separator of %s" % user)
    return prefix, sep


def scan_tree(tree):
    """Returns {folder relpath ('/' joined, UTF-8): [(relfile, abspath, flags letters)]}."""
    folders = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        rel = os.path.relpath(dirpath, tree)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and parts[-1] in SUBDIRS:
            dirnames[:] = []
            continue
        dirnames.sort()
        has_md = any(os.path.isdir(os.path.join(dirpath, s)) for s in SUBDIRS)
        children = [d for d in dirnames if d not in SUBDIRS]
        if not parts:
            if not has_md:
                continue
            name = "INBOX"  # a Maildir root with cur/ is the inbox too
        else:
            name = "/".join(parts)
            if not has_md and children:
                continue  # pure hierarchy level
        msgs = folders.setdefault(name, [])
        for sub in ("cur", "new"):
            d = os.path.join(dirpath, sub)
            if not os.path.isdir(d):
                continue
            for fn in sorted(os.listdir(d)):
                p = os.path.join(d, fn)
                if fn.startswith(".") or not os.path.isfile(p) or os.path.islink(p):
                    continue
                flags = ""
                if sub == "cur" and ":2," in fn:
                    flags = "".join(sorted(set(c for c in fn.rsplit(":2,", 1)[1] if c in FLAG_LETTERS)))
                relfile = "/".join(parts + [sub, fn]) if parts else "/".join([sub, fn])
                msgs.append((relfile, p, flags))
    return folders


def read_keywords(tree):
    path = os.path.join(tree, "keywords.tsv")
    kws = {}
    if not os.path.exists(path):
        return kws
    with open(path, "r", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if "\t" not in line:
                die("keywords.tsv:%d: no tab in %r" % (n, line))
            rel, words = line.split("\t", 1)
            words = [w for w in words.split(" ") if w]
            for w in words:
                if w.startswith("\\") or any(c in ATOM_SPECIALS or ord(c) <= 32 or ord(c) >= 127 for c in w):
                    die("keywords.tsv:%d: %r is not a valid IMAP keyword" % (n, w))
            kws.setdefault(rel, [])
            for w in words:
                if w not in kws[rel]:
                    kws[rel].append(w)
    return kws


def imap_name(folder, prefix, sep):
    if folder == "INBOX":
        return "INBOX"
    parts = folder.split("/")
    for p in parts:
        if sep in p:
            die("folder %r contains the server's separator %r" % (folder, sep))
    return prefix + sep.join(parts)


def read_keyword_file(path):
    m = {}
    if os.path.exists(path):
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if " " in line:
                    i, name = line.split(" ", 1)
                    if i.isdigit():
                        m[name] = int(i)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conf", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--owner", required=True, help="UID:GID that owns the mail files")
    ap.add_argument("--tree", required=True)
    a = ap.parse_args()
    t0 = time.time()
    uid, gid = (int(x) for x in a.owner.split(":"))
    tree = os.path.abspath(a.tree)
    if not os.path.isdir(tree):
        die("%s is not a directory" % tree)
    dv = Doveadm(a.conf, a.user)
    prefix, sep = user_settings(a.conf, a.user)

    folders = scan_tree(tree)
    keywords = read_keywords(tree)
    known = {m[0] for msgs in folders.values() for m in msgs}
    for rel in keywords:
        if rel not in known:
            die("keywords.tsv names %r, which is not a message file in the tree" % rel)
    folders.setdefault("INBOX", [])
    names = {f: imap_name(f, prefix, sep) for f in folders}

    def ensure_dir(d, mode=0o700):
        if not os.path.isdir(d):
            os.makedirs(d, exist_ok=True)
        os.chown(d, uid, gid)
        os.chmod(d, mode)

    def has_maildir(path):
        return all(os.path.isdir(os.path.join(path, s)) for s in SUBDIRS)

    paths = {}
    for f, n in names.items():
        p = dv.lines("mailbox", "path", n)
        if len(p) != 1:
            die("doveadm mailbox path %r gave %r" % (n, p))
        paths[f] = p[0]
    # Create what is not a real mailbox yet (absent, or only an implicit \Noselect parent);
    # parents first so that a selectable parent becomes a real mailbox.
    to_create = sorted((names[f] for f in names if f != "INBOX" and not has_maildir(paths[f])),
                       key=lambda n: n.split(sep))
    for i in range(0, len(to_create), 100):
        dv.run("mailbox", "create", "-s", *to_create[i:i + 100])
    # A fresh account's INBOX exists only after first access; make it on disk.
    inbox = paths["INBOX"]
    for d in (os.path.dirname(inbox), inbox):
        if not os.path.isdir(d):
            ensure_dir(d)
    for s in SUBDIRS:
        if not os.path.isdir(os.path.join(inbox, s)):
            ensure_dir(os.path.join(inbox, s))
    for f, n in names.items():
        if not has_maildir(paths[f]):
            die("mailbox %r: no cur/new/tmp under %s after create" % (n, paths[f]))

    sel = [names[f] for f in sorted(folders)]

    def status_counts():
        counts = {}
        for i in range(0, len(sel), 100):
            for line in dv.lines("mailbox", "status", "messages", *sel[i:i + 100], fmt="tab")[1:]:
                name, _, num = line.rpartition("\t")
                counts[name] = int(num)
        return counts

    before = status_counts()
    for n in sel:
        before.setdefault(n, 0)

    pid = os.getpid()
    stamp = int(time.time())
    expected_flags = {}
    overflow = []  # (folder, basename, keywords not representable as maildir letters)
    total_files = 0
    total_bytes = 0
    for f in sorted(folders):
        dest = paths[f]
        kwfile = os.path.join(dest, "dovecot-keywords")
        kwmap = read_keyword_file(kwfile)
        kwmap_changed = False
        free = [i for i in range(26) if i not in kwmap.values()]
        exp = []
        for i, (rel, src, flags) in enumerate(folders[f]):
            letters = ""
            extra = []
            for kw in keywords.get(rel, []):
                if kw not in kwmap:
                    if free:
                        kwmap[kw] = free.pop(0)
                        kwmap_changed = True
                    else:
                        extra.append(kw)
                        continue
                letters += chr(ord("a") + kwmap[kw])
            st = os.stat(src)
            base = "%d.M%06dP%dQ%d.catchall-seed,S=%d" % (stamp, i, pid, i, st.st_size)
            tmp = os.path.join(dest, "tmp", base)
            shutil.copyfile(src, tmp)
            os.chown(tmp, uid, gid)
            os.chmod(tmp, 0o600)
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.rename(tmp, os.path.join(dest, "cur", base + ":2," + "".join(sorted(flags + letters))))
            if extra:
                overflow.append((f, base, extra))
            exp.append(" ".join(sorted([FLAG_LETTERS[c] for c in flags] + keywords.get(rel, []))))
            total_files += 1
            total_bytes += st.st_size
        if kwmap_changed:
            with open(kwfile + ".seedtmp", "w", encoding="utf-8") as out:
                for kw, idx in sorted(kwmap.items(), key=lambda x: x[1]):
                    out.write("%d %s\n" % (idx, kw))
            os.chown(kwfile + ".seedtmp", uid, gid)
            os.chmod(kwfile + ".seedtmp", 0o600)
            os.rename(kwfile + ".seedtmp", kwfile)
        expected_flags[f] = exp
    t_copy = time.time()

    # One mailbox per call (it takes a single mask; "*" misses prefixed namespaces).
    for n in sel:
        dv.run("force-resync", n)

    if overflow:
        # More than 26 keywords in one folder: apply the rest by UID from dovecot-uidlist.
        for f, base, extra in overflow:
            uidl = os.path.join(paths[f], "dovecot-uidlist")
            uid_found = None
            with open(uidl, "r", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.rstrip("\n").endswith(":" + base):
                        uid_found = line.split(" ", 1)[0]
                        break
            if uid_found is None:
                die("seeded file %s not found in %s" % (base, uidl))
            dv.run("flags", "add", " ".join(extra), "mailbox", names[f], "uid", uid_found)

    # Verify: counts and flag multisets per folder.
    total_before = 0
    for f in sorted(folders):
        n = names[f]
        out = dv.lines("fetch", "uid flags", "mailbox", n, "all", fmt="tab")
        got = []
        for line in out[1:]:
            fl = line.split("\t", 1)[1] if "\t" in line else ""
            got.append(" ".join(sorted(x for x in fl.split(" ") if x and x != "\\Recent")))
        new = len(folders[f])
        if len(got) != before[n] + new:
            die("mailbox %r holds %d messages, expected %d (%d before + %d seeded)"
                % (n, len(got), before[n] + new, before[n], new))
        if before[n] == 0:
            if sorted(got) != sorted(expected_flags[f]):
                c1 = collections.Counter(got)
                c2 = collections.Counter(expected_flags[f])
                die("mailbox %r: flags differ from the tree: server extra %r, missing %r"
                    % (n, dict(c1 - c2), dict(c2 - c1)))
        total_before += before[n]
    after = status_counts()
    missing = [n for n in sel if n not in after]
    if missing:
        die("doveadm mailbox status does not report %s" % ", ".join(missing))
    total_after = sum(after[n] for n in sel)
    if total_after != total_before + total_files:
        die("doveadm mailbox status counts %d messages, expected %d" % (total_after, total_before + total_files))
    if os.environ.get("SEED_VERBOSE"):
        print("seeded %d messages (%d bytes) in %d folders into %s in %.1fs (copy %.1fs)"
              % (total_files, total_bytes, len(folders), a.user, time.time() - t0, t_copy - t0),
              file=sys.stderr)


if __name__ == "__main__":
    main()
