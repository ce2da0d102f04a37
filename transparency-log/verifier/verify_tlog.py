#!/usr/bin/env python3
"""Checks supplyline transparency log proofs, independently of the log's own code.

Written from the specifications alone: RFC 9162 section 2.1 (Merkle tree hashes,
inclusion and consistency proof verification), https://c2sp.org/signed-note and
https://c2sp.org/tlog-checkpoint. It needs Python 3.11 and the `cryptography` package.

Usage:

    verify_tlog.py inclusion FILE.json --key VERIFIER_KEY
    verify_tlog.py consistency FILE.json --key VERIFIER_KEY

VERIFIER_KEY is the auditor's own copy of the log's public key, in the text form
`<name>+<8 hex digits key id>+<base64(0x01 || 32-byte Ed25519 public key)>`. Nothing
in FILE.json is trusted: a key it may carry is ignored.

FILE.json, for inclusion:

    {"checkpoint": "<signed note>", "leaf_index": 5, "tree_size": 8,
     "leaf_input": "<base64 of the leaf's bytes>",
     "inclusion_proof": ["<base64 hash>", ...]}

and for consistency:

    {"old_checkpoint": "<signed note>", "new_checkpoint": "<signed note>",
     "consistency_proof": ["<base64 hash>", ...]}

Exit status 0 with one line "ok: ..." on stdout when the proof holds, 1 with the
reason on stderr otherwise.
"""

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# Notes larger than this are refused (C2SP asks verifiers for a limit).
MAX_NOTE_BYTES = 1 << 20
# Ed25519's signature type byte in signed notes.
ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_TREE_SIZE = (1 << 64) - 1
DECIMAL = re.compile(r"(0|[1-9][0-9]*)")


class Refused(Exception):
    """The input does not prove what it claims; the message says why."""


# --- encodings --------------------------------------------------------------


