"""Recorded X and Mastodon API answers (tests/fixtures), served through `responses`.

Each fixture file is a list of {request: {method, uri}, response: {status, headers, body}} in
the order the real service answered. Tests take a recorded answer as it is, or as the template
of a variation (same shape and headers, changed values), and register it with `responses`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import responses

REPO = Path(__file__).resolve().parent.parent


FIXTURES = REPO / "tests" / "fixtures"  # copied from ../shared/fixtures, with its README


def require_fixtures() -> Path:
    """The recordings' folder (in the repo, so CI always has it)."""
    assert (FIXTURES / "x-api").is_dir(), f"recorded API responses missing from {FIXTURES}"
    return FIXTURES


def load(name: str) -> list[dict[str, Any]]:
    """All interactions of one recording, e.g. load('x-api/get_me.json'); a deep copy."""
    with open(require_fixtures() / name, encoding="utf-8") as f:
        return copy.deepcopy(json.load(f))


def recorded(name: str, method: str, path: str, index: int = 0) -> dict[str, Any]:
    """The index-th recorded response to METHOD on a URI containing path (a deep copy)."""
    hits = [i["response"] for i in load(name)
            if i["request"]["method"] == method and path in i["request"]["uri"]]
    if len(hits) <= index:
        raise LookupError(f"{name}: no {method} {path} #{index}")
    return hits[index]


def add(rsps: responses.RequestsMock, method: str, url: str, response: dict[str, Any], *,
        status: int | None = None, body: Any = None, headers: dict[str, str] | None = None,
        match: tuple[Any, ...] = ()) -> None:
    """Register a recorded response (optionally varied: status, body, extra headers)."""
    all_headers = {k.lower(): v for k, v in response["headers"].items()}
    all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    content_type = all_headers.pop("content-type", "application/json")
    payload = response["body"] if body is None else body
    text = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    rsps.add(method, url, body=text, status=response["status"] if status is None else status,
             headers=all_headers, content_type=content_type.split(";")[0], match=match)


def header(request: Any, name: str) -> str:
    """A request header as text (requests-oauthlib leaves some as bytes); '' when absent."""
    value = request.headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else value


def form_fields(request: Any) -> dict[str, list[str]]:
    """The plain (non-file) fields of a multipart/form-data or urlencoded request body."""
    from email.parser import BytesParser
    from email.policy import HTTP
    from urllib.parse import parse_qs

    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    content_type = header(request, "Content-Type")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qs(body.decode(), keep_blank_values=True)
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is None and name:
            fields.setdefault(name, []).append(part.get_content().strip())
    return fields


def file_parts(request: Any) -> dict[str, tuple[str, str, bytes]]:
    """The file parts of a multipart request: field -> (file name, content type, bytes)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    body = request.body or b""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {header(request, 'Content-Type')}\r\n\r\n".encode() + body)
    out = {}
    for part in message.iter_parts():
        if part.get_filename() is not None:
            name = part.get_param("name", header="content-disposition")
            out[name] = (part.get_filename(), part.get_content_type(),
                         part.get_payload(decode=True))
    return out


# ---------------------------------------------------------------- X, as the tests use it

TWEEPY = "https://api.x.com"  # TwitterSettings.api_base, where tweepy's calls are sent too
ME = recorded("x-api/get_me.json", "GET", "/2/users/me")["body"]["data"]
ME_ID = ME["id"]  # 1072250532645998596, @TweepyDev
TWEET = recorded("x-api/create_and_delete_tweet.json", "POST", "/2/tweets")


def mentions_template() -> dict[str, Any]:
    return recorded("x-api/get_users_mentions.json", "GET", "/mentions")


def v2_upload_answer() -> dict[str, Any]:
    """The v2 upload answer ({data: {id, media_key, ...}}) built from the recorded v1.1 one."""
    v1 = recorded("x-api/mediauploadpng.json", "POST", "/media/upload")
    b = v1["body"]
    data = {"id": b["media_id_string"], "media_key": f"3_{b['media_id_string']}",
            "size": b["size"], "expires_after_secs": b["expires_after_secs"],
            "image": b["image"]}
    return dict(v1, body={"data": data})
