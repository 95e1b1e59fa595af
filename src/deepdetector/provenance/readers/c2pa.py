"""C2PA manifests (Content Credentials), read and validated offline with ``c2pa-python``.

What is verified here: the claim signature (the manifest was signed by the key of the certificate
it carries and not changed since), the hashes binding the manifest to the file's bytes, and the
certificate's validity period and profile. What is NOT verified: whether the signer is who it
says it is. No trust list is fetched and none is shipped, remote manifests and OCSP are not
fetched (``verify.remote_manifest_fetch`` / ``verify.ocsp_fetch`` off, no network host allowed), so
a manifest signed by anyone's certificate validates as ``valid``, with its signer named; only
``trusted`` (never produced by default) would mean a known signer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from deepdetector.provenance.base import PROVENANCE_READERS, ProvenanceReader
from deepdetector.provenance.source import Source, shorten
from deepdetector.provenance.vocabulary import classify_source_type
from deepdetector.types import Finding

OFFLINE_SETTINGS = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "core": {"allowed_network_hosts": []},
}
"""c2pa settings of every read: nothing is fetched from the network."""

MAX_INGREDIENTS = 10
INSTALL_HINT = "pip install c2pa-python"

# bytes that mark embedded C2PA data: a JUMBF superbox ("jumb") whose description names "c2pa",
# PNG's caBX chunk, and the C2PA UUID box of ISO BMFF (MP4/MOV/HEIF/AVIF)
_C2PA_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def has_c2pa_marker(head: bytes) -> bool:
    """True when the file's first bytes hold something that looks like C2PA data (a cheap test,
    used to warn when the library is missing; the library itself decides)."""
    at = head.find(b"jumb")
    while at != -1:
        if b"c2pa" in head[at : at + 64]:
            return True
        at = head.find(b"jumb", at + 4)
    return b"caBX" in head or _C2PA_UUID in head


def _load_c2pa():
    try:
        import c2pa
    except ImportError:
        return None
    return c2pa


@PROVENANCE_READERS.register("c2pa", description="C2PA manifest (Content Credentials): signature, signer, actions, digitalSourceType")
class C2paReader(ProvenanceReader):
    name = "c2pa"
    kinds = ("image", "video")

    def read(self, src: Source) -> list[Finding]:
        c2pa = _load_c2pa()
        if c2pa is None:
            if has_c2pa_marker(src.head):
                src.c2pa_state = "not_checked"
                src.warn(f"C2PA manifest data found but not checked: install {INSTALL_HINT}")
            return []
        context = c2pa.Context.from_dict(OFFLINE_SETTINGS)
        try:
            with open(src.path, "rb") as fh:
                reader = c2pa.Reader.try_create(None, fh, None, context)
                if reader is None:
                    return []
                with reader:
                    store = json.loads(reader.json())
        except c2pa.C2paError as exc:
            if not has_c2pa_marker(src.head):  # the container itself is damaged or unknown, no C2PA data seen
                src.warn(f"C2PA not checked: the file could not be parsed for it ({shorten(str(exc), 200)})")
                return []
            src.c2pa_state = "unreadable"
            src.warn(f"C2PA manifest present but unreadable (malformed or truncated): {shorten(str(exc), 200)}")
            return [Finding("c2pa", "manifest", "unreadable", "claimed", "the file carries C2PA data that could not be parsed")]
        return list(_findings(store, src))


def _state(store: dict[str, Any]) -> str:
    state = str(store.get("validation_state") or "").lower()
    if state in ("valid", "trusted", "invalid"):
        return state
    # older layouts: no state, a list of failure codes
    failures = [s.get("code", "") for s in store.get("validation_status") or [] if isinstance(s, dict)]
    return "invalid" if any(c and c != "signingCredential.untrusted" for c in failures) else "valid"


def _findings(store: dict[str, Any], src: Source) -> Iterator[Finding]:
    state = _state(store)
    src.c2pa_state = state
    ok = state in ("valid", "trusted")
    trust = "verified" if ok else "claimed"
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) if isinstance(manifests, dict) else None
    failures = [str(s.get("code")) for s in store.get("validation_status") or [] if isinstance(s, dict) and s.get("code")]
    if not ok:
        src.warn(
            "C2PA manifest does not validate (tampered or broken): "
            + (", ".join(f for f in failures if f != "signingCredential.untrusted") or "invalid")
        )
    meaning = {
        "valid": "signature and content hashes check; the signer was not looked up in any trust list (offline)",
        "trusted": "signature and content hashes check, and the signer chains to a configured trust anchor",
        "invalid": "the manifest does not match the file or its signature fails: treat every C2PA claim as unproven",
    }[state]
    yield Finding("c2pa", "validation", state + (f" ({', '.join(failures)})" if failures else ""), trust, meaning)
    if not isinstance(active, dict):
        return
    sig = active.get("signature_info") or {}
    signer = ", ".join(str(sig[k]) for k in ("common_name", "issuer") if sig.get(k)) or "unknown"
    yield Finding(
        "c2pa",
        "signer",
        shorten(signer),
        trust,
        "who signed the manifest, as its certificate says" + ("" if state == "trusted" else " (not checked against a trust list)"),
    )
    if sig.get("time"):
        yield Finding("c2pa", "signed_at", shorten(str(sig["time"])), trust, "signing time from the manifest's time stamp")
    tool = _claim_generator(active)
    if tool:
        yield Finding("c2pa", "claim_generator", shorten(tool), trust, "the software that wrote the manifest")
    seen: set[tuple[str, str]] = set()
    for label, manifest in [(active_label, active)] + [(k, m) for k, m in manifests.items() if k != active_label]:
        if not isinstance(manifest, dict):
            continue
        where = "" if label == active_label else " (in an ingredient's manifest)"
        for action, dst, agent in _actions(manifest):
            key = (action, dst)
            if key in seen:
                continue
            seen.add(key)
            if dst:
                declares, dst_meaning = classify_source_type(dst)
                generator = (agent or _claim_generator(manifest)) if declares == "generated" else None
                yield Finding(
                    "c2pa",
                    "digitalSourceType",
                    shorten(dst),
                    trust,
                    f"{dst_meaning}; action {action or '?'}{where}" + (f" by {agent}" if agent else ""),
                    declares=declares,
                    generator=shorten(generator, 120) if generator else None,
                )
            elif label == active_label and action:
                yield Finding("c2pa", "action", shorten(action + (f" by {agent}" if agent else "")), trust, "an action the manifest records")
    ingredients = active.get("ingredients") or []
    for ing in ingredients[:MAX_INGREDIENTS]:
        if isinstance(ing, dict):
            yield Finding(
                "c2pa",
                "ingredient",
                shorten(f"{ing.get('title') or '?'} ({ing.get('relationship') or '?'})", 160),
                trust,
                "an earlier file this one was made from",
            )
    if len(ingredients) > MAX_INGREDIENTS:
        src.warn(f"C2PA manifest lists {len(ingredients)} ingredients; the first {MAX_INGREDIENTS} are shown")


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict) and info[0].get("name"):
        first = info[0]
        return f"{first['name']} {first.get('version') or ''}".strip()
    value = manifest.get("claim_generator")
    return str(value) if value else None


def _actions(manifest: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(action, digitalSourceType, software agent) of every action assertion, and the IPTC
    assertion's DigitalSourceType."""
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict):
            continue
        label = str(assertion.get("label") or "")
        data = assertion.get("data") or {}
        if not isinstance(data, dict):
            continue
        if label.startswith("c2pa.actions"):
            for act in data.get("actions") or []:
                if not isinstance(act, dict):
                    continue
                agent = act.get("softwareAgent")
                if isinstance(agent, dict):
                    agent = agent.get("name")
                yield str(act.get("action") or ""), str(act.get("digitalSourceType") or ""), (str(agent) if agent else None)
        elif label.startswith("stds.iptc"):
            dst = data.get("Iptc4xmpExt:DigitalSourceType") or data.get("DigitalSourceType")
            if isinstance(dst, str):
                yield "iptc metadata", dst, None
