"""A kit's signed manifest, and the offline check of any kit file against it.

A kit directory holds ``kit.json`` (the kit data as canonical JSON: sorted keys, no whitespace,
UTF-8, so its SHA-256 *is* the data digest), ``kit.pdf``, ``kit.html`` and ``manifest.json``::

    {"format": "obruten-wardkit-manifest/1",
     "body": {"unit", "stamp", "as_of", "generated_at", "patients", "key_id",
              "data_sha256", "files": {"kit.json": {"sha256", "bytes"}, "kit.pdf": {…}, "kit.html": {…}}},
     "key_id": "<16 hex>", "signature": "<base64 Ed25519 over canonical(body)>"}

One Ed25519 signature over the body covers the data digest and every file's digest, so a file is
authentic when its SHA-256 matches the signed body and the signature verifies with a trusted key
(see docs/adr/0020-ward-kit-format.md). The PDF and HTML print the data digest and key id on every
page, so a paper copy can be matched to its manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from obruten.platform.errors import ObrutenError
from obruten.platform.signing import SignatureError, SigningKey, TrustedKeys, canonical, sha256_hex

FORMAT = "obruten-wardkit-manifest/1"
MANIFEST = "manifest.json"
KIT_FILES = ("kit.json", "kit.pdf", "kit.html")

VALID, TAMPERED, UNTRUSTED, UNKNOWN = "valid", "tampered", "untrusted", "unknown"
EXIT_CODES = {VALID: 0, TAMPERED: 1, UNTRUSTED: 2, UNKNOWN: 3}


class ManifestError(ObrutenError, ValueError):
    """A manifest is missing or not a ward-kit manifest."""


def file_entry(path: Path) -> dict[str, object]:
    data = path.read_bytes()
    return {"sha256": sha256_hex(data), "bytes": len(data)}


def sign(body: dict, key: SigningKey) -> dict:
    """The manifest document for ``body`` (which must already name ``key``'s id)."""
    if body.get("key_id") != key.key_id:
        raise ValueError("the manifest body must carry the signing key's id")
    return {"format": FORMAT, "body": body, "key_id": key.key_id, "signature": key.sign(canonical(body))}


def load(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"no manifest at {path}; a kit file is checked against the manifest.json "
                            "that came with it (pass --manifest)") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not JSON: the manifest is damaged; fetch the kit again") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("body"), dict):
        raise ManifestError(f"{path} is not a ward-kit manifest ({FORMAT})")
    return manifest


@dataclass(frozen=True)
class Verdict:
    status: str        # valid | tampered | untrusted | unknown
    message: str       # one sentence, with what to do next when not valid

    @property
    def ok(self) -> bool:
        return self.status == VALID


def check_signature(manifest: dict, trusted: TrustedKeys) -> Verdict:
    """Is the manifest signed by a trusted key, and unaltered since?"""
    kid = str(manifest.get("key_id", ""))
    if manifest["body"].get("key_id") != kid:
        return Verdict(TAMPERED, "the manifest names two different keys: it was altered; do not use this kit")
    if kid not in trusted:
        return Verdict(UNTRUSTED, f"signed by key {kid}, which is not in the trusted keys file; if this kit is "
                                  "genuine, add the builder's key line (`obruten wardkit key`) to the trusted keys")
    try:
        trusted.verify(kid, canonical(manifest["body"]), str(manifest.get("signature", "")))
    except SignatureError:
        return Verdict(TAMPERED, "the manifest's signature does not match its content: it was altered; "
                                 "do not use this kit, fetch it again")
    return Verdict(VALID, f"manifest signed by trusted key {kid}")


def check_file(path: Path, manifest: dict, trusted: TrustedKeys) -> Verdict:
    """Is ``path`` (a kit.json/kit.pdf/kit.html, possibly renamed) the file the signed manifest names?"""
    signature = check_signature(manifest, trusted)
    if not signature.ok:
        return signature
    body = manifest["body"]
    data = path.read_bytes()
    digest = sha256_hex(data)
    for name, entry in body["files"].items():
        if entry["sha256"] == digest:
            return Verdict(VALID, f"{path.name} is the signed {name} of unit {body['unit']}, data as of "
                                  f"{body['as_of']} (key {manifest['key_id']})")
    if path.suffix == ".json":
        try:
            same = sha256_hex(canonical(json.loads(data))) == body["data_sha256"]
        except (ValueError, UnicodeDecodeError):
            same = False
        if same:
            return Verdict(VALID, f"{path.name} holds the signed kit data of unit {body['unit']} (reformatted "
                                  f"JSON, same content; key {manifest['key_id']})")
    expected = {".pdf": "kit.pdf", ".html": "kit.html", ".json": "kit.json"}.get(path.suffix)
    if expected in body["files"]:
        return Verdict(TAMPERED, f"{path.name} does not match the signed {expected} (SHA-256 {digest[:16]}…): "
                                 "it was changed after signing; do not use it, use the ward agent's copy or "
                                 "fetch the kit again")
    return Verdict(UNKNOWN, f"{path.name} is not one of the files this manifest signs")


def check_kit(directory: Path, trusted: TrustedKeys, unit: str | None = None) -> Verdict:
    """The whole kit in ``directory``: signature, every file, and (optionally) that it is ``unit``'s."""
    try:
        manifest = load(directory / MANIFEST)
    except ManifestError as exc:
        return Verdict(UNKNOWN, str(exc))
    signature = check_signature(manifest, trusted)
    if not signature.ok:
        return signature
    body = manifest["body"]
    if unit is not None and body.get("unit") != unit:
        return Verdict(TAMPERED, f"the kit is for unit {body.get('unit')}, not {unit}; check the agent's --unit")
    for name in KIT_FILES:
        entry = body["files"].get(name)
        path = directory / name
        if entry is None or not path.exists():
            return Verdict(TAMPERED, f"{name} is missing from the kit; fetch it again")
        if sha256_hex(path.read_bytes()) != entry["sha256"]:
            return Verdict(TAMPERED, f"{name} does not match its signed digest; the kit was altered or damaged")
    if body["files"]["kit.json"]["sha256"] != body["data_sha256"]:
        return Verdict(TAMPERED, "kit.json is not the signed kit data")
    return Verdict(VALID, f"kit {body['stamp']} of unit {body['unit']} verified (key {manifest['key_id']})")