def strict_b64decode(text, what):
    """Standard, padded base64 (RFC 4648 section 4), in its one canonical form."""
    if not isinstance(text, str):
        raise Refused(f"{what} is not a string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Refused(f"{what} is not standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise Refused(f"{what} is not canonical base64")
    return raw


def decode_hash(text, what):
    raw = strict_b64decode(text, what)
    if len(raw) != 32:
        raise Refused(f"{what} is {len(raw)} bytes, not a 32-byte SHA-256 hash")
    return raw


# --- RFC 9162 section 2.1 -----------------------------------------------------


def sha256(data):
    return hashlib.sha256(data).digest()


def hash_leaf(leaf_input):
    """MTH({d(0)}) = HASH(0x00 || d(0))."""
    return sha256(b"\x00" + leaf_input)


def hash_children(left, right):
    """HASH(0x01 || left || right)."""
    return sha256(b"\x01" + left + right)


def verify_inclusion(leaf_index, tree_size, leaf_hash, inclusion_path, root_hash):
    """RFC 9162 section 2.1.3.2, step by step."""
    # 1. leaf_index must be below tree_size.
    if leaf_index >= tree_size:
        raise Refused(f"leaf {leaf_index} is not in a tree of {tree_size} leaves")
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn, sn = leaf_index, tree_size - 1
    # 3. r = hash.
    r = leaf_hash
    # 4. For each value p in the inclusion_path array:
    for p in inclusion_path:
        if sn == 0:
            raise Refused("the inclusion proof is too long for the tree size")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0 and r the root.
    if sn != 0:
        raise Refused("the inclusion proof is too short for the tree size")
    if r != root_hash:
        raise Refused("the inclusion proof leads to another root than the checkpoint's")


def verify_consistency(first, second, first_hash, second_hash, consistency_path):
    """RFC 9162 section 2.1.4.2, for 0 < first < second, plus the trivial cases."""
    if first > second:
        raise Refused(f"the old tree ({first} leaves) is larger than the new ({second})")
    if first == second:
        if consistency_path:
            raise Refused("equal tree sizes need an empty consistency proof")
        if first_hash != second_hash:
            raise Refused("two checkpoints of the same size have different roots")
        return
    if first == 0:
        if consistency_path:
            raise Refused("consistency with the empty tree needs an empty proof")
        return
    # 1. An empty consistency_path fails.
    if not consistency_path:
        raise Refused("the consistency proof is empty")
    path = list(consistency_path)
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, shift both until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value.
    fr = sr = path[0]
    # 6. For each subsequent value c:
    for c in path[1:]:
        if sn == 0:
            raise Refused("the consistency proof is too long for the tree sizes")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    # 7. fr is first_hash, sr is second_hash, sn is 0.
    if sn != 0:
        raise Refused("the consistency proof is too short for the tree sizes")
    if fr != first_hash:
        raise Refused("the consistency proof leads to another root than the old checkpoint's")
    if sr != second_hash:
        raise Refused("the consistency proof leads to another root than the new checkpoint's")


# --- c2sp.org/signed-note -----------------------------------------------------


def valid_key_name(name):
    """Non-empty, and no '+', whitespace or control character."""
    return bool(name) and not any(
        c == "+" or c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name
    )


class VerifierKey:
    """`<name>+<hex8 key id>+<base64(0x01 || public key)>`, the key id checked."""

    def __init__(self, text):
        text = text.strip()
        fields = text.split("+", 2)
        if len(fields) != 3:
            raise Refused("the verifier key is not <name>+<key id>+<base64 key>")
        name, key_id, encoded = fields
        if not valid_key_name(name):
            raise Refused("the verifier key's name is empty or holds '+' or whitespace")
        if not re.fullmatch(r"[0-9a-fA-F]{8}", key_id):
            raise Refused("the verifier key's id is not 8 hexadecimal digits")
        raw = strict_b64decode(encoded, "the verifier key")
        if len(raw) != 33 or raw[0] != ED25519:
            raise Refused("the verifier key is not an Ed25519 key (0x01 and 32 bytes)")
        public_key = raw[1:]
        computed = sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key)[:4]
        if int(key_id, 16) != int.from_bytes(computed, "big"):
            raise Refused("the verifier key's id does not match its name and key")
        try:
            self.key = Ed25519PublicKey.from_public_bytes(public_key)
        except ValueError:
            raise Refused("the verifier key is not a valid Ed25519 public key") from None
        self.name = name
        self.key_id = int.from_bytes(computed, "big")
        self.label = f"{name}+{key_id.lower()}"

    def open(self, note, what):
        """The note's text, once a signature by this key verifies over it."""
        if not isinstance(note, str):
            raise Refused(f"{what} is not a string")
        if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise Refused(f"{what} is larger than {MAX_NOTE_BYTES} bytes")
        if any(ord(c) < 0x20 and c != "\n" for c in note):
            raise Refused(f"{what} holds a control character")
        # The text ends at the last blank line; signature lines follow.
        blank = note.rfind("\n\n")
        if blank < 0:
            raise Refused(f"{what} has no blank line before signatures")
        text, signatures = note[: blank + 1], note[blank + 2 :]
        if not signatures.endswith("\n"):
            raise Refused(f"{what} does not end in signature lines")
        verified = False
        for line in signatures[:-1].split("\n"):
            if not line.startswith(SIGNATURE_PREFIX):
                raise Refused(f"{what} has a line that is not a signature: {line!r}")
            name, space, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
            if not space or not valid_key_name(name):
                raise Refused(f"{what} has a malformed signature line: {line!r}")
            raw = strict_b64decode(encoded, f"a signature of {what}")
            if len(raw) < 5:
                raise Refused(f"{what} has a signature too short to hold a key id")
            key_id, signature = int.from_bytes(raw[:4], "big"), raw[4:]
            if name != self.name or key_id != self.key_id:
                continue  # another signer's: ignored, as C2SP requires.
            try:
                self.key.verify(signature, text.encode("utf-8"))
            except InvalidSignature:
                raise Refused(f"the signature of {what} by {self.label} does not verify") from None
            verified = True
        if not verified:
            raise Refused(f"{what} is not signed by {self.label}")
        return text


# --- c2sp.org/tlog-checkpoint -------------------------------------------------


