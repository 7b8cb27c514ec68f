"""The ``scan`` document as SARIF 2.1.0, the format code-scanning dashboards read.

One result per refused global of each pickle, per use no policy can allow, per
malformed pickle and per unreadable file; each located at the file (an archive member's
name and the byte offsets inside the pickle stream are in the message and the logical
location, since SARIF regions count bytes of the file itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

_RULES: dict[str, tuple[str, str]] = {
    "refused-global": ("error", "The pickle uses a global in a way the policy does not allow."),
    "unallowable-use": ("error", "The pickle calls or changes something no policy can allow."),
    "malformed-pickle": ("error", "The bytes are not a well-formed pickle, or a container around it is broken."),
    "unreadable-file": ("error", "The file could not be read."),
}


def sarif(document: dict[str, Any]) -> dict[str, Any]:
    """A SARIF log of one ``picklefence.scan/1`` document."""
    from . import __version__

    results: list[dict[str, Any]] = []
    for found in document["pickles"]:
        where = _where(found)
        for use in found["globals"]:
            if use["refused"]:
                text = (
                    f"{use['name']} is refused ({', '.join(use['refused'])}) by policy "
                    f"{'+'.join(document['policy'])}; used at bytes {_offsets(use['offsets'])} of {where}."
                )
                if found["allowed_by"]:
                    text += f" The shipped policy {found['allowed_by'][0]!r} allows every refusal of this pickle."
                results.append(_result("refused-global", text, found, use["offsets"][0] if use["offsets"] else None))
        for problem in found["problems"]:
            results.append(_result("unallowable-use", f"{problem} ({where}).", found, found["first_refusal"]))
        if found["verdict"] == "malformed":
            results.append(_result("malformed-pickle", f"{found['error']} ({where}).", found, None))
    for failure in document["errors"]:
        results.append(_result("unreadable-file", failure["error"], {"path": failure["path"]}, None))
    driver = {
        "name": "picklefence",
        "version": __version__,
        "rules": [
            {"id": rule, "shortDescription": {"text": text}, "defaultConfiguration": {"level": level}}
            for rule, (level, text) in _RULES.items()
        ],
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def _result(rule: str, text: str, found: dict[str, Any], offset: int | None) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": _uri(found["path"])}}}
    if offset is not None and found.get("format") == "pickle":
        location["physicalLocation"]["region"] = {"byteOffset": offset, "byteLength": 1}
    if found.get("member"):
        location["logicalLocations"] = [{"name": found["member"], "kind": "member"}]
    return {
        "ruleId": rule,
        "ruleIndex": list(_RULES).index(rule),
        "level": _RULES[rule][0],
        "message": {"text": text},
        "locations": [location],
    }


def _where(found: dict[str, Any]) -> str:
    member = f" member {found['member']}" if found["member"] else ""
    return f"pickle {found['index']} ({found['format']}{member}, from byte {found['start']})"


def _offsets(offsets: list[int]) -> str:
    shown = ", ".join(str(o) for o in offsets[:5])
    return shown + (f" and {len(offsets) - 5} more" if len(offsets) > 5 else "")


def _uri(path: str) -> str:
    """A relative path as a relative URI reference (what dashboards resolve against the
    checkout); an absolute one as a ``file:`` URI."""
    p = Path(path)
    return p.as_uri() if p.is_absolute() else quote(p.as_posix())