class Checkpoint:
    """Origin, tree size and root hash, one per line, then extension lines."""

    def __init__(self, text, what):
        if not text.endswith("\n"):
            raise Refused(f"{what} does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise Refused(f"{what} is not origin, tree size and root hash")
        origin, size, root = lines[:3]
        if not origin:
            raise Refused(f"{what} has an empty origin")
        if not DECIMAL.fullmatch(size) or int(size) > MAX_TREE_SIZE:
            raise Refused(f"{what}'s tree size {size!r} is not a decimal number")
        if any(not line for line in lines[3:]):
            raise Refused(f"{what} has an empty extension line")
        self.origin = origin
        self.size = int(size)
        self.root = decode_hash(root, f"{what}'s root hash")


def open_checkpoint(key, note, what):
    return Checkpoint(key.open(note, what), what)


# --- the JSON files -----------------------------------------------------------


def field(document, name, kind):
    if name not in document:
        raise Refused(f"the file has no {name!r}")
    value = document[name]
    # JSON true/false are not numbers, whatever Python thinks.
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise Refused(f"{name!r} is not an integer")
    if not isinstance(value, kind):
        raise Refused(f"{name!r} is not a {kind.__name__}")
    if kind is int and not 0 <= value <= MAX_TREE_SIZE:
        raise Refused(f"{name!r} is not a tree size or index")
    return value


def proof_hashes(document, name):
    return [decode_hash(h, f"{name}[{i}]") for i, h in enumerate(field(document, name, list))]


def check_inclusion(document, key):
    checkpoint = open_checkpoint(key, field(document, "checkpoint", str), "the checkpoint")
    leaf_index = field(document, "leaf_index", int)
    tree_size = field(document, "tree_size", int)
    leaf_input = strict_b64decode(field(document, "leaf_input", str), "leaf_input")
    proof = proof_hashes(document, "inclusion_proof")
    if tree_size != checkpoint.size:
        raise Refused(f"tree_size {tree_size} is not the checkpoint's size {checkpoint.size}")
    verify_inclusion(leaf_index, tree_size, hash_leaf(leaf_input), proof, checkpoint.root)
    return (
        f"leaf {leaf_index} is in {checkpoint.origin} at size {checkpoint.size} "
        f"(root {base64.b64encode(checkpoint.root).decode()})"
    )


def check_consistency(document, key):
    old = open_checkpoint(key, field(document, "old_checkpoint", str), "the old checkpoint")
    new = open_checkpoint(key, field(document, "new_checkpoint", str), "the new checkpoint")
    proof = proof_hashes(document, "consistency_proof")
    if old.origin != new.origin:
        raise Refused(f"the checkpoints are of two logs: {old.origin!r} and {new.origin!r}")
    verify_consistency(old.size, new.size, old.root, new.root, proof)
    return f"{new.origin} at size {new.size} extends size {old.size}"


def reject_duplicate_keys(pairs):
    document = {}
    for name, value in pairs:
        if name in document:
            raise Refused(f"the file has {name!r} twice")
        document[name] = value
    return document


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"refused: {message}", file=sys.stderr)
        sys.exit(1)


def main(argv):
    parser = Parser(description="Check a supplyline transparency log proof.")
    parser.add_argument("kind", choices=["inclusion", "consistency"], help="what the file proves")
    parser.add_argument("file", help="the JSON file the CLI printed")
    parser.add_argument(
        "--key", required=True, help="the log's verifier key: <name>+<key id>+<base64 key>"
    )
    args = parser.parse_args(argv)
    try:
        key = VerifierKey(args.key)
        try:
            with open(args.file, encoding="utf-8") as file:
                document = json.load(file, object_pairs_hook=reject_duplicate_keys)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Refused(f"cannot read {args.file}: {error}") from None
        if not isinstance(document, dict):
            raise Refused("the file is not a JSON object")
        check = check_inclusion if args.kind == "inclusion" else check_consistency
        print(f"ok: {check(document, key)}")
        return 0
    except Refused as refusal:
        print(f"refused: {refusal}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
